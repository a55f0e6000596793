/** The machine and package versions a run was made with, for the header and the results file. */
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

function packageVersion (name: string): string | null {
  try {
    let dir = path.dirname(require.resolve(name))
    for (let i = 0; i < 5; i++) {
      const file = path.join(dir, 'package.json')
      if (fs.existsSync(file)) {
        const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string, version?: string }
        if (pkg.name === name) return pkg.version ?? null
      }
      dir = path.dirname(dir)
    }
  } catch {
    /* not installed */
  }
  return null
}

export interface MachineInfo {
  cpu_model: string
  cpu_count: number
  total_memory_bytes: number
  free_memory_bytes_at_start: number
  load_average_at_start: number[]
  node: string
  v8: string
  kernel: string
  os: string
  packages: Record<string, string | null>
}

export function machineInfo (): MachineInfo {
  const cpus = os.cpus()
  return {
    cpu_model: cpus[0]?.model ?? 'unknown',
    cpu_count: cpus.length,
    total_memory_bytes: os.totalmem(),
    free_memory_bytes_at_start: os.freemem(),
    load_average_at_start: os.loadavg(),
    node: process.version,
    v8: process.versions.v8,
    kernel: os.release(),
    os: `${os.type()} ${os.arch()}`,
    packages: {
      piscina: packageVersion('piscina'),
      fastify: packageVersion('fastify'),
      autocannon: packageVersion('autocannon'),
    },
  }
}

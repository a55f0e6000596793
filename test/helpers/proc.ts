// Reads a process's descriptor table and memory map from /proc: what the tests assert on.
import fs from 'node:fs'

/** Open descriptors of a process (default: this one). */
export function countFds (pid: number | 'self' = 'self'): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length
}

/** Descriptors that name a memfd, as `[fd, target]` pairs. */
export function memfdDescriptors (pid: number | 'self' = 'self'): Array<[number, string]> {
  const out: Array<[number, string]> = []
  for (const entry of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = fs.readlinkSync(`/proc/${pid}/fd/${entry}`)
      if (target.startsWith('/memfd:')) out.push([Number(entry), target])
    } catch { /* closed while we looked */ }
  }
  return out
}

/** Lines of /proc/PID/maps that map a memfd whose name contains `name`. */
export function memfdMappings (pid: number | 'self', name: string): string[] {
  return fs.readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n').filter((l) => l.includes('/memfd:') && l.includes(name))
}

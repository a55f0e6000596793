/**
 * What /proc says about this process and the ones it started: descendants (the pool's worker
 * processes are the server's children, not the harness's), CPU time, CPU affinity.
 * Linux only, like the rest of the project.
 */
import * as fs from 'node:fs'

/** USER_HZ: the unit of utime/stime in /proc/PID/stat; 100 on every Linux ABI Node supports. */
const CLOCK_TICKS_PER_S = 100

function readOrNull (file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8')
  } catch {
    return null // the process or thread has exited meanwhile
  }
}

/** /proc/PID/stat fields after the command name (which may hold spaces and parentheses). */
function statFields (pid: number): string[] | null {
  const text = readOrNull(`/proc/${pid}/stat`)
  if (text === null) return null
  return text.slice(text.lastIndexOf(')') + 2).split(' ')
}

/** Every live process below `root` (children, their children, …), found by parent pid. */
export function descendants (root: number): number[] {
  const children = new Map<number, number[]>()
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const fields = statFields(Number(entry))
    if (fields === null) continue
    const ppid = Number(fields[1]) // field 4 of stat(5): after state
    const list = children.get(ppid)
    if (list) list.push(Number(entry))
    else children.set(ppid, [Number(entry)])
  }
  const out: number[] = []
  const queue = [root]
  while (queue.length > 0) {
    for (const child of children.get(queue.shift() as number) ?? []) {
      out.push(child)
      queue.push(child)
    }
  }
  return out
}

/** CPU time (user + system, all threads) a process has used so far, in µs; null once it has gone. */
export function cpuTimeUs (pid: number): number | null {
  const fields = statFields(pid)
  if (fields === null) return null
  // utime and stime are fields 14 and 15 of stat(5), 12 and 13 counted from the state field.
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS_PER_S
}

/** The CPUs a process or thread may run on, as /proc writes them ("0", "0-1"); null once it has gone. */
export function allowedCpus (pid: number | 'self', tid?: number): string | null {
  const file = tid === undefined ? `/proc/${pid}/status` : `/proc/${pid}/task/${tid}/status`
  const text = readOrNull(file)
  if (text === null) return null
  return /^Cpus_allowed_list:\s*(\S+)/m.exec(text)?.[1] ?? null
}

/** The thread ids of a process. */
export function threadsOf (pid: number): number[] {
  try {
    return fs.readdirSync(`/proc/${pid}/task`).map(Number)
  } catch {
    return []
  }
}

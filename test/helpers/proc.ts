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

/**
 * Reads `measure` until it equals `expected` or `ms` pass, and returns the last reading. For
 * counts in *another* process, which releases a job's last descriptor just after its answer
 * leaves (a sent output is closed right after the send) — there is no event to wait on there.
 */
export async function settledCount<T> (measure: () => T, expected: T, ms = 2000): Promise<T> {
  const deadline = Date.now() + ms
  let value = measure()
  while (JSON.stringify(value) !== JSON.stringify(expected) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5))
    value = measure()
  }
  return value
}

/** The idle descriptor count of another process: the least of a few readings over ~100 ms, since
 * a just-finished job's last descriptor may still be open for a moment (only ever one more). */
export async function idleFds (pid: number): Promise<number> {
  let least = countFds(pid)
  for (let i = 0; i < 20; i++) {
    await new Promise((resolve) => setTimeout(resolve, 5))
    least = Math.min(least, countFds(pid))
  }
  return least
}

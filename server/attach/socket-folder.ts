// The folder that holds the attach socket. The socket's own mode (0600) is only half of the access
// control: the folder (0700, ours) keeps other users from reaching the path at all, and from
// swapping the socket file for one of their own.
import fs from 'node:fs'
import path from 'node:path'

/** Default place of the attach socket, as docs/attach-protocol.md "Finding the socket" says. */
export function defaultAttachSocketPath (env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): string {
  const runtime = env.XDG_RUNTIME_DIR
  if (runtime !== undefined && runtime !== '') return path.join(runtime, 'memfd-pool', 'attach.sock')
  return path.resolve(cwd, 'run', 'attach.sock')
}

/**
 * Creates `dir` (and missing parents) with `mode`, or checks that the existing one is a real
 * directory (not a symlink) owned by this process's uid, then sets `mode` on it.
 */
export function prepareSocketFolder (dir: string, mode: number): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
  }
  const st = fs.lstatSync(dir)
  if (!st.isDirectory()) {
    throw new Error(`The attach socket's folder ${dir} exists but is not a directory${st.isSymbolicLink() ? ' (a symlink)' : ''}`)
  }
  const uid = process.getuid?.()
  if (uid !== undefined && st.uid !== uid) {
    throw new Error(`The attach socket's folder ${dir} belongs to uid ${st.uid}, not to this server (uid ${uid})`)
  }
  // mkdir's mode went through the umask; chmod sets it exactly (and tightens an existing folder).
  fs.chmodSync(dir, mode)
}

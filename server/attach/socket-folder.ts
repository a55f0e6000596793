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
 * Makes sure `dir` can hold the socket. When it does not exist, it is created (missing parents
 * too) and only then chmod'ed to `mode` exactly: a folder of our own. An existing folder is never
 * changed — it may be a user's or a shared one (a 1777 temp folder was once made 0700 for good,
 * issue 15, item 14) — it is only checked: a real directory (not a symlink), and not one where
 * another user could swap the socket file (writable by group or others without the sticky bit, or
 * owned by another non-root user). Returns a warning to log when the folder lets other users
 * reach the path (the socket's own 0600 mode and the uid check still apply).
 */
export function prepareSocketFolder (dir: string, mode: number): { created: boolean, warning: string | null } {
  let created = false
  try {
    created = fs.mkdirSync(dir, { recursive: true, mode }) !== undefined
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
  }
  const st = fs.lstatSync(dir)
  if (!st.isDirectory()) {
    throw new Error(`The attach socket's folder ${dir} exists but is not a directory${st.isSymbolicLink() ? ' (a symlink)' : ''}`)
  }
  if (created) {
    // mkdir's mode went through the umask; chmod sets it exactly, on the folder we just made.
    fs.chmodSync(dir, mode)
    return { created, warning: null }
  }
  const uid = process.getuid?.()
  if (uid !== undefined && st.uid !== uid && st.uid !== 0) {
    throw new Error(`The attach socket's folder ${dir} belongs to uid ${st.uid}, who could replace the socket; use a folder of this server's user (uid ${uid}) or a new path`)
  }
  const sticky = (st.mode & 0o1000) !== 0
  if ((st.mode & 0o022) !== 0 && !sticky) {
    throw new Error(`The attach socket's folder ${dir} is writable by other users (mode ${(st.mode & 0o7777).toString(8)}) without the sticky bit, so anyone could replace the socket; use another folder or a path in a new one`)
  }
  const warning = (st.mode & 0o007) !== 0
    ? `The attach socket's folder ${dir} is open to other users (mode ${(st.mode & 0o7777).toString(8)}; left as it is): the socket's own mode and the uid check guard it. A folder of its own (a path in a new folder) is safer`
    : null
  return { created, warning }
}

// The seed's question, answered: can one process use a descriptor number another printed?
//
//   node dist/examples/seed/seed.js
//
// The wrong way passes the *number* (here as a command-line argument, as it might be printed
// to a log or put in JSON): in the child that number names nothing, or some other file. The
// right way sends the *descriptor* over a Unix socket (SCM_RIGHTS): the kernel installs a new
// descriptor for the same memory in the child, usually under a different number.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import * as native from '../../native'

const MESSAGE = 'hello from the parent, through shared memory'

function describe (fd: number): string {
  try {
    const target = fs.readlinkSync(`/proc/self/fd/${fd}`)
    const bytes = fs.readFileSync(`/proc/self/fd/${fd}`).subarray(0, MESSAGE.length).toString()
    return `fd ${fd} is ${target}, first bytes ${JSON.stringify(bytes)}`
  } catch (err) {
    return `fd ${fd} fails: ${(err as Error).message}`
  }
}

async function child (mode: string, number: number): Promise<void> {
  if (mode === 'wrong') {
    console.log(`[child ${process.pid}] wrong way: the parent printed ${number}; ${describe(number)}`)
    return
  }
  const channel = new native.Channel(3)
  const [, fds] = await once(channel, 'message') as [Buffer, number[]]
  const [fd] = fds
  const bytes = native.mapShared(fd, { length: native.fileSize(fd) })
  console.log(`[child ${process.pid}] right way: received fd ${fd} (the parent's was ${number}); mapped: ${JSON.stringify(bytes.toString())}`)
  native.close(fd)
  channel.close()
}

async function parent (): Promise<void> {
  const fd = native.memfdCreate('seed-buffer')
  native.ftruncate(fd, MESSAGE.length)
  native.mapShared(fd, { length: MESSAGE.length, writable: true }).write(MESSAGE)
  native.addSeals(fd, ['shrink', 'grow', 'future-write'])
  console.log(`[parent ${process.pid}] created the buffer as fd ${fd}`)

  const wrong = spawn(process.execPath, [__filename, 'wrong', String(fd)], { stdio: 'inherit' })
  await once(wrong, 'exit')

  const [mine, theirs] = native.socketPair()
  const right = spawn(process.execPath, [__filename, 'right', String(fd)], { stdio: ['ignore', 'inherit', 'inherit', theirs] })
  native.close(theirs)
  const channel = new native.Channel(mine)
  const readOnly = native.reopenReadOnly(fd)
  channel.send('take this', [readOnly])
  native.close(readOnly)
  await once(right, 'exit')
  channel.close()
  native.close(fd)
}

const [mode, number] = process.argv.slice(2)
;(mode ? child(mode, Number(number)) : parent()).catch((err) => {
  console.error(err)
  process.exitCode = 1
})

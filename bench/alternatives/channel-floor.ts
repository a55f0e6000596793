/**
 * channel-floor: what the pool's transport alone costs per job — this process and one child
 * ping-ponging over the native Channel (SOCK_SEQPACKET), each message a small JSON text with one
 * descriptor attached (a sealed 4 KiB memfd, as a noop job's one input), the child closing it and
 * echoing the text back. No queue, no job table, no worker threads, no mapping: every pool path
 * in the latency tables costs this plus what the pool adds, so the "÷ channel-floor" column is
 * the pool's own overhead.
 */
import * as fs from 'node:fs'
import * as native from '../../native'
import { fixtureChild } from '../procs'
import type { TaskTarget } from '../targets'

/** The child's end of the socket pair is its descriptor 4 (0–2 stdio, 3 the fork IPC channel). */
const CHILD_CHANNEL_FD = 4

/** A sealed 4 KiB memfd, like the pool's noop input: the descriptor every ping carries. */
function sealedInput (): number {
  const fd = native.memfdCreate('bench-channel-floor')
  try {
    native.ftruncate(fd, 4096)
    fs.writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, 0)
    native.addSeals(fd, ['shrink', 'grow', 'write', 'seal'])
    return fd
  } catch (err) {
    native.close(fd)
    throw err
  }
}

export function createChannelFloor (): TaskTarget {
  const fixture = fixtureChild('channel-echo')
  let channel: native.Channel | null = null
  let input = -1
  let seq = 0
  const pending = new Map<number, { resolve: () => void, reject: (err: Error) => void }>()
  const failAll = (err: Error): void => {
    for (const p of pending.values()) p.reject(err)
    pending.clear()
  }
  return {
    name: 'channel-floor',
    description: 'two processes ping-ponging over the native Channel: a small JSON message with one sealed 4 KiB memfd attached, closed and echoed by the child',
    workers: 1,
    async setup () {
      input = sealedInput()
      const [ours, theirs] = native.socketPair()
      try {
        await fixture.start([String(CHILD_CHANNEL_FD)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc', theirs] })
      } catch (err) {
        native.close(ours)
        throw err
      } finally {
        native.close(theirs) // the child has its own copy now
      }
      channel = new native.Channel(ours)
      channel.on('message', (data) => {
        const { seq: n } = JSON.parse(data.toString('utf8')) as { seq: number }
        const p = pending.get(n)
        pending.delete(n)
        p?.resolve()
      })
      channel.on('error', (err) => failAll(err))
      channel.on('close', () => failAll(new Error('channel-floor: channel closed')))
    },
    runOne () {
      return new Promise<void>((resolve, reject) => {
        if (!channel || channel.closed) {
          reject(new Error('channel-floor: not set up'))
          return
        }
        const n = ++seq
        pending.set(n, { resolve, reject })
        // The shape of the pool's run message (a kind, a job id, the inputs' descriptors), not its size.
        channel.send(JSON.stringify({ t: 'run', seq: n, kind: 'noop', inputs: 1 }), [input])
      })
    },
    async teardown () {
      channel?.close()
      channel = null
      await fixture.stop()
      failAll(new Error('channel-floor: torn down'))
      if (input >= 0) native.close(input)
      input = -1
    },
  }
}

// Closing the app while requests are in flight: a download streaming from a buffer completes
// byte for byte (the pool frees buffers only after the last request has ended), a long poll is
// answered at once, and close() does not wait on idle keep-alive connections.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import http from 'node:http'
import request from 'supertest'
import { MiB, portOf, startApp } from '../helpers/server-app'

const SIZE = 32 * MiB

test('app.close() lets a download finish, answers long polls, and ends keep-alive connections', async (t) => {
  const app = await startApp({ poolOptions: { maxMemoryBytes: 128 * MiB } })
  let closed: Promise<undefined> | null = null
  t.after(async () => { await (closed ?? app.close()) })
  const fill = await request(app.server).post('/v1/jobs?wait=60000').send({ kind: 'fill', params: { size: SIZE, pattern: 'random', seed: 7 } }).expect(200)
  const id = fill.body.outputs[0] as string
  const expected = (await request(app.server).post('/v1/jobs?wait=60000').send({ kind: 'checksum', inputs: [id] }).expect(200)).body.result.digest

  const agent = new http.Agent({ keepAlive: true })
  const get = (path: string): http.ClientRequest => http.get({ host: '127.0.0.1', port: portOf(app), path, agent })

  // A download, paused after its first chunk.
  const download = get(`/v1/buffers/${id}/content`)
  const [res] = await once(download, 'response') as [http.IncomingMessage]
  const hash = createHash('sha256')
  const [first] = await once(res, 'data') as [Buffer]
  res.pause()
  hash.update(first)
  let received = first.length

  // A long poll on a job that would run for a minute.
  const sleeper = await request(app.server).post('/v1/jobs').send({ kind: 'sleep', params: { ms: 60000 } }).expect(202)
  const arrived = once(app.server, 'request')
  const poll = get(`/v1/jobs/${sleeper.body.id}?wait=60000`)
  const polled = once(poll, 'response') as Promise<[http.IncomingMessage]>
  await arrived

  closed = app.close()
  const [pollRes] = await polled
  assert.equal(pollRes.statusCode, 200)
  assert.equal(pollRes.headers.connection, 'close')
  pollRes.resume()

  res.on('data', (chunk: Buffer) => { hash.update(chunk); received += chunk.length })
  res.resume()
  await once(res, 'end')
  assert.equal(received, SIZE)
  assert.equal(hash.digest('hex'), expected)

  await closed
  agent.destroy()
  assert.equal(app.pool.store.count, 0, 'the pool freed its buffers after the download')
})

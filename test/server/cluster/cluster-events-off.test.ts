// Without --cluster the event stream carries nothing of a cluster: the snapshot's `cluster` is
// null, `?topics=cluster` is accepted (a client written for clusters need not know), and a busy
// stream of every topic carries no cluster.node and no job.placed.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { FastifyInstance } from 'fastify'
import supertest from 'supertest'
import { openEvents } from '../../helpers/event-stream'
import { startApp } from '../../helpers/server-app'

let app: FastifyInstance

before(async () => { app = await startApp() })
after(async () => { await app.close() })

test('no cluster in the snapshot and no cluster event on a busy stream of every topic', async (t) => {
  const onlyCluster = await openEvents(app, '?topics=cluster')
  t.after(() => onlyCluster.close())
  assert.equal((await onlyCluster.nextOf('snapshot')).data.cluster, null)
  const events = await openEvents(app)
  t.after(() => events.close())
  assert.equal((await events.nextOf('snapshot')).data.cluster, null)

  const input = (await supertest(app.server).post('/v1/buffers').set('content-type', 'application/octet-stream').send(Buffer.alloc(5000, 7)).expect(201)).body.id
  const job = (await supertest(app.server).post('/v1/jobs').send({ kind: 'checksum', inputs: [input] }).expect(202)).body.id
  await events.nextOf('job.succeeded', job)
  await supertest(app.server).delete(`/v1/buffers/${input as string}`).expect(204)
  await events.nextOf('buffer.deleted', input)
  // A pool.stats after everything above: both streams have been sent whatever those produced.
  await events.nextOf('pool.stats')
  const clustered = events.messages.concat(onlyCluster.messages).filter((m) => m.type.startsWith('cluster.') || m.type === 'job.placed')
  assert.deepEqual(clustered, [])
  assert.deepEqual(onlyCluster.messages.map((m) => m.type), ['snapshot'])
})

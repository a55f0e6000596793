// A piscina thread inside a worker process: runs jobs (job-runner.ts maps a job's input
// descriptors read-only, runs the kind over the bytes in place, returns outputs as sealed memfds).
//
// The descriptor numbers in a task were received by this process's main thread (SCM_RIGHTS).
// They are valid here because threads of one process share one descriptor table — the same
// numbers would be meaningless in any other process. Ownership: the main thread owns the
// inputs (and closes them after the task); this thread owns the outputs it creates until it
// returns them, and closes them itself if the job fails.
import { BroadcastChannel, workerData } from 'node:worker_threads'
import { InputMappings } from './input-mappings'
import { cancelJob, runJob, type JobEnvironment, type ThreadResult, type ThreadTask } from './job-runner'
import { loadKindModules } from './kind-loader'
import { setSortThreads } from './kinds/sort-parallel'
import type { WorkerConfig } from './protocol'

export type { ThreadResult, ThreadTask } from './job-runner'

/** What the worker's main thread gives each of its threads. */
export interface ThreadData {
  config: WorkerConfig
  /** Name of the process-local BroadcastChannel for cancellation, progress and 'forget'. */
  channel: string
}

const data = workerData as ThreadData
setSortThreads(data.config.sortThreads)

// Cancellation and progress travel on a process-local BroadcastChannel shared with the main thread.
const channel = new BroadcastChannel(data.channel)
const env: JobEnvironment = {
  kinds: new Map(),
  mappings: new InputMappings(data.config.mappingCache),
  controllers: new Map(),
  cancelledEarly: new Map(),
  progress: (job, progress) => channel.postMessage({ t: 'progress', job, progress })
}
channel.onmessage = (event) => {
  const message = (event as MessageEvent).data as { t: string, job: string, reason: string, buffers: string[] }
  if (message.t === 'forget') env.mappings.forget(message.buffers)
  if (message.t === 'cancel') cancelJob(env, message.job, message.reason)
}
channel.unref()

// Kinds load asynchronously (ES modules, top-level await): every task waits for them, and the
// main thread's warm-up task fails with the loader's error (naming the file) if they cannot load.
const loaded = loadKindModules({ kindsDir: data.config.kindsDir, kindFiles: data.config.kindFiles }).then(({ kinds }) => { env.kinds = kinds })
loaded.catch(() => { /* reported through the tasks that await it */ })

export default async function runThreadJob (task: ThreadTask): Promise<ThreadResult> {
  try {
    await loaded
  } catch (err) {
    // As a result, not a rejection: piscina would pass the error on without its code.
    return { ok: false, error: { code: (err as { code?: string }).code ?? 'KIND_LOAD_FAILED', message: (err as Error).message } }
  }
  return await runJob(task, env)
}

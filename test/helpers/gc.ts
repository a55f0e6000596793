// Garbage collection on demand without --expose-gc on the command line (node --test starts each
// file in its own process with the runner's flags).
import v8 from 'node:v8'
import vm from 'node:vm'

v8.setFlagsFromString('--expose-gc')
const collect = vm.runInNewContext('gc') as () => void

/** Runs a full collection, then lets finalizers scheduled for the next turn run. */
export async function collectGarbage (): Promise<void> {
  collect()
  await new Promise((resolve) => setImmediate(resolve))
  collect()
  await new Promise((resolve) => setImmediate(resolve))
}

/**
 * The SQLite store on a thread of its own. node:sqlite is synchronous: on the service's thread
 * every statement blocks the event loop (an import share of 2,500 creates held it for
 * 0.2–0.3 s; a spilling export parked thousands of users per batch). Here one worker
 * (worker.ts) owns the connection and runs the calls in the order they are made, while the
 * service's thread goes on with Kafka, HTTP and the other merchants. Each call is still one
 * transaction or one statement, so what a call commits is exactly what it committed inline.
 *
 * The worker does not keep the process alive while no call is waiting for it.
 */
import { Worker } from 'node:worker_threads'
import { AppError } from '../../errors.ts'
import type { Store } from '../types/index.ts'
import { createSqliteStore, withWalks, type SqliteStoreOptions } from './index.ts'
import { fromWire, type Request, type Response } from './wire.ts'

let methodNames: string[] | undefined

/** The store's methods, as the inline store has them (the walks stay on the caller's side). */
function storeMethods(): string[] {
  if (!methodNames) {
    const probe = createSqliteStore({ path: ':memory:' })
    methodNames = Object.entries(probe).filter(([name, value]) => typeof value === 'function' && !name.startsWith('walk')).map(([name]) => name)
    void probe.close()
  }
  return methodNames
}

export function createThreadedSqliteStore(options: SqliteStoreOptions): Store {
  const worker = new Worker(new URL('./worker.ts', import.meta.url), { workerData: options })
  worker.unref()
  const waiting = new Map<number, { resolve: (value: unknown) => void; reject: (err: unknown) => void }>()
  let nextId = 1
  let ended: AppError | undefined

  const settleAll = (err: AppError) => {
    ended ??= err
    for (const { reject } of waiting.values()) reject(err)
    waiting.clear()
  }
  worker.on('message', (response: Response) => {
    const call = waiting.get(response.id)
    if (!call) return
    waiting.delete(response.id)
    if (waiting.size === 0) worker.unref()
    if (response.error) call.reject(fromWire(response.error))
    else call.resolve(response.value)
  })
  worker.on('error', (err) => settleAll(new AppError('store.unavailable', `The SQLite store's thread failed: ${err.message}`, { cause: err })))
  worker.on('exit', (code) => settleAll(new AppError('store.unavailable', code === 0 ? 'State store is closed' : `The SQLite store's thread exited with code ${code}`)))

  function call(method: string, args: unknown[]): Promise<unknown> {
    if (ended) return Promise.reject(ended)
    const id = nextId++
    return new Promise((resolve, reject) => {
      if (waiting.size === 0) worker.ref()
      waiting.set(id, { resolve, reject })
      try {
        worker.postMessage({ id, method, args } satisfies Request)
      } catch (err) {
        // An argument that cannot cross threads (a function, say): the caller's bug.
        waiting.delete(id)
        if (waiting.size === 0) worker.unref()
        reject(err)
      }
    })
  }

  const core: Record<string, unknown> = { backend: 'sqlite' }
  for (const name of storeMethods()) core[name] = (...args: unknown[]) => call(name, args)
  core.close = async () => {
    if (ended) return
    await call('close', []).catch(() => undefined)
    ended = new AppError('store.unavailable', 'State store is closed')
    await worker.terminate()
  }
  return withWalks(core as unknown as Store)
}

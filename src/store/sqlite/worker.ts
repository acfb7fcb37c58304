/**
 * The SQLite store's own thread (thread.ts starts it): it opens the file and answers each
 * `{ id, method, args }` with `{ id, value }` or `{ id, error }`, one message after another.
 * Every method's SQL runs synchronously when it is called, so the calls take effect in the
 * order they were sent, as they do on the caller's thread.
 */
import { parentPort, workerData } from 'node:worker_threads'
import type { Store } from '../types/index.ts'
import { createSqliteStore, type SqliteStoreOptions } from './index.ts'
import { toWire, type Request, type Response } from './wire.ts'

const port = parentPort!
let store: Store | undefined
let opening: unknown
try {
  store = createSqliteStore(workerData as SqliteStoreOptions)
} catch (err) {
  opening = err
}

port.on('message', (request: Request) => {
  const reply = (response: Response) => {
    try {
      port.postMessage(response)
    } catch (err) {
      // A value that cannot cross threads is a bug of the store: say so instead of hanging.
      port.postMessage({ id: response.id, error: toWire(err) })
    }
  }
  if (!store) return reply({ id: request.id, error: toWire(opening) })
  const method = (store as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>)[request.method]
  if (typeof method !== 'function') return reply({ id: request.id, error: toWire(new Error(`The SQLite store has no method ${request.method}`)) })
  method.apply(store, request.args).then((value) => reply({ id: request.id, value }), (err: unknown) => reply({ id: request.id, error: toWire(err) }))
})

/**
 * The state store entry point: picks the backend from the configured URL.
 */
import { resolve } from 'node:path'
import { AppError } from '../errors.ts'
import { createPostgresStore } from './postgres/index.ts'
import { createThreadedSqliteStore } from './sqlite/thread.ts'
import type { Store } from './types/index.ts'

export type * from './types/index.ts'
export { normalizeEmail } from './shared/links.ts'

/**
 * `sqlite:<path>` (relative to the working directory, or `sqlite::memory:`), or a
 * `postgres://` / `postgresql://` URL. `schema` applies to PostgreSQL only.
 */
export function createStore(options: { url: string; schema?: string }): Store {
  const { url } = options
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length)
    if (path === '') throw new AppError('store.unsupported-url', 'The sqlite: state store URL has no file path')
    return createThreadedSqliteStore({ path: path === ':memory:' ? path : resolve(process.cwd(), path) })
  }
  if (/^postgres(ql)?:\/\//i.test(url)) {
    return createPostgresStore(options.schema === undefined ? { url } : { url, schema: options.schema })
  }
  // Only the scheme is echoed: the rest of a URL may hold a password.
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]
  throw new AppError('store.unsupported-url', `Unsupported state store URL${scheme ? ` scheme "${scheme}"` : ''}: expected sqlite:<path>, postgres:// or postgresql://`)
}

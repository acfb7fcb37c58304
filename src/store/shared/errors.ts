/** Error handling both backends share. */
import { AppError } from '../../errors.ts'
import type { Migration } from './migrations.ts'

/**
 * Wrap every method of `impl` so whatever a driver throws leaves the store as an AppError
 * (through `mapError`), without a try/catch in each method. Generators (the walks) are left
 * alone: they are built on wrapped page calls.
 */
export function withErrorMapping<T extends object>(impl: T, mapError: (err: unknown) => unknown): T {
  const wrapped: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(impl)) {
    if (typeof value !== 'function' || value.constructor.name === 'AsyncGeneratorFunction') {
      wrapped[key] = value
      continue
    }
    wrapped[key] = async (...args: unknown[]) => {
      try {
        return await (value as (...a: unknown[]) => unknown).apply(impl, args)
      } catch (err) {
        throw mapError(err)
      }
    }
  }
  return wrapped as T
}

/**
 * Errors raised while migrating become `store.migration-failed`, except when the store
 * itself was unreachable or busy: those are worth a retry and keep their code.
 */
export function migrationError(err: unknown, migration: Migration | undefined): AppError {
  if (err instanceof AppError && (err.code === 'store.unavailable' || err.code === 'store.busy')) return err
  const what = migration ? `migration ${migration.version}-${migration.name}` : 'migration bookkeeping'
  return new AppError('store.migration-failed', `State store ${what} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
}

/** The refusal of a write under a fence that is no longer current. */
export function fencedError(what: string, lease: { name: string; fence: number }): AppError {
  return new AppError('store.fenced', `Refused ${what}: lease ${lease.name} is no longer held with fence ${lease.fence}`)
}

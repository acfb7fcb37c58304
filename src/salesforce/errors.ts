/**
 * Salesforce failures as the service's error codes: one mapping for every caller (describe,
 * queries, collections, streaming), the jsforce error kept as the cause. Which codes a retry
 * can fix is decided by src/errors.ts.
 */
import { AppError } from '../errors.ts'
import { withTimeout } from '../retry.ts'

/** Longest wait for one describe call; jsforce has no deadline of its own. */
export const SALESFORCE_CALL_TIMEOUT_MS = 30_000

/** A jsforce call with a deadline: past it, `salesforce.unavailable`. */
export function withSalesforceDeadline<T>(call: Promise<T>, what: string, ms = SALESFORCE_CALL_TIMEOUT_MS): Promise<T> {
  return withTimeout(call, ms, () => new AppError('salesforce.unavailable', `${what}: Salesforce did not answer within ${ms} ms`))
}

/** jsforce errors → AppError with a code (the cause kept). */
export function toSalesforceError(err: unknown, what: string): AppError {
  if (err instanceof AppError) return err
  const e = err as { name?: string; errorCode?: string; message?: string }
  const code = e.errorCode ?? e.name ?? ''
  const message = e.message ?? String(err)
  if (message.startsWith('Unable to refresh session')) {
    return /refused the refresh token|must connect Salesforce again/.test(message)
      ? new AppError('salesforce.needs-reauth', 'the Salesforce connection needs re-authorisation', { cause: err })
      : new AppError('salesforce.unavailable', `${what}: ${message}`, { cause: err })
  }
  if (code === 'NOT_FOUND' || code === 'INVALID_TYPE') return new AppError('not-found', `${what}: ${message}`, { cause: err })
  // The org's API allocation is spent: retrying soon only spends more; the merchant pauses.
  if (code === 'REQUEST_LIMIT_EXCEEDED') return new AppError('salesforce.limit-exceeded', `${what}: ${message}`, { cause: err })
  if (code === 'UNABLE_TO_LOCK_ROW' || code === 'SERVER_UNAVAILABLE' || /ECONNREFUSED|ECONNRESET|ETIMEDOUT|fetch failed|503/.test(message)) {
    return new AppError('salesforce.unavailable', `${what}: ${message}`, { cause: err })
  }
  return new AppError('salesforce.rejected', `${what}: ${message}`, { cause: err })
}

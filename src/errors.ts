/**
 * The one error type of the service. Every error carries a code from {@link ErrorCodes},
 * whether retrying can help, and the error that caused it. docs/errors.md lists the codes.
 */

/** Every error code, with the HTTP status it maps to and whether a retry can succeed. */
export const ErrorCodes = {
  // request and configuration
  'config.invalid': { status: 500, retriable: false },
  'request.invalid': { status: 400, retriable: false },
  'auth.missing': { status: 401, retriable: false },
  'auth.invalid': { status: 401, retriable: false },
  'auth.forbidden': { status: 403, retriable: false },
  'not-found': { status: 404, retriable: false },
  conflict: { status: 409, retriable: false },
  'rate-limited': { status: 429, retriable: true },
  internal: { status: 500, retriable: false },
  unavailable: { status: 503, retriable: true },
  // The caller gave up (shutdown): not a failure of the peer, and nothing to retry.
  aborted: { status: 503, retriable: false },
  'settings.invalid': { status: 422, retriable: false },
  'import-required': { status: 409, retriable: false },
  // A reconcile or an export backfill of the merchant is queued or running (its runId in the body).
  'reconcile.running': { status: 409, retriable: false },
  // secrets
  'crypto.unknown-key': { status: 500, retriable: false },
  'crypto.invalid-ciphertext': { status: 500, retriable: false },
  // state store
  'store.unavailable': { status: 503, retriable: true },
  'store.busy': { status: 503, retriable: true },
  'store.conflict': { status: 409, retriable: false },
  'store.migration-failed': { status: 500, retriable: false },
  'store.unsupported-url': { status: 500, retriable: false },
  // A write under a lease fence that is no longer current: another instance took over.
  'store.fenced': { status: 409, retriable: false },
  // kafka
  'kafka.unavailable': { status: 503, retriable: true },
  'kafka.produce-failed': { status: 503, retriable: true },
  // The broker refused for good (invalid topic, authorization): retrying cannot help.
  'kafka.rejected': { status: 500, retriable: false },
  // Salesforce
  'salesforce.not-connected': { status: 409, retriable: false },
  'salesforce.needs-reauth': { status: 409, retriable: false },
  'salesforce.unavailable': { status: 503, retriable: true },
  // REQUEST_LIMIT_EXCEEDED: the org's API allocation is spent; the merchant pauses until it refills.
  'salesforce.limit-exceeded': { status: 503, retriable: false },
  'salesforce.rejected': { status: 422, retriable: false },
  'salesforce.oauth-failed': { status: 502, retriable: false },
  // Cohort internal API
  'cohort.unauthorized': { status: 502, retriable: false },
  'cohort.not-found': { status: 404, retriable: false },
  'cohort.rejected': { status: 422, retriable: false },
  'cohort.rate-limited': { status: 503, retriable: true },
  'cohort.unavailable': { status: 503, retriable: true },
  'cohort.invalid-response': { status: 502, retriable: false },
  'cohort.property-conflict': { status: 422, retriable: false },
} as const satisfies Record<string, { status: number; retriable: boolean }>

export type ErrorCode = keyof typeof ErrorCodes

export interface AppErrorOptions {
  cause?: unknown
  /** Overrides the code's default retriable flag (a 5xx that is known to be permanent, say). */
  retriable?: boolean
  /** The request field a validation error is about. */
  field?: string
  /** Overrides the code's HTTP status. */
  status?: number
  /** Seconds the peer asked us to wait before retrying (Retry-After). */
  retryAfterSeconds?: number
  /** More keys of the error body (`runId` of `reconcile.running`). */
  details?: Record<string, string>
}

export class AppError extends Error {
  readonly code: ErrorCode
  readonly retriable: boolean
  readonly status: number
  readonly field: string | undefined
  readonly retryAfterSeconds: number | undefined
  readonly details: Record<string, string> | undefined

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'AppError'
    this.code = code
    this.retriable = options.retriable ?? ErrorCodes[code].retriable
    this.status = options.status ?? ErrorCodes[code].status
    this.field = options.field
    this.retryAfterSeconds = options.retryAfterSeconds
    this.details = options.details
  }
}

/** True when retrying the operation that threw `err` may succeed. Unknown errors are not retried. */
export function isRetriable(err: unknown): boolean {
  if (err instanceof AppError) return err.retriable
  return false
}

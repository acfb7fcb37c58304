/**
 * Salesforce's two error shapes: the top-level array `[{ message, errorCode, fields? }]` with
 * an HTTP status, and the per-record `{ statusCode, message, fields }` of DML results.
 */

/** One per-record error (SaveResult `errors[]`). */
export interface RecordError {
  statusCode: string
  message: string
  fields: string[]
}

/** A top-level REST error: answered as `[{ message, errorCode, fields? }]` with `status`. */
export class SalesforceApiError extends Error {
  readonly status: number
  readonly errorCode: string
  readonly fields: string[] | undefined

  constructor(status: number, errorCode: string, message: string, fields?: string[]) {
    super(message)
    this.name = 'SalesforceApiError'
    this.status = status
    this.errorCode = errorCode
    this.fields = fields
  }

  body(): Record<string, unknown>[] {
    return [{ message: this.message, errorCode: this.errorCode, ...(this.fields ? { fields: this.fields } : {}) }]
  }
}

export const sessionInvalid = () => new SalesforceApiError(401, 'INVALID_SESSION_ID', 'Session expired or invalid')
export const notFound = () => new SalesforceApiError(404, 'NOT_FOUND', 'The requested resource does not exist')

/** `No such column 'X' on sobject of type Contact` (writes). */
export const noSuchColumn = (field: string, objectName: string) =>
  new SalesforceApiError(400, 'INVALID_FIELD', `No such column '${field}' on sobject of type ${objectName}`)

export const ROLLED_BACK: RecordError = {
  statusCode: 'ALL_OR_NONE_OPERATION_ROLLED_BACK',
  message: 'Record rolled back because not all records were valid and the request was using AllOrNone header',
  fields: [],
}

export const recordError = (statusCode: string, message: string, fields: string[] = []): RecordError => ({ statusCode, message, fields })

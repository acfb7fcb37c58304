/** What the SQLite store's thread and its callers exchange (thread.ts, worker.ts). */
import { AppError, type ErrorCode } from '../../errors.ts'

export interface Request {
  id: number
  method: string
  args: unknown[]
}

export type Response = { id: number; value: unknown; error?: undefined } | { id: number; error: WireError }

/** An error as it crosses threads: an AppError keeps its code and options, any other its text. */
export interface WireError {
  name: string
  message: string
  stack?: string
  app?: { code: ErrorCode; retriable: boolean; status: number; field?: string; retryAfterSeconds?: number; details?: Record<string, string> }
  cause?: { name: string; message: string }
}

export function toWire(err: unknown): WireError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) }
  const wire: WireError = { name: err.name, message: err.message, ...(err.stack === undefined ? {} : { stack: err.stack }) }
  if (err.cause instanceof Error) wire.cause = { name: err.cause.name, message: err.cause.message }
  if (err instanceof AppError) {
    wire.app = {
      code: err.code,
      retriable: err.retriable,
      status: err.status,
      ...(err.field === undefined ? {} : { field: err.field }),
      ...(err.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: err.retryAfterSeconds }),
      ...(err.details === undefined ? {} : { details: err.details }),
    }
  }
  return wire
}

export function fromWire(wire: WireError): Error {
  const cause = wire.cause ? Object.assign(new Error(wire.cause.message), { name: wire.cause.name }) : undefined
  const err = wire.app
    ? new AppError(wire.app.code, wire.message, {
      retriable: wire.app.retriable,
      status: wire.app.status,
      ...(cause ? { cause } : {}),
      ...(wire.app.field === undefined ? {} : { field: wire.app.field }),
      ...(wire.app.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: wire.app.retryAfterSeconds }),
      ...(wire.app.details === undefined ? {} : { details: wire.app.details }),
    })
    : Object.assign(new Error(wire.message, cause ? { cause } : undefined), { name: wire.name })
  if (wire.stack !== undefined) err.stack = wire.stack
  return err
}

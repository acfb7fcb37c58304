/**
 * JSON errors of docs/http-api.md: `{ error: { code, message, field? } }`. Never a stack
 * trace, never a secret: unexpected errors answer a generic message and are logged whole.
 */
import type { FastifyError, FastifyInstance } from 'fastify'
import { AppError } from '../errors.ts'
import { scrubSecrets } from '../logger.ts'

export interface ErrorBody {
  error: { code: string; message: string; field?: string; [detail: string]: string | undefined }
}

export function errorBody(code: string, message: string, field?: string, details?: Record<string, string>): ErrorBody {
  return { error: { ...details, code, message, ...(field === undefined ? {} : { field }) } }
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send(errorBody('not-found', `no route ${request.method} ${request.routeOptions.url ?? request.url.split('?')[0]}`))
  })

  app.setErrorHandler((err: FastifyError | AppError, request, reply) => {
    if (err instanceof AppError) {
      if (err.status >= 500) request.log.error({ err }, 'request failed')
      if (err.retryAfterSeconds !== undefined) void reply.header('retry-after', String(err.retryAfterSeconds))
      return reply.code(err.status).send(errorBody(err.code, scrubSecrets(err.message), err.field, err.details))
    }
    if (err.validation) {
      const first = err.validation[0]
      const field = first?.instancePath ? first.instancePath.replace(/^\//, '').replace(/\//g, '.') : undefined
      return reply.code(400).send(errorBody('request.invalid', scrubSecrets(err.message), field))
    }
    const status = err.statusCode ?? 500
    if (status >= 400 && status < 500) {
      // Fastify's own client errors (bad JSON, body too large, unsupported media type).
      const code = status === 404 ? 'not-found' : status === 429 ? 'rate-limited' : 'request.invalid'
      return reply.code(status).send(errorBody(code, scrubSecrets(err.message)))
    }
    request.log.error({ err }, 'unexpected error')
    return reply.code(500).send(errorBody('internal', 'internal error'))
  })
}

/**
 * The one pino logger. Fastify gets it as `loggerInstance`; components take
 * `logger.child({ component, merchantId })`. Secrets are removed twice: by key (pino's
 * redact paths) and, as a safety net, by pattern on every line written (bearer tokens,
 * `token`/`code`/… query parameters, JSON fields named like secrets).
 */
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino'

export type { Logger }

const REDACTED = '[redacted]'

/** Keys whose values are secrets wherever they appear (top level or one level down). */
const SECRET_KEYS = [
  'authorization', 'Authorization', 'cookie', 'password', 'secret', 'token',
  'accessToken', 'access_token', 'refreshToken', 'refresh_token', 'clientSecret', 'client_secret',
  'codeVerifier', 'code_verifier', 'apiToken', 'jwt', 'webhookSecret',
]

const REDACT_PATHS = [
  ...SECRET_KEYS,
  ...SECRET_KEYS.map((k) => `*.${k}`),
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["webhook-signature"]',
  'headers.authorization',
  'res.headers["set-cookie"]',
]

/** Query parameters whose values never reach a log line. */
const SECRET_PARAMS = ['token', 'code', 'code_verifier', 'access_token', 'refresh_token', 'client_secret', 'password']

const PARAM_PATTERN = new RegExp(`((?:^|[?&\\s"'])(?:${SECRET_PARAMS.join('|')})=)[^&#\\s"\\\\]*`, 'g')
// Credentials inside a URL (`postgres://user:password@host`): the user stays, the password goes.
const URL_PASSWORD_PATTERN = /([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s"'\\]*:)[^@/?#\s"'\\]+@/gi
const BEARER_PATTERN = /(Bearer|OAuth)\s+[A-Za-z0-9._~+/=!-]+/g
const JSON_FIELD_PATTERN = new RegExp(`("(?:${SECRET_KEYS.join('|')})"\\s*:\\s*)"(?:[^"\\\\]|\\\\.)*"`, 'g')
// The same inside a JSON string that was itself serialised (an error message quoting a body).
const ESCAPED_JSON_FIELD_PATTERN = new RegExp(String.raw`(\\"(?:${SECRET_KEYS.join('|')})\\"\s*:\s*\\")(?:[^\\]|\\[^"])*`, 'g')

/** Remove secrets from a text by pattern. Used on every log line and on error messages. */
export function scrubSecrets(text: string): string {
  return text
    .replace(URL_PASSWORD_PATTERN, `$1${REDACTED}@`)
    .replace(BEARER_PATTERN, `$1 ${REDACTED}`)
    .replace(PARAM_PATTERN, `$1${REDACTED}`)
    .replace(JSON_FIELD_PATTERN, `$1"${REDACTED}"`)
    .replace(ESCAPED_JSON_FIELD_PATTERN, `$1${REDACTED}`)
}

/** A URL (or path with a query) with its password and secret query parameters replaced. */
export function redactUrl(url: string): string {
  return url.replace(URL_PASSWORD_PATTERN, `$1${REDACTED}@`).replace(PARAM_PATTERN, `$1${REDACTED}`)
}

export interface LoggerSettings {
  level: string
  /** Where lines go; stdout when omitted. Tests pass a sink stream to read lines back. */
  destination?: DestinationStream
  base?: Record<string, unknown>
}

export function createLogger(settings: LoggerSettings): Logger {
  const options: LoggerOptions = {
    level: settings.level,
    base: { service: 'salesforce-bridge', ...settings.base },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: REDACTED },
    serializers: {
      err: pino.stdSerializers.err,
      req: (req: { method?: string; url?: string; id?: unknown; ip?: string }) => ({
        id: req.id,
        method: req.method,
        url: req.url === undefined ? undefined : redactUrl(req.url),
        ip: req.ip,
      }),
      res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
    },
    hooks: {
      streamWrite: scrubSecrets,
    },
  }
  return settings.destination ? pino(options, settings.destination) : pino(options)
}

import Fastify, { type FastifyBaseLogger } from 'fastify'
import t from 'tap'
import { redactUrl, scrubSecrets } from '../src/logger.ts'
import { createLogSink } from './helpers/index.ts'

const ACCESS = '00Dxx0000001gPL!AR8AQJXg5oj8jXSgxJfA0lBog'
const REFRESH = '5Aep861TSESvWeug_xvFHRBTTbf_YrTWgEyjBJo7'

t.test('a token never reaches the log, by key or by pattern', async (t) => {
  const sink = createLogSink()
  const log = sink.logger.child({ component: 'oauth', merchantId: 'm_1' })
  log.info({ accessToken: ACCESS, refresh_token: REFRESH, connection: { accessToken: ACCESS, instanceUrl: 'https://x' } }, 'tokens by key')
  log.info({ headers: { authorization: `Bearer ${ACCESS}` } }, 'header')
  log.warn(`refresh failed for Bearer ${ACCESS} at /callback?code=${REFRESH}&state=abc`)
  log.error({ err: new Error(`token endpoint said {"access_token":"${ACCESS}","refresh_token":"${REFRESH}"}`) }, 'error with a body')
  const text = sink.text()
  t.notOk(text.includes(ACCESS), 'no access token')
  t.notOk(text.includes(REFRESH), 'no refresh token')
  t.match(text, /\[redacted\]/)
  const lines = sink.lines()
  t.equal(lines.length, 4)
  t.equal(lines[0]?.component, 'oauth')
  t.equal(lines[0]?.merchantId, 'm_1')
  t.equal((lines[0]?.connection as Record<string, unknown>).instanceUrl, 'https://x', 'other fields kept')
  t.match(lines[2]?.msg, /state=abc/, 'non-secret parameters kept')
})

t.test('Fastify request logs redact the authorization header and token/code query parameters', async (t) => {
  const sink = createLogSink('info')
  const app = Fastify({ loggerInstance: sink.logger as FastifyBaseLogger })
  app.get('/oauth/salesforce/connect', async (request) => {
    request.log.info({ headers: request.headers }, 'handling')
    return { ok: true }
  })
  const res = await app.inject({ url: `/oauth/salesforce/connect?merchantId=m_1&token=${ACCESS}&code=${REFRESH}`, headers: { authorization: `Bearer ${ACCESS}` } })
  t.equal(res.statusCode, 200)
  await app.close()
  const text = sink.text()
  t.notOk(text.includes(ACCESS))
  t.notOk(text.includes(REFRESH))
  t.match(text, /merchantId=m_1/)
  t.ok(sink.lines().some((l) => (l.req as { url?: string } | undefined)?.url?.includes('token=[redacted]')), 'request line carries the redacted url')
})

t.test('scrubSecrets and redactUrl', async (t) => {
  t.equal(redactUrl('/cb?code=abc&state=s1'), '/cb?code=[redacted]&state=s1')
  t.equal(redactUrl('/x?merchantId=1&token=eyJ.a.b#frag'), '/x?merchantId=1&token=[redacted]#frag')
  t.equal(scrubSecrets('Authorization: Bearer eyJhbGciOi.x.y'), 'Authorization: Bearer [redacted]')
  t.equal(scrubSecrets('{"client_secret":"s\\"x","name":"n"}'), '{"client_secret":"[redacted]","name":"n"}')
  t.equal(scrubSecrets('no secrets here'), 'no secrets here')
})

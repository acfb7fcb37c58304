import Fastify from 'fastify'
import { SignJWT } from 'jose'
import t from 'tap'
import { mintDashboardToken } from '../../sandbox/dashboard/token.ts'
import { Secret } from '../../src/config.ts'
import { registerErrorHandling } from '../../src/http/errors.ts'
import { createDashboardAuth } from '../../src/http/auth.ts'

const SECRET = 'test-dashboard-secret-123'

async function makeApp() {
  const auth = createDashboardAuth(new Secret(SECRET))
  const app = Fastify()
  registerErrorHandling(app)
  app.get('/v1/merchants/:merchantId/salesforce', { onRequest: auth.requireMerchant }, async (request) => request.principal)
  app.get('/ops', { onRequest: auth.requireOps }, async (request) => request.principal)
  return app
}

const get = async (app: Awaited<ReturnType<typeof makeApp>>, url: string, token?: string) => {
  const res = await app.inject({ url, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } })
  return { status: res.statusCode, body: res.json() }
}

t.test('a merchant token opens its own merchant only', async (t) => {
  const app = await makeApp()
  const token = await mintDashboardToken(SECRET, { merchantId: 'm_1', sub: 'user-42' })
  t.same(await get(app, '/v1/merchants/m_1/salesforce', token), { status: 200, body: { kind: 'merchant', merchantId: 'm_1', actor: 'user-42' } })
  t.match(await get(app, '/v1/merchants/m_2/salesforce', token), { status: 403, body: { error: { code: 'auth.forbidden' } } })
  t.match(await get(app, '/ops', token), { status: 403 })
})

t.test('an ops token opens any merchant and the ops routes', async (t) => {
  const app = await makeApp()
  const token = await mintDashboardToken(SECRET, { role: 'ops' })
  t.match(await get(app, '/v1/merchants/m_9/salesforce', token), { status: 200, body: { kind: 'ops', actor: 'ops' } })
  t.match(await get(app, '/ops', token), { status: 200 })
})

t.test('missing, malformed, forged, expired, wrong audience, too long-lived, no claim: 401', async (t) => {
  const app = await makeApp()
  const now = Math.floor(Date.now() / 1000)
  const key = new TextEncoder().encode(SECRET)
  const cases: [string, string | undefined, RegExp][] = [
    ['missing', undefined, /missing/],
    ['not a jwt', 'abc', /invalid/],
    ['forged', await mintDashboardToken('another-secret-xyz', { merchantId: 'm_1' }), /invalid/],
    ['expired', await new SignJWT({ merchantId: 'm_1' }).setProtectedHeader({ alg: 'HS256' }).setAudience('salesforce-bridge').setExpirationTime(now - 120).sign(key), /expired/],
    ['wrong audience', await mintDashboardToken(SECRET, { merchantId: 'm_1' }, { audience: 'other' }), /aud/],
    ['no exp', await new SignJWT({ merchantId: 'm_1' }).setProtectedHeader({ alg: 'HS256' }).setAudience('salesforce-bridge').sign(key), /exp/],
    ['lives an hour', await mintDashboardToken(SECRET, { merchantId: 'm_1' }, { ttlSeconds: 3600 }), /15 minutes/],
    ['no claim', await mintDashboardToken(SECRET, {}), /merchantId/],
    ['alg none', `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ merchantId: 'm_1', aud: 'salesforce-bridge', exp: now + 60 })).toString('base64url')}.`, /invalid/],
  ]
  for (const [name, token, message] of cases) {
    const res = await get(app, '/v1/merchants/m_1/salesforce', token)
    t.equal(res.status, 401, name)
    t.match(res.body.error.message, message, name)
  }
})

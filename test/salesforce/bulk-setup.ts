/**
 * A merchant connected to the Salesforce stand-in the way the service holds it: tokens from
 * the real login flow stored encrypted in an on-disk SQLite store, and the connection factory
 * (single-flight refresh) handing out the jsforce Connection. Plus the stand-in's admin calls
 * the Bulk and read tests need. Everything stops with the test.
 */
import type { Test } from 'tap'
import type { SalesforceSandboxOptions } from '../../sandbox/salesforce/index.ts'
import { createTokenCipher } from '../../src/crypto/index.ts'
import { createMerchantEvents } from '../../src/merchant-events.ts'
import { createSalesforceConnections, tokenContext } from '../../src/salesforce/index.ts'
import { createLogSink, sqliteTestStore, waitFor } from '../helpers/index.ts'
import { connect, startSandbox } from '../sandbox/salesforce/login.ts'

const MERCHANT = 'm_bulk'

export async function salesforceSetup(t: Test, options: SalesforceSandboxOptions = {}) {
  const sandbox = await startSandbox(t, options)
  const { config, store } = await sqliteTestStore(t, { SALESFORCE_LOGIN_URL: sandbox.url })
  const cipher = createTokenCipher(config.tokenEncryptionKeys)
  const logs = createLogSink('info')
  const connections = createSalesforceConnections({ config, store, cipher, logger: logs.logger, events: createMerchantEvents(logs.logger) })
  const tokens = await connect(sandbox.url)
  const now = new Date()
  await store.saveConnection({
    merchantId: MERCHANT, state: 'connected', environment: 'production', orgId: '00D5g00000Org01', userId: '005x', username: 'integration@example.com',
    instanceUrl: tokens.instance_url, accessTokenEnc: cipher.encrypt(tokens.access_token, tokenContext(MERCHANT, 'access')),
    refreshTokenEnc: cipher.encrypt(tokens.refresh_token!, tokenContext(MERCHANT, 'refresh')), tokenKeyId: cipher.currentKeyId, connectedAt: now, updatedAt: now,
  })

  async function admin(method: string, path: string, body?: unknown): Promise<any> {
    const res = await fetch(`${sandbox.url}/__sandbox${path}`, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined })
    const text = await res.text()
    if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${text}`)
    return text ? JSON.parse(text) : undefined
  }
  const accessToken = async () => cipher.decrypt((await store.getConnection(MERCHANT))!.accessTokenEnc!, tokenContext(MERCHANT, 'access'))

  return {
    sandbox,
    store,
    merchantId: MERCHANT,
    conn: () => connections.get(MERCHANT),
    admin,
    accessToken,
    /** API calls the stand-in counted: total and by `METHOD /path`. */
    stats: async (): Promise<{ total: number; byEndpoint: Record<string, number> }> => (await admin('GET', '/stats')).apiCalls,
    /** The org's Bulk query jobs (one more API call, not counted by the code under test). */
    jobs: async (): Promise<Array<{ id: string; state: string }>> => {
      const res = await fetch(`${sandbox.url}/services/data/v${config.salesforce.apiVersion}/jobs/query`, { headers: { authorization: `Bearer ${await accessToken()}` } })
      return ((await res.json()) as { records: Array<{ id: string; state: string }> }).records
    },
    waitFor: (predicate: () => Promise<boolean>, what: string) => waitFor(predicate, 10_000, what),
  }
}

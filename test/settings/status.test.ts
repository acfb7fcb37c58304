/**
 * The status's `apiBudget` (contracts §8): with this instance's live counter it shows calls
 * and Salesforce's `Sforce-Limit-Info` at once, before the counter's flush to the store; with
 * the store alone (the CLI) it shows what has been flushed, by every instance.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { createServices } from '../../src/services.ts'
import { buildStatus } from '../../src/settings/status.ts'
import { createLogSink, randomName, testConfig } from '../helpers/index.ts'

t.test('apiBudget: live from this instance, from the store without it; same shape', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bridge-status-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  // Not started: the budget's flush timer never runs, so what is not flushed stays so.
  const services = createServices(testConfig({ DATABASE_URL: `sqlite:${join(dir, 'bridge.db')}`, SALESFORCE_API_BUDGET_PERCENT: '40' }), { logger: createLogSink('silent').logger })
  await services.store.migrate()
  t.teardown(() => services.stop())
  const merchantId = randomName('m')
  const orgId = '00D5g00000OrgSt'
  const now = new Date()
  await services.store.saveConnection({
    merchantId, state: 'connected', environment: 'production', orgId, userId: '005x', username: 'integration@example.com',
    instanceUrl: 'https://example.my.salesforce.com', accessTokenEnc: null, refreshTokenEnc: null, tokenKeyId: null, connectedAt: now, updatedAt: now,
  })
  for (let i = 0; i < 3; i++) services.budget.count(orgId)
  services.budget.observe(orgId, 'api-usage=900/15000')

  const live = await buildStatus(services, merchantId)
  t.same(live.health.apiBudget, { used: 3, limit: 6000, orgUsed: 900, orgMax: 15000 }, 'the calls not flushed yet count')
  const stored = await buildStatus({ store: services.store, settings: services.settings, config: services.config }, merchantId)
  t.same(stored.health.apiBudget, { used: 0, limit: null, orgUsed: null, orgMax: null }, 'the store has nothing yet')

  await services.budget.flush()
  services.budget.count(orgId)
  t.same((await buildStatus({ store: services.store, settings: services.settings, config: services.config }, merchantId)).health.apiBudget, { used: 3, limit: 6000, orgUsed: 900, orgMax: 15000 }, 'the store: what was flushed')
  t.same((await buildStatus(services, merchantId)).health.apiBudget, { used: 4, limit: 6000, orgUsed: 900, orgMax: 15000 }, 'live: flushed and not, each once')
})

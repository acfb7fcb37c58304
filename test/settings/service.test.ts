/**
 * The settings service on the real stores: typed reads (parsed, defaults when never saved),
 * saves that announce what they changed, and saves made by another instance noticed through
 * the store's change feed — on PostgreSQL by a second, independent set of services.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { SettingsChanged } from '../../src/merchant-events.ts'
import { createServices, type Services } from '../../src/services.ts'
import { createLogSink, dropSchema, postgresUrl, randomName, testConfig, waitFor } from '../helpers/index.ts'
import { startProcessStack } from '../helpers/process-stack.ts'

const IMPORT = { enabled: true, object: 'Contact', emailField: 'Email', mode: 'all' as const, fields: [{ field: 'Title', property: 'title', type: 'text' as const }] }

function recordChanges(services: Services): { merchantId: string; detail: SettingsChanged }[] {
  const seen: { merchantId: string; detail: SettingsChanged }[] = []
  services.events.on('settings-changed', (merchantId, detail) => void seen.push({ merchantId, detail }))
  return seen
}

async function sqliteServices(t: Test, env: Record<string, string> = {}): Promise<Services> {
  const dir = mkdtempSync(join(tmpdir(), 'bridge-settings-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const services = createServices(testConfig({ DATABASE_URL: `sqlite:${join(dir, 'bridge.db')}`, ...env }), { logger: createLogSink('silent').logger })
  await services.store.migrate()
  t.teardown(() => services.stop())
  return services
}

t.test('reads are typed with defaults; a save announces exactly what it changed', async (t) => {
  const services = await sqliteServices(t)
  const { settings } = services
  const seen = recordChanges(services)
  const merchantId = randomName('m')

  const fresh = await settings.get(merchantId)
  t.equal(fresh.version, 0)
  t.same(fresh.import, { enabled: false, mode: 'all', fields: [] }, 'defaults filled by the parser')
  t.same(fresh.export, { enabled: false, mode: 'existing', mappings: [], createDefaults: {} })

  const first = await settings.save(merchantId, { import: IMPORT, export: { enabled: false } }, { expectedVersion: 0 })
  t.equal(first.settings.version, 1)
  t.same(first.changes, ['import.enabled', 'import.object', 'import.emailField', 'import.fields'])
  t.same(seen, [{ merchantId, detail: { version: 1, changes: first.changes, origin: 'local' } }])

  const second = await settings.save(merchantId, { import: { ...IMPORT, mode: 'existing' }, export: { enabled: true, cohortUserIdField: 'Cohort_User_Id__c', mappings: [{ property: 'points', field: 'Points__c' }] } }, { expectedVersion: 1 })
  t.same(second.changes, ['import.mode', 'export.enabled', 'export.mappings', 'export.cohortUserIdField'])
  t.equal(seen.length, 2)

  const same = await settings.save(merchantId, { import: { ...IMPORT, mode: 'existing' }, export: second.settings.export }, { expectedVersion: 2 })
  t.same(same.changes, [], 'a save that changes nothing')
  t.same(seen[2], { merchantId, detail: { version: 3, changes: [], origin: 'local' } }, 'is announced with no changes (engines retry what failed)')

  await t.rejects(settings.save(merchantId, { import: IMPORT, export: { enabled: false } }, { expectedVersion: 1 }), { code: 'store.conflict' }, 'a stale version is refused')
  t.equal((await settings.get(merchantId)).import.mode, 'existing')
})

t.test('stored settings that no longer parse are a clear error, not a cast', async (t) => {
  const services = await sqliteServices(t)
  const merchantId = randomName('m')
  await services.store.saveSettings(merchantId, { import: { enabled: 'yes' }, export: { enabled: false } })
  await t.rejects(services.settings.get(merchantId), { code: 'settings.invalid', field: 'import' })
})

t.test('a save on one instance is noticed by another within 10 s (PostgreSQL)', async (t) => {
  const schema = randomName('settings').replace(/-/g, '_')
  t.teardown(() => dropSchema(schema))
  const make = () => {
    const services = createServices(testConfig({ DATABASE_URL: postgresUrl, SETTINGS_POLL_MS: '500' }), { logger: createLogSink('silent').logger, schema })
    t.teardown(() => services.stop())
    return services
  }
  const a = make()
  const b = make()
  await a.store.migrate()
  const merchantId = randomName('m')
  // b has looked at the merchant before (as an engine running it would), so it knows what changed.
  await a.settings.save(merchantId, { import: IMPORT, export: { enabled: false } }, { expectedVersion: 0 })
  await b.settings.get(merchantId)
  await Promise.all([a.settings.start(), b.settings.start()])
  const seenByA = recordChanges(a)
  const seenByB = recordChanges(b)

  const saved = Date.now()
  await a.settings.save(merchantId, { import: { ...IMPORT, object: 'Lead' }, export: { enabled: false } }, { expectedVersion: 1 })
  await waitFor(() => seenByB.length > 0, 10_000, 'the other instance to notice the save')
  const latency = Date.now() - saved
  t.ok(latency < 10_000, `noticed after ${latency} ms`)
  t.same(seenByB, [{ merchantId, detail: { version: 2, changes: ['import.object'], origin: 'remote' } }])
  t.same(seenByA.map((s) => s.detail.origin), ['local'], 'the saving instance announces it once, locally')
  t.same((await b.settings.get(merchantId)).import.object, 'Lead')

  // A merchant b never looked at: every kind is announced, so its engines start from scratch.
  const other = randomName('m')
  await a.settings.save(other, { import: IMPORT, export: { enabled: false } }, { expectedVersion: 0 })
  await waitFor(() => seenByB.some((s) => s.merchantId === other), 10_000, 'the second merchant')
  t.ok(seenByB.find((s) => s.merchantId === other)!.detail.changes.includes('import.enabled'))
  await a.settings.poll()
  t.equal(seenByA.length, 2, 'a never hears its own saves back from the feed')
})

t.test('a save through one instance is noticed by a separate service process within 10 s (PostgreSQL)', async (t) => {
  const stack = await startProcessStack(t, { backend: 'postgres' })
  // This test process is the other instance: its own services on the same database.
  const here = createServices(testConfig({ DATABASE_URL: stack.databaseUrl }), { logger: createLogSink('silent').logger })
  t.teardown(() => here.stop())
  const merchantId = randomName('m')
  const from = stack.logs.lines().length
  const saved = Date.now()
  await here.settings.save(merchantId, { import: IMPORT, export: { enabled: false } }, { expectedVersion: 0 })
  const line = await stack.logs.waitFor((l) => l.msg === 'settings changed on another instance' && l.merchantId === merchantId, { timeoutMs: 10_000, from })
  t.ok(Date.now() - saved < 10_000, `the service process logged it after ${Date.now() - saved} ms`)
  t.equal(line.version, 1)
  t.ok((line.changes as string[]).includes('import.object'))
})

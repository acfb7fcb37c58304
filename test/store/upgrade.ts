/**
 * Migrations 002 and 003 on a store that has data from 001: what each backend's test seeds
 * (through its own SQL, with the rows below) and then checks after migrate().
 *
 * Seeded in merchant `m-up`: links r1→u1 (older) and r2→u1 (newer) — a user linked twice,
 * which 002 no longer allows — and r3→u2 with email ' Ada@Example.COM '; settings of two
 * merchants; one open error; an expired lease `up-lease` (owner a); a running reconcile run.
 */
import type { Test } from 'tap'
import type { Store } from '../../src/store/index.ts'
import { loadMigrations } from '../../src/store/shared/migrations.ts'

export async function checkUpgrade(t: Test, store: Store): Promise<void> {
  const result = await store.migrate()
  const versions = (await loadMigrations(store.backend)).map((m) => m.version)
  t.same(result, { applied: versions.filter((v) => v > 1), current: versions.at(-1) }, 'every migration after 001 is applied')
  t.same((await store.findLinksByUsers('m-up', ['u1'])).map((l) => l.recordId), ['r2'], 'of a user\'s two links the newest stays')
  t.equal(await store.findLinkByRecord('m-up', 'r1'), null)
  t.same((await store.findLinksByEmails('m-up', ['ada@example.com'])).map((l) => l.recordId), ['r3'], 'stored emails are normalized')
  const seqs = [(await store.getSettings('m-up'))!.changeSeq, (await store.getSettings('m-up2'))!.changeSeq].sort()
  t.equal(new Set(seqs).size, 2, 'existing settings get distinct change numbers')
  t.equal(await store.latestSettingsChangeSeq(), seqs[1])
  t.ok((await store.saveSettings('m-up', { import: {}, export: {} })).changeSeq > seqs[1]!, 'new saves number on from there')
  t.equal(await store.countErrors('m-up'), 1, 'old errors are open')
  const grant = await store.acquireLease('up-lease', 'b', 60_000)
  t.ok(grant && grant.fence >= 1, 'an old lease row takes fences')
  t.match(await store.getSyncHealth('m-up'), { cdc: 'stopped', cdcSince: null, lastImportAt: null }, 'no sync health before any report (003)')
  t.equal(await store.setCdcHealth('m-up', { state: 'streaming', error: null }, { lease: { name: 'up-lease', fence: grant!.fence } }), true, 'a fenced CDC report on an old lease row')
  await store.commitImportBatch({ merchantId: 'm-up', importedAt: new Date(1_700_000_000_000), links: [{ sobject: 'Contact', recordId: 'r4', userId: 'u4', email: null }] })
  t.match(await store.getSyncHealth('m-up'), { cdc: 'streaming', lastImportAt: new Date(1_700_000_000_000) })
  const run = await store.claimJobRun('m-up', 'reconcile', { dryRun: false, owner: 'x', ttlMs: 60_000 })
  t.equal(run.claimed, false, 'a run live before the upgrade is not taken over at once (its heartbeat is its last update)')
}

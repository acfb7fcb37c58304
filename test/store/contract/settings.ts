/** Contract: versioned settings and the settings change feed. */
import type { Test } from 'tap'
import { uid, type ContractContext } from './helpers.ts'

export async function settingsContract(t: Test, { store, open }: ContractContext): Promise<void> {
  await t.test('settings are versioned', async (t) => {
    const merchantId = uid('m')
    t.equal(await store.getSettings(merchantId), null)

    const v1 = await store.saveSettings(merchantId, { import: { fields: ['Email'] }, export: { enabled: true } })
    t.match(v1, { merchantId, version: 1, import: { fields: ['Email'] }, export: { enabled: true } })
    t.same(await store.getSettings(merchantId), v1)

    const v2 = await store.saveSettings(merchantId, { import: { fields: ['Email', 'Phone'] }, export: {} }, 1)
    t.equal(v2.version, 2)
    t.same(v2.import, { fields: ['Email', 'Phone'] })

    await t.rejects(store.saveSettings(merchantId, { import: { stale: true }, export: {} }, 1), { code: 'store.conflict' })
    t.same(await store.getSettings(merchantId), v2, 'a refused save changes nothing')

    const v3 = await store.saveSettings(merchantId, { import: {}, export: { last: 'wins' } })
    t.equal(v3.version, 3, 'without expectedVersion the save always applies')

    const first = uid('m')
    t.equal((await store.saveSettings(first, { import: {}, export: {} }, 0)).version, 1, 'version 0 creates')
    await t.rejects(store.saveSettings(first, { import: {}, export: {} }, 0), { code: 'store.conflict' }, 'version 0 when settings exist')
    const missing = uid('m')
    await t.rejects(store.saveSettings(missing, { import: {}, export: {} }, 3), { code: 'store.conflict' })
    t.equal(await store.getSettings(missing), null)
  })

  await t.test('settings change feed: every save takes a higher changeSeq, in order', async (t) => {
    const start = await store.latestSettingsChangeSeq()
    const a = uid('m')
    const b = uid('m')
    const a1 = await store.saveSettings(a, { import: {}, export: {} })
    t.ok(a1.changeSeq > start, 'above the latest before')
    const b1 = await store.saveSettings(b, { import: {}, export: {} }, 0)
    t.ok(b1.changeSeq > a1.changeSeq)
    const a2 = await store.saveSettings(a, { import: { x: 1 }, export: {} }, 1)
    t.ok(a2.changeSeq > b1.changeSeq)
    t.equal((await store.getSettings(a))?.changeSeq, a2.changeSeq, 'getSettings carries it')
    t.equal(await store.latestSettingsChangeSeq(), a2.changeSeq)

    t.same(await store.listSettingsChanges(start), [
      { merchantId: b, version: 1, changeSeq: b1.changeSeq },
      { merchantId: a, version: 2, changeSeq: a2.changeSeq },
    ], 'ordered by changeSeq, each merchant once with its latest save')
    t.same(await store.listSettingsChanges(b1.changeSeq), [{ merchantId: a, version: 2, changeSeq: a2.changeSeq }], 'after a seq')
    t.same((await store.listSettingsChanges(start, 1)).map((c) => c.merchantId), [b], 'limit')
    t.same(await store.listSettingsChanges(a2.changeSeq), [], 'nothing newer')

    await t.rejects(store.saveSettings(a, { import: {}, export: {} }, 1), { code: 'store.conflict' })
    t.equal(await store.latestSettingsChangeSeq(), a2.changeSeq, 'a refused save is not in the feed')
  })

  await t.test('settings change feed: concurrent saves from two instances get distinct numbers', async (t) => {
    const other = await open(t)
    const start = await store.latestSettingsChangeSeq()
    const merchants = Array.from({ length: 12 }, () => uid('m'))
    const saved = await Promise.all(merchants.map((m, i) => (i % 2 ? other : store).saveSettings(m, { import: { i }, export: {} })))
    t.equal(new Set(saved.map((s) => s.changeSeq)).size, merchants.length, 'no number twice')
    const feed = await store.listSettingsChanges(start)
    t.same(feed.map((c) => c.merchantId).sort(), [...merchants].sort(), 'every save is in the feed')
    t.same(feed.map((c) => c.changeSeq), [...feed.map((c) => c.changeSeq)].sort((x, y) => x - y), 'in order')
  })
}

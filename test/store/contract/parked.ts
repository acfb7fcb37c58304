/** Contract: parked export changes (coalescing, peek/ack) and the export pause. */
import type { Test } from 'tap'
import { uid, type ContractContext } from './helpers.ts'

export async function parkedContract(t: Test, { store, open }: ContractContext): Promise<void> {
  await t.test('parked changes coalesce per key, the higher version winning per property', async (t) => {
    const merchantId = uid('m')
    t.equal(await store.parkExportChanges(merchantId, []), 0)
    t.equal(await store.parkExportChanges(merchantId, [
      { key: 'u1', properties: { email: { value: 'a@example.com', version: 5 }, phone: { value: '1', version: 5 } } },
      { key: 'u2', properties: { email: { value: 'b@example.com', version: 1 } } },
    ]), 2)
    t.equal(await store.parkExportChanges(merchantId, [
      { key: 'u3', properties: { email: { value: 'c@example.com', version: 1 } } },
      { key: 'u1', properties: { email: { value: 'old@example.com', version: 4 }, phone: { value: '2', version: 6 }, name: { value: null, version: 1 } } },
      { key: 'u1', properties: { name: { value: 'Ada', version: 2 } } },
    ]), 2, 'u3 created, u1 changed')
    t.equal(await store.parkExportChanges(merchantId, [{ key: 'u2', properties: { email: { value: 'tie@example.com', version: 1 } } }]), 0, 'an equal version changes nothing')
    t.equal(await store.countParkedChanges(merchantId), 3)

    const peeked = await store.peekParkedChanges(merchantId, 10)
    t.same(peeked.map((p) => p.key), ['u1', 'u2', 'u3'], 'first-parked order, kept when parked again')
    t.same(peeked[0]?.properties, { email: { value: 'a@example.com', version: 5 }, phone: { value: '2', version: 6 }, name: { value: 'Ada', version: 2 } })
    t.same(peeked[1]?.properties, { email: { value: 'b@example.com', version: 1 } })
    t.type(peeked[0]?.parkedAt, Date)
    t.same((await store.peekParkedChanges(merchantId, 2)).map((p) => p.key), ['u1', 'u2'], 'limit')
    t.ok(peeked[0]!.position < peeked[1]!.position && peeked[1]!.position < peeked[2]!.position, 'positions rise in park order')
    t.same((await store.peekParkedChanges(merchantId, 10, peeked[0]!.position)).map((p) => p.key), ['u2', 'u3'], 'after a position: the next page')
    t.same(await store.peekParkedChanges(merchantId, 10, peeked[2]!.position), [], 'after the last: nothing')
    await store.parkExportChanges(merchantId, [{ key: 'u1', properties: { phone: { value: '3', version: 9 } } }])
    t.same((await store.peekParkedChanges(merchantId, 10, peeked[0]!.position)).map((p) => p.key), ['u2', 'u3'], 'a key parked again keeps its place: not after the page it was in')
    t.equal(await store.countParkedChanges(uid('m')), 0, 'per merchant')
  })

  await t.test('parked changes: an ack after a re-park keeps the entry (peek/ack race)', async (t) => {
    const other = await open(t)
    const merchantId = uid('m')
    await store.parkExportChanges(merchantId, [
      { key: 'u1', properties: { email: { value: 'a@example.com', version: 1 } } },
      { key: 'u2', properties: { email: { value: 'b@example.com', version: 1 } } },
    ])
    const peeked = await store.peekParkedChanges(merchantId, 10)
    // Another instance parks a newer change for u1 while this one applies what it peeked.
    await other.parkExportChanges(merchantId, [{ key: 'u1', properties: { phone: { value: '+1', version: 2 } } }])
    t.equal(await store.ackParkedChanges(merchantId, peeked.map(({ key, seq }) => ({ key, seq }))), 1, 'only u2 is acked')
    const left = await store.peekParkedChanges(merchantId, 10)
    t.same(left.map((p) => p.key), ['u1'])
    t.same(left[0]?.properties, { email: { value: 'a@example.com', version: 1 }, phone: { value: '+1', version: 2 } }, 'nothing was lost')
    t.not(left[0]?.seq, peeked[0]?.seq, 'the entry has a new seq')
    t.equal(await store.ackParkedChanges(merchantId, [{ key: 'u1', seq: left[0]!.seq }]), 1)
    t.equal(await store.countParkedChanges(merchantId), 0)

    // Acked and parked again: the old seq must not match the new entry.
    await store.parkExportChanges(merchantId, [{ key: 'u1', properties: { email: { value: 'z', version: 9 } } }])
    t.equal(await store.ackParkedChanges(merchantId, [{ key: 'u1', seq: left[0]!.seq }]), 0, 'seqs are never reused')
    t.equal(await store.ackParkedChanges(merchantId, []), 0)
  })

  await t.test('parked changes: a spill of thousands of keys in one call, half of them parked before', async (t) => {
    const merchantId = uid('m')
    const keys = Array.from({ length: 5_000 }, (_, i) => `u${String(i).padStart(4, '0')}`)
    t.equal(await store.parkExportChanges(merchantId, keys.filter((_, i) => i % 2 === 1).map((key) => ({ key, properties: { points: { value: 1, version: 1 } } }))), 2_500)
    const before = new Map((await store.peekParkedChanges(merchantId, 1_000)).map((p) => [p.key, p.seq]))
    t.equal(await store.parkExportChanges(merchantId, keys.map((key) => ({ key, properties: { points: { value: 2, version: 2 } } }))), 5_000, 'every key written: new or newer')
    t.equal(await store.countParkedChanges(merchantId), 5_000)
    const all = []
    for (let page; (page = await store.peekParkedChanges(merchantId, 1_000)).length > 0;) {
      all.push(...page)
      await store.ackParkedChanges(merchantId, page.map(({ key, seq }) => ({ key, seq })))
    }
    t.same(all.map((p) => p.key), [...keys.filter((_, i) => i % 2 === 1), ...keys.filter((_, i) => i % 2 === 0)], 'the parked-before keep their place, the new follow in call order')
    t.ok(all.every((p) => p.properties.points?.value === 2), 'every entry has the newer value')
    t.equal(new Set(all.map((p) => p.seq)).size, 5_000, 'distinct seqs')
    t.ok(all.every((p) => !before.has(p.key) || p.seq > before.get(p.key)!), 'a re-parked entry takes a new seq')
    t.equal(await store.countParkedChanges(merchantId), 0, 'acked in pages')
  })

  await t.test('parked changes: two instances parking one key at once both land', async (t) => {
    const other = await open(t)
    const merchantId = uid('m')
    await Promise.all(Array.from({ length: 8 }, (_, i) =>
      (i % 2 ? other : store).parkExportChanges(merchantId, [{ key: 'u1', properties: { [`p${i}`]: { value: i, version: 1 } } }])))
    const [entry] = await store.peekParkedChanges(merchantId, 10)
    t.same(Object.keys(entry?.properties ?? {}).sort(), ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7'])
  })

  await t.test('the export pause is shared and expires', async (t) => {
    const other = await open(t)
    const merchantId = uid('m')
    t.equal(await store.getExportPause(merchantId), null)
    const until = new Date(Date.now() + 3_600_000)
    await store.setExportPause(merchantId, { reason: 'salesforce.limit-exceeded', until })
    const pause = await other.getExportPause(merchantId)
    t.match(pause, { reason: 'salesforce.limit-exceeded' }, 'another instance sees it')
    t.equal(pause?.until?.getTime(), until.getTime())
    t.type(pause?.since, Date)
    await store.setExportPause(merchantId, { reason: 'manual', until: null })
    t.match(await store.getExportPause(merchantId), { reason: 'manual', until: null }, 'replaced; null means until cleared')
    await other.clearExportPause(merchantId)
    t.equal(await store.getExportPause(merchantId), null)
    await store.setExportPause(merchantId, { reason: 'budget', until: new Date(Date.now() - 1000) })
    t.equal(await store.getExportPause(merchantId), null, 'a pause whose until has passed is over')
  })
}

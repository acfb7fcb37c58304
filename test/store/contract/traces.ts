/** Contract: traces. */
import type { Test } from 'tap'
import { uid, type ContractContext } from './helpers.ts'

export async function tracesContract(t: Test, { store }: ContractContext): Promise<void> {
  await t.test('traces', async (t) => {
    const merchantId = uid('m')
    const at = (ms: number) => new Date(1_700_000_000_000 + ms)
    await store.appendTrace({ merchantId, direction: 'import', recordId: 'r1', userId: null, email: 'a@example.com', outcome: 'skipped', details: { why: 'no email' }, at: at(2) })
    await store.appendTrace({ merchantId, direction: 'export', recordId: null, userId: 'u1', email: null, outcome: 'created', details: null, at: at(3) })
    await store.appendTrace({ merchantId, direction: 'import', recordId: 'r1', userId: 'u1', email: 'a@example.com', outcome: 'updated', details: [1], at: at(1) })
    await store.appendTrace({ merchantId, direction: 'import', recordId: 'r2', userId: 'u2', email: 'b@example.com', outcome: 'updated', details: null, at: at(4) })
    await store.appendTrace({ merchantId: uid('m'), direction: 'import', recordId: 'r1', userId: 'u1', email: 'a@example.com', outcome: 'other', details: null })

    const byUser = await store.listTrace(merchantId, { userId: 'u1' })
    t.same(byUser.map((e) => e.outcome), ['created', 'updated'], 'newest first')
    t.match(byUser[1], { merchantId, direction: 'import', recordId: 'r1', userId: 'u1', email: 'a@example.com', details: [1] })
    t.equal(byUser[1]?.at.getTime(), at(1).getTime())
    t.same((await store.listTrace(merchantId, { recordId: 'r1' })).map((e) => e.outcome), ['skipped', 'updated'])
    t.same((await store.listTrace(merchantId, { email: 'a@example.com' })).map((e) => e.outcome), ['skipped', 'updated'])
    t.same((await store.listTrace(merchantId, { userId: 'u1', recordId: 'r1' })).map((e) => e.outcome), ['created', 'skipped', 'updated'], 'any key matches')
    t.same((await store.listTrace(merchantId, { userId: 'u1', recordId: 'r1' }, 1)).map((e) => e.outcome), ['created'], 'limit')
    t.same(await store.listTrace(merchantId, {}), [], 'no key, no entries')

    const before = Date.now()
    await store.appendTrace({ merchantId, direction: 'export', recordId: null, userId: 'u3', email: null, outcome: 'now', details: null })
    t.ok((await store.listTrace(merchantId, { userId: 'u3' }))[0]!.at.getTime() >= before, 'at defaults to now')
  })
}

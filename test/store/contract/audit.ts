/** Contract: the audit log. */
import type { Test } from 'tap'
import { uid, type ContractContext } from './helpers.ts'

export async function auditContract(t: Test, { store }: ContractContext): Promise<void> {
  await t.test('audit log', async (t) => {
    const merchantId = uid('m')
    const before = Date.now()
    const first = await store.appendAudit({ merchantId, actor: 'user-1', action: 'settings.update', details: { version: 2 } })
    t.match(first, { merchantId, actor: 'user-1', action: 'settings.update', details: { version: 2 } })
    t.type(first.id, 'string')
    t.ok(first.at.getTime() >= before)
    const made = [first.id]
    for (let i = 0; i < 4; i++) made.push((await store.appendAudit({ merchantId, actor: 'user-1', action: `a${i}`, details: null })).id)
    await store.appendAudit({ merchantId: uid('m'), actor: 'x', action: 'other', details: null })

    const p1 = await store.listAudit(merchantId, { limit: 2 })
    const p2 = await store.listAudit(merchantId, { limit: 2, cursor: p1.nextCursor })
    const p3 = await store.listAudit(merchantId, { limit: 2, cursor: p2.nextCursor })
    t.same([...p1.data, ...p2.data, ...p3.data].map((e) => e.id), [...made].reverse(), 'newest first across pages')
    t.equal(p3.nextCursor, null)
    t.same(p3.data[0], first)
  })
}

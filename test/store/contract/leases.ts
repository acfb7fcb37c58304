/** Contract: fenced leases on the store's clock. */
import type { Test } from 'tap'
import { eventually, uid, type ContractContext } from './helpers.ts'

export async function leasesContract(t: Test, { store, open }: ContractContext): Promise<void> {
  await t.test('leases: one holder at a time, renewals keep the fence', async (t) => {
    const name = uid('lease')
    t.equal(await store.getLease(name), null)
    const a = await store.acquireLease(name, 'a', 60_000)
    if (!a) throw new Error('a free lease must be granted')
    t.match(a, { name, owner: 'a' })
    t.type(a.fence, 'number')
    t.ok(a.expiresAt.getTime() > Date.now() + 50_000, 'expires ttl from now')
    t.equal(await store.acquireLease(name, 'b', 60_000), null, 'held by a')
    const again = await store.acquireLease(name, 'a', 60_000)
    t.equal(again?.fence, a.fence, 'acquiring again renews with the same fence')
    t.equal(await store.renewLease(name, 'a', a.fence, 60_000), true)
    t.equal(await store.renewLease(name, 'a', a.fence + 1, 60_000), false, 'a wrong fence is not renewed')
    t.equal(await store.renewLease(name, 'b', a.fence, 60_000), false, 'nor another owner')
    t.match(await store.getLease(name), { name, owner: 'a', fence: a.fence, held: true })

    await store.releaseLease(name, 'b')
    t.equal(await store.acquireLease(name, 'b', 60_000), null, 'only the holder can release')
    await store.releaseLease(name, 'a')
    t.match(await store.getLease(name), { owner: 'a', fence: a.fence, held: false }, 'a released lease keeps its row and fence')
    t.equal(await store.renewLease(name, 'a', a.fence, 60_000), false, 'a released lease cannot be renewed')
    const b = await store.acquireLease(name, 'b', 60_000)
    t.ok(b && b.fence > a.fence, 'the next holder gets a higher fence')
    await store.releaseLease(name, 'b')
    const b2 = await store.acquireLease(name, 'b', 60_000)
    t.ok(b2 && b && b2.fence > b.fence, 'even the same owner, after releasing')
  })

  await t.test('leases: two holders racing for one lease, exactly one wins', async (t) => {
    const other = await open(t)
    const third = await open(t)
    for (let round = 0; round < 5; round++) {
      const name = uid('lease')
      const grants = await Promise.all([
        store.acquireLease(name, 'x', 60_000),
        other.acquireLease(name, 'y', 60_000),
        third.acquireLease(name, 'z', 60_000),
      ])
      const winners = grants.filter((g) => g !== null)
      t.equal(winners.length, 1, `round ${round}: one winner`)
      t.equal((await store.getLease(name))?.owner, winners[0]?.owner, 'the stored holder is the winner')
    }
  })

  await t.test('leases: after expiry by the store\'s clock a new holder gets a strictly higher fence', async (t) => {
    const other = await open(t)
    const name = uid('lease')
    const a = await store.acquireLease(name, 'a', 300)
    if (!a) throw new Error('a free lease must be granted')
    t.equal(await other.acquireLease(name, 'b', 300), null, 'not yet expired')
    const b = await eventually(() => other.acquireLease(name, 'b', 60_000), 'the lease to expire')
    t.ok(b.fence > a.fence, 'strictly higher fence')
    t.equal(await store.renewLease(name, 'a', a.fence, 60_000), false, 'the old holder cannot renew')
    t.equal(await store.acquireLease(name, 'a', 60_000), null, 'nor take it back')
    const fences = [a.fence, b.fence]
    for (const owner of ['c', 'd', 'e']) {
      await other.releaseLease(name, (await other.getLease(name))!.owner)
      fences.push((await other.acquireLease(name, owner, 60_000))!.fence)
    }
    t.same(fences, [...fences].sort((x, y) => x - y), 'fences only grow')
    t.equal(new Set(fences).size, fences.length, 'and are never reused')
  })
}

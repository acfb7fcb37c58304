/** Contract: fenced replay ids, replay requests and generic checkpoints. */
import type { Test } from 'tap'
import type { Store } from '../../../src/store/index.ts'
import { eventually, takeLease, uid, type ContractContext } from './helpers.ts'

const CHANNEL = '/data/ContactChangeEvent'

export async function checkpointsContract(t: Test, { store, open }: ContractContext): Promise<void> {
  await t.test('replay ids move forward unless forced', async (t) => {
    const merchantId = uid('m')
    const lease = await takeLease(store)
    t.equal(await store.getReplayId(merchantId, CHANNEL), null)
    await store.saveReplayId(merchantId, CHANNEL, 10, { lease })
    await store.saveReplayId(merchantId, CHANNEL, 5, { lease })
    t.equal(await store.getReplayId(merchantId, CHANNEL), 10, 'an older id is ignored, never backwards')
    await store.saveReplayId(merchantId, CHANNEL, 10, { lease })
    t.equal(await store.getReplayId(merchantId, CHANNEL), 10)
    await store.saveReplayId(merchantId, CHANNEL, 5, { lease, force: true })
    t.equal(await store.getReplayId(merchantId, CHANNEL), 5, 'force moves back')
    await store.saveReplayId(merchantId, CHANNEL, 2 ** 40, { lease })
    t.equal(await store.getReplayId(merchantId, CHANNEL), 2 ** 40, 'large ids survive')
    t.equal(await store.getReplayId(merchantId, '/data/LeadChangeEvent'), null, 'per channel')
    t.equal(await store.getReplayId(uid('m'), CHANNEL), null, 'per merchant')
  })

  await t.test('replay ids: a write without the current fence is refused', async (t) => {
    const merchantId = uid('m')
    const lease = await takeLease(store)
    await store.saveReplayId(merchantId, CHANNEL, 10, { lease })
    await t.rejects(store.saveReplayId(merchantId, CHANNEL, 11, { lease: { name: lease.name, fence: lease.fence + 1 } }), { code: 'store.fenced' }, 'a fence never granted')
    await t.rejects(store.saveReplayId(merchantId, CHANNEL, 11, { lease: { name: uid('lease'), fence: 1 } }), { code: 'store.fenced' }, 'a lease never taken')
    await store.releaseLease(lease.name, 'owner-1')
    await t.rejects(store.saveReplayId(merchantId, CHANNEL, 12, { lease }), { code: 'store.fenced' }, 'a released lease')
    await t.rejects(store.saveReplayId(merchantId, CHANNEL, 12, { lease, force: true }), { code: 'store.fenced' }, 'force does not bypass the fence')
    t.equal(await store.getReplayId(merchantId, CHANNEL), 10, 'nothing refused was written')
  })

  await t.test('replay ids: the stale holder is refused once the lease changed hands', async (t) => {
    const other = await open(t)
    const merchantId = uid('m')
    const name = uid('lease')
    const a = await store.acquireLease(name, 'a', 300)
    if (!a) throw new Error('a free lease must be granted')
    await store.saveReplayId(merchantId, CHANNEL, 100, { lease: { name, fence: a.fence } })
    // a stalls (a long GC pause, say); its lease expires on the store's clock and b takes over.
    const b = await eventually(() => other.acquireLease(name, 'b', 60_000), 'the lease to change hands')
    t.ok(b.fence > a.fence)
    await other.saveReplayId(merchantId, CHANNEL, 150, { lease: { name, fence: b.fence } })
    await t.rejects(store.saveReplayId(merchantId, CHANNEL, 200, { lease: { name, fence: a.fence } }), { code: 'store.fenced' }, 'a\'s late write is refused')
    t.equal(await other.getReplayId(merchantId, CHANNEL), 150, 'the new holder\'s checkpoint stands')
  })

  await t.test('replay requests: the streaming instance takes them, with its fence', async (t) => {
    const merchantId = uid('m')
    const lease = await takeLease(store)
    await store.saveReplayId(merchantId, CHANNEL, 500, { lease })
    t.equal(await store.takeReplayRequest(merchantId), null, 'none pending')
    await store.requestReplay(merchantId, CHANNEL, 90)
    await store.requestReplay(merchantId, CHANNEL, 100)
    await t.rejects(store.takeReplayRequest(merchantId, { lease: { name: lease.name, fence: lease.fence + 1 } }), { code: 'store.fenced' })
    const taken = await store.takeReplayRequest(merchantId, { lease })
    t.match(taken, { merchantId, channel: CHANNEL, replayId: 100 }, 'a later request replaces an untaken one')
    t.type(taken?.requestedAt, Date)
    t.equal(await store.getReplayId(merchantId, CHANNEL), 100, 'the checkpoint moved back in the same step')
    t.equal(await store.takeReplayRequest(merchantId, { lease }), null, 'taken once')

    await store.requestReplay(merchantId, CHANNEL, 7)
    t.match(await store.takeReplayRequest(merchantId), { replayId: 7 }, 'without a lease it is only taken')
    t.equal(await store.getReplayId(merchantId, CHANNEL), 100)
  })

  await t.test('generic checkpoints are fenced too', async (t) => {
    const name = uid('reconcile')
    const lease = await takeLease(store)
    t.equal(await store.getCheckpoint(name), null)
    await store.saveCheckpoint(name, { phase: 'links', after: '003A' }, lease)
    t.same(await store.getCheckpoint(name), { phase: 'links', after: '003A' })
    await store.saveCheckpoint(name, ['any', 1, null], lease)
    t.same(await store.getCheckpoint(name), ['any', 1, null])
    await t.rejects(store.saveCheckpoint(name, 'stale', { name: lease.name, fence: lease.fence - 1 }), { code: 'store.fenced' })
    t.same(await store.getCheckpoint(name), ['any', 1, null])
  })

  await t.test('replay ids: random hand-overs and writes of three instances match the model (no stale write lands, nothing moves back unforced)', async (t) => {
    // Three owners, each on its own connection (three processes). The lease changes hands by
    // release; every save and every taken replay request carries some fence: the owner's
    // newest, an older one of anybody's, or one never granted. The model says what the store
    // must answer and hold after each step.
    const stores: Record<string, Store> = { a: store, b: await open(t), c: await open(t) }
    const owners = Object.keys(stores)
    const merchantId = uid('m')
    const name = uid('lease')
    let seed = 0x5eed
    const rand = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
      return seed / 2 ** 32
    }
    const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!
    const granted: number[] = []
    let holder: { owner: string; fence: number } | null = null
    let checkpoint: number | null = null
    let request: number | null = null
    const refused = { save: 0, take: 0 }
    const accepted = { save: 0, take: 0, backwardsIgnored: 0 }

    for (let step = 0; step < 400; step++) {
      const owner = pick(owners)
      const own = stores[owner]!
      const roll = rand()
      if (roll < 0.15) {
        const grant = await own.acquireLease(name, owner, 60_000)
        if (holder === null) {
          t.ok(grant && grant.fence > Math.max(0, ...granted), `step ${step}: a free lease is granted with a new, higher fence`)
          holder = { owner, fence: grant!.fence }
          granted.push(grant!.fence)
        } else if (holder.owner === owner) {
          t.equal(grant?.fence, holder.fence, `step ${step}: the holder keeps its fence`)
        } else {
          t.equal(grant, null, `step ${step}: a held lease is not granted to another`)
        }
      } else if (roll < 0.25) {
        await own.releaseLease(name, owner)
        if (holder?.owner === owner) holder = null
      } else if (roll < 0.35) {
        request = 1 + Math.floor(rand() * 1000)
        await own.requestReplay(merchantId, CHANNEL, request)
      } else {
        const fence = rand() < 0.1 ? Math.max(0, ...granted) + 1 : granted.length > 0 ? pick(granted) : 1
        const current = holder !== null && holder.fence === fence
        if (roll < 0.45) {
          const taking = own.takeReplayRequest(merchantId, { lease: { name, fence } })
          if (request !== null && !current) {
            await t.rejects(taking, { code: 'store.fenced' }, `step ${step}: a stale fence cannot take a replay request`)
            refused.take++
          } else {
            const taken = await taking
            t.equal(taken?.replayId ?? null, request, `step ${step}: the pending request is taken`)
            if (request !== null) {
              checkpoint = request
              accepted.take++
            }
            request = null
          }
        } else {
          const replayId = 1 + Math.floor(rand() * 1000)
          const force = rand() < 0.2
          const saving = own.saveReplayId(merchantId, CHANNEL, replayId, { lease: { name, fence }, force })
          if (!current) {
            await t.rejects(saving, { code: 'store.fenced' }, `step ${step}: fence ${fence} is not current (${holder ? holder.fence : 'none held'}): refused`)
            refused.save++
          } else {
            await saving
            accepted.save++
            if (!force && checkpoint !== null && replayId < checkpoint) accepted.backwardsIgnored++
            checkpoint = force || checkpoint === null ? replayId : Math.max(checkpoint, replayId)
          }
        }
      }
      const stored = await pick(Object.values(stores)).getReplayId(merchantId, CHANNEL)
      if (stored !== checkpoint) {
        t.fail(`step ${step}: the store holds ${stored}, the model ${checkpoint}`)
        return
      }
    }
    t.ok(refused.save > 20 && refused.take > 0 && accepted.save > 20 && accepted.take > 0 && accepted.backwardsIgnored > 0 && granted.length > 5,
      `the run tried every case: ${JSON.stringify({ refused, accepted, holders: granted.length })}`)
  })

  await t.test('replay ids: a stale holder writing flat out while its lease expires and another takes it lands nothing after the take-over', async (t) => {
    const other = await open(t)
    for (let round = 0; round < 5; round++) {
      const merchantId = uid('m')
      const name = uid('lease')
      const a = await store.acquireLease(name, 'a', 200 + round * 50)
      if (!a) throw new Error('a free lease must be granted')
      let next = 1000
      let lastAccepted = 0
      // a keeps writing ever higher ids, the moment each write returns, until it is refused.
      const writer = (async () => {
        for (;;) {
          const id = next++
          try {
            await store.saveReplayId(merchantId, CHANNEL, id, { lease: { name, fence: a.fence } })
            lastAccepted = id
          } catch (err) {
            if ((err as { code?: string }).code !== 'store.fenced') throw err
            return
          }
        }
      })()
      const b = await eventually(() => other.acquireLease(name, 'b', 60_000), 'b to take the lease over')
      const atTakeOver = await other.getReplayId(merchantId, CHANNEL)
      await writer
      t.equal(await other.getReplayId(merchantId, CHANNEL), atTakeOver, `round ${round}: nothing of a's landed after b was granted fence ${b.fence}`)
      t.equal(atTakeOver, lastAccepted === 0 ? null : lastAccepted, `round ${round}: the checkpoint is a's last accepted write`)
      // The new holder moves on from there; a lower id does not move it back.
      await other.saveReplayId(merchantId, CHANNEL, 1, { lease: { name, fence: b.fence } })
      t.equal(await other.getReplayId(merchantId, CHANNEL), atTakeOver ?? 1, `round ${round}: not backwards unforced, even for the new holder`)
    }
  })
}

/** Contract: migrations, two instances, ping and close. */
import type { Test } from 'tap'
import { connection, takeLease, uid, type ContractContext } from './helpers.ts'

export async function lifecycleContract(t: Test, { store, open, makeStore }: ContractContext): Promise<void> {
  await t.test('two instances open at once see each other\'s writes', async (t) => {
    const other = await open(t)
    const merchantId = uid('m')
    await other.saveConnection(connection(merchantId))
    t.equal((await store.getConnection(merchantId))?.orgId, '00D000000000001')
    await store.saveReplayId(merchantId, '/data/ContactChangeEvent', 42, { lease: await takeLease(store) })
    t.equal(await other.getReplayId(merchantId, '/data/ContactChangeEvent'), 42)
  })

  await t.test('ping, and a closed store is unavailable', async (t) => {
    await store.ping()
    const closed = await makeStore()
    await closed.close()
    await closed.close()
    await t.rejects(closed.ping(), { code: 'store.unavailable' })
    await t.rejects(closed.getConnection('m'), { code: 'store.unavailable' })
  })
}

/** Contract: API call counts per org and hour, the org's reported usage, pending export counts, lastExportAt. */
import type { Test } from 'tap'
import { uid, type ContractContext } from './helpers.ts'

export async function exportStateContract(t: Test, { store, open }: ContractContext): Promise<void> {
  await t.test('API calls add up per org and hour across instances; usage sums the buckets since a time', async (t) => {
    const other = await open(t)
    const orgId = uid('org')
    const hour = (h: number) => new Date(Date.UTC(2026, 0, 1, h))
    t.same(await store.getApiUsage(orgId, hour(0)), { orgId, used: 0, orgUsed: null, orgMax: null, reportedAt: null })
    await store.addApiCalls([{ orgId, hour: hour(1), calls: 3 }, { orgId, hour: hour(2), calls: 4 }, { orgId, hour: hour(2), calls: 1 }])
    await other.addApiCalls([{ orgId, hour: hour(2), calls: 10 }, { orgId: uid('org'), hour: hour(2), calls: 99 }])
    t.equal((await store.getApiUsage(orgId, hour(0))).used, 18)
    t.equal((await store.getApiUsage(orgId, hour(2))).used, 15, 'buckets before `since` are left out')
    await store.saveOrgApiUsage(orgId, { used: 500, max: 1000, at: new Date(2_000) })
    await store.saveOrgApiUsage(orgId, { used: 400, max: 1000, at: new Date(1_000) })
    t.match(await other.getApiUsage(orgId, hour(0)), { orgUsed: 500, orgMax: 1000, reportedAt: new Date(2_000) }, 'an older report is ignored')
  })

  await t.test('pending export changes sum over fresh instances; 0 removes; lastExportAt moves forward only', async (t) => {
    const merchantId = uid('m')
    await store.setExportPending(merchantId, 'a', 5)
    await store.setExportPending(merchantId, 'b', 7)
    t.equal(await store.countExportPending(merchantId, new Date(Date.now() - 60_000)), 12)
    t.equal(await store.countExportPending(merchantId, new Date(Date.now() + 60_000)), 0, 'stale reports are left out')
    await store.setExportPending(merchantId, 'a', 0)
    t.equal(await store.countExportPending(merchantId, new Date(Date.now() - 60_000)), 7)

    t.equal(await store.getLastExportAt(merchantId), null)
    await store.commitExportBatch({ merchantId, exportedAt: new Date(5_000) })
    await store.commitExportBatch({ merchantId, exportedAt: new Date(4_000) })
    t.same(await store.getLastExportAt(merchantId), new Date(5_000))
  })
}

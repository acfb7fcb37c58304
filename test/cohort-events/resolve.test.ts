/**
 * resolveRecords' order of work (src/cohort-events/resolve.ts), on the real SQLite store: links
 * first; `beforeLookup` (the exporter's earlier drain pages still being written) awaited before
 * Salesforce is opened, and not at all when the links resolve everyone.
 */
import t from 'tap'
import type { Connection } from 'jsforce'
import { resolveRecords } from '../../src/cohort-events/resolve.ts'
import { createSqliteStore } from '../../src/store/sqlite/index.ts'

const store = createSqliteStore({ path: ':memory:' })
await store.migrate()
t.teardown(() => store.close())
await store.linkRecords([{ merchantId: 'm1', sobject: 'Contact', recordId: '003000000000001AAA', userId: 'u1', email: 'one@example.com' }])

function options(order: string[]) {
  return {
    store,
    merchantId: 'm1',
    object: 'Contact',
    emailField: 'Email',
    cohortUserIdField: 'Cohort_User_Id__c',
    connection: async (): Promise<Connection> => {
      order.push('salesforce')
      throw new Error('Salesforce opened')
    },
    beforeLookup: async () => {
      order.push('waiting')
      await new Promise((resolve) => setTimeout(resolve, 30))
      order.push('waited')
    },
  }
}

t.test('every user linked: no wait, no Salesforce', async (t) => {
  const order: string[] = []
  const found = await resolveRecords(options(order), [{ userId: 'u1', email: 'one@example.com' }])
  t.same([...found], [['u1', { recordId: '003000000000001AAA', via: 'link' }]])
  t.same(order, [])
})

t.test('a user without a link: the earlier pages are waited for before Salesforce is opened', async (t) => {
  const order: string[] = []
  await t.rejects(resolveRecords(options(order), [{ userId: 'u1', email: 'one@example.com' }, { userId: 'u2', email: 'two@example.com' }]), /Salesforce opened/)
  t.same(order, ['waiting', 'waited', 'salesforce'])
})

/**
 * The stall check's read (src/cdc/watch.ts) against the Salesforce stand-in over real HTTP:
 * the newest SystemModstamp at or before a bound, deleted records included (a `queryAll`),
 * null when none, and failures with the codes of src/salesforce/errors.ts.
 */
import t from 'tap'
import { newestModstamp } from '../../src/cdc/watch.ts'
import { queryRecords } from '../../src/salesforce/index.ts'
import { salesforceSetup } from '../salesforce/bulk-setup.ts'

t.test('newestModstamp: newest at or before the bound, deletes count, null when none', async (t) => {
  const sf = await salesforceSetup(t)
  const conn = await sf.conn()
  const later = () => new Date(Date.now() + 60_000)
  t.equal(await newestModstamp(conn, 'Contact', later()), null, 'no records')

  const { ids } = await sf.admin('POST', '/records/Contact', { records: [{ LastName: 'Old', Email: 'old@example.com' }, { LastName: 'Gone', Email: 'gone@example.com' }], events: false })
  await sf.admin('DELETE', `/records/Contact/${ids[1]}`)
  const stamps = new Map((await queryRecords(conn, 'SELECT Id, SystemModstamp FROM Contact', 'read', { queryAll: true })).map((r) => [r.Id, Date.parse(String(r.SystemModstamp))]))
  t.equal(await newestModstamp(conn, 'Contact', later()), stamps.get(ids[1]), 'the delete is the newest change')
  t.ok(stamps.get(ids[1])! >= stamps.get(ids[0])!)
  t.equal(await newestModstamp(conn, 'Contact', new Date(stamps.get(ids[0])! - 1_000)), null, 'nothing at or before the bound')
})

t.test('newestModstamp: the org limit is salesforce.limit-exceeded, a bad name request.invalid', async (t) => {
  const sf = await salesforceSetup(t)
  const conn = await sf.conn()
  await sf.admin('POST', '/faults', { kind: 'request-limit-exceeded', match: '/queryAll' })
  await t.rejects(newestModstamp(conn, 'Contact', new Date()), { code: 'salesforce.limit-exceeded', message: /stall check of Contact/ })
  await t.rejects(newestModstamp(conn, 'Contact WHERE', new Date()), { code: 'request.invalid' })
})

/**
 * Several instances, the short variant (LEASE_TTL_MS 5000; `npm run test:crash` runs it with
 * the default 30 s): two service processes on PostgreSQL, the stream's holder SIGKILLed, the
 * other streams within the TTL and nothing is lost (test/reliability/takeover-scenario.ts).
 */
import t from 'tap'
import { runTakeoverScenario } from './takeover-scenario.ts'

t.test('postgres: two instances, the holder SIGKILLed: the other streams within the lease TTL, Cohort ends equal to Salesforce', async (t) => {
  const result = await runTakeoverScenario(t, { leaseTtlMs: 5000, takeoverWithinMs: 5000 + 2000, records: 60, ratePerSecond: 20 })
  t.comment(JSON.stringify(result))
})

/**
 * Several instances, a stale holder: two service processes on PostgreSQL, the stream's holder
 * SIGSTOPped (a long pause, a frozen VM) until the other streams and holds the import
 * partitions, then SIGCONTed. The stale holder must find its lease gone and stop, the stored
 * replay id never moves back, and Cohort ends equal to Salesforce
 * (test/reliability/takeover-scenario.ts). In `npm run test:crash`, not in `npm test` (the
 * store contract proves the fencing there; this is the same at the process level).
 */
import t from 'tap'
import { runTakeoverScenario } from './takeover-scenario.ts'

t.test('postgres: two instances, the holder SIGSTOPped then SIGCONTed: the stale one stops, nothing moves back, Cohort ends equal to Salesforce', async (t) => {
  const result = await runTakeoverScenario(t, { leaseTtlMs: 5000, takeoverWithinMs: 5000 + 2000, records: 60, ratePerSecond: 20, stall: true })
  t.comment(JSON.stringify(result))
})

/**
 * Several instances, the full variant (`npm run test:crash`): the take-over scenario of
 * test/reliability/takeover-scenario.ts with the default LEASE_TTL_MS (30 s). The survivor
 * must hold the lease within half a second of the dead holder's running out (at most 30 s
 * after the SIGKILL: its last renewal was no later) and stream within 31 s of the kill. Not
 * in `npm test` (takeover.test.ts is, with 5 s).
 */
import t from 'tap'
import { runTakeoverScenario } from './takeover-scenario.ts'

t.test('postgres: two instances, default LEASE_TTL_MS, the holder SIGKILLed: the other takes over within 30 s, Cohort ends equal to Salesforce', async (t) => {
  const result = await runTakeoverScenario(t, { takeoverWithinMs: 31_000, records: 100, ratePerSecond: 20 })
  t.comment(`result ${JSON.stringify(result)}`)
})

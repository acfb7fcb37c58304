/**
 * Crash safety, the short variant (`npm run test:crash` runs the full one): 1,000 Salesforce
 * changes over 150 records on SQLite on disk, the service SIGKILLed 3 times at random points
 * while they stream; afterwards Cohort equals Salesforce for every mapped field, one user per
 * email, no per-record error (test/reliability/crash-scenario.ts).
 */
import t from 'tap'
import { runCrashScenario } from './crash-scenario.ts'

t.test('sqlite: 1,000 changes, 3 SIGKILLs: Cohort ends equal to Salesforce, no duplicate users', async (t) => {
  const result = await runCrashScenario(t, {
    backend: 'sqlite', changes: 1000, records: 150, kills: 3, ratePerSecond: 60, settleMs: 90_000,
    env: { LEASE_TTL_MS: '2000' },
  })
  t.equal(result.kills, 3)
  t.comment(JSON.stringify(result))
})

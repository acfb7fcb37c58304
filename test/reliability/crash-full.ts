/**
 * Crash safety, the full variant (issue #11): `npm run test:crash` (about 6 minutes).
 * 10,000 Salesforce changes over 300 records on PostgreSQL, the service SIGKILLed 10 times at
 * random points while they stream (spaced so that most kills find the importer mid-work);
 * afterwards Cohort equals Salesforce for every mapped field, one user per email, no
 * per-record error. The result line goes into docs/reliability.md. Not in `npm test` (the
 * short variant, test/reliability/crash.test.ts, is).
 *
 * `CRASH_SEED=n` repeats a run's random choices as far as the workers' interleaving allows.
 */
import t from 'tap'
import { runCrashScenario } from './crash-scenario.ts'

const seed = process.env.CRASH_SEED ? Number(process.env.CRASH_SEED) : undefined

t.test('postgres: 10,000 changes, 10 SIGKILLs: Cohort ends equal to Salesforce, no duplicate users', async (t) => {
  const result = await runCrashScenario(t, {
    backend: 'postgres', changes: 10_000, records: 300, kills: 10, ratePerSecond: 40, settleMs: 180_000,
    env: { LEASE_TTL_MS: '5000' },
    ...(seed === undefined ? {} : { seed }),
  })
  t.equal(result.kills, 10)
  t.comment(`result ${JSON.stringify(result)}`)
})

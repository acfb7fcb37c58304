/**
 * The process stack: the service answers /readyz 200 with the stand-ins in their own process,
 * dies on SIGKILL, and comes back ready on the same store; on SQLite and on PostgreSQL (a
 * fresh schema through the URL's search_path).
 */
import { existsSync } from 'node:fs'
import t from 'tap'
import { startProcessStack } from './process-stack.ts'

for (const backend of ['sqlite', 'postgres'] as const) {
  t.test(`${backend}: ready, SIGKILLed, restarted on the same store, ready again`, async (t) => {
    const stack = await startProcessStack(t, { backend })
    const ready = await fetch(`${stack.url}/readyz`)
    t.equal(ready.status, 200)
    t.match(await ready.json(), { status: 'ready' })
    if (backend === 'sqlite') t.ok(existsSync(stack.sqlitePath!), 'the store file exists')
    else t.match(stack.databaseUrl, /options=-c%20search_path%3Dpstack_/)
    t.match(stack.env, { KAFKA_TOPIC_COHORT_EVENTS: stack.topics.cohortEvents, KAFKA_GROUP_PREFIX: stack.groupPrefix, NODE_ENV: 'test' })
    await stack.logs.waitFor((line) => line.msg === 'salesforce-bridge listening')
    t.match(stack.logs.lines().find((l) => l.msg === 'state store ready'), { backend })

    const firstPid = stack.pid
    const exit = await stack.kill()
    t.same(exit, { code: null, signal: 'SIGKILL' })
    t.equal(stack.pid, null)
    await t.rejects(fetch(`${stack.url}/readyz`), 'nothing listens while it is down')

    const before = stack.logs.lines().length
    await stack.startService()
    t.not(stack.pid, firstPid, 'a new process')
    t.equal((await fetch(`${stack.url}/readyz`)).status, 200, 'ready again')
    t.match(await stack.logs.waitFor((line) => line.msg === 'state store ready', { from: before }), { applied: [] }, 'the same store: nothing left to migrate')
    t.equal((await fetch(`${stack.salesforceUrl}/services/data`)).status, 200, 'the stand-ins kept running')
    t.notMatch(stack.logs.stderr(), /TimeoutNegativeWarning/)
  })
}

/**
 * Seeding the Cohort stand-in through its admin API with `events: false`: users per second,
 * wall time and memory. Target: 1,000,000 users in under 30 s.
 *
 *   npm run bench -- cohort-seed            # 1,000,000 users
 *   npm run bench -- cohort-seed --short    # 100,000 users
 */
import { parseArgs } from 'node:util'
import { createCohortSandbox } from '../sandbox/cohort/index.ts'

const { values } = parseArgs({ options: { short: { type: 'boolean' }, users: { type: 'string' }, chunk: { type: 'string' } } })
const total = Number(values.users ?? (values.short ? 100_000 : 1_000_000))
const chunk = Number(values.chunk ?? 100_000)

const sandbox = createCohortSandbox({ port: 0, kafka: null })
const url = await sandbox.start()
await fetch(`${url}/__sandbox/merchants`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 'm_bench' }) })

const started = performance.now()
for (let offset = 0; offset < total; offset += chunk) {
  const users = Array.from({ length: Math.min(chunk, total - offset) }, (_, i) => ({ email: `user${offset + i}@example.com` }))
  const res = await fetch(`${url}/__sandbox/merchants/m_bench/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ users, events: false }) })
  if (!res.ok) throw new Error(`seeding failed: ${res.status} ${await res.text()}`)
  await res.arrayBuffer()
  process.stderr.write(`\rseeded ${Math.min(offset + chunk, total).toLocaleString('en-US')} / ${total.toLocaleString('en-US')}`)
}
const seconds = (performance.now() - started) / 1000
process.stderr.write('\n')
const check = (await (await fetch(`${url}/__sandbox/merchants/m_bench/users?limit=1`)).json()) as { total: number }
await sandbox.stop()

const rssMb = Math.round(process.memoryUsage().rss / 1024 / 1024)
console.log(JSON.stringify({ bench: 'cohort-seed', users: check.total, chunk, seconds: Number(seconds.toFixed(2)), usersPerSecond: Math.round(total / seconds), rssMb }))
if (check.total !== total) throw new Error(`expected ${total} users, the stand-in has ${check.total}`)

/**
 * Seeding speed of the Salesforce stand-in: 1,000,000 Contacts through the admin API with
 * `events: false`, in requests of 10,000, over real HTTP. Prints the time, the rate and the
 * heap the records take, with progress on stderr.
 *
 *   npm run bench -- salesforce-seed            # 1,000,000 Contacts
 *   npm run bench -- salesforce-seed --short    # 100,000
 */
import { parseArgs } from 'node:util'
import { createSalesforceSandbox } from '../sandbox/salesforce/index.ts'

const { values } = parseArgs({ options: { short: { type: 'boolean' }, total: { type: 'string' }, batch: { type: 'string' } } })
const total = Number(values.total ?? (values.short ? 100_000 : 1_000_000))
const batch = Number(values.batch ?? 10_000)

const sandbox = createSalesforceSandbox({ port: 0 })
const url = await sandbox.start()
global.gc?.()
const heapBefore = process.memoryUsage().heapUsed

const started = performance.now()
for (let done = 0; done < total; done += batch) {
  const records = []
  for (let i = done; i < Math.min(total, done + batch); i++) {
    records.push({ FirstName: 'Seed', LastName: `Contact ${i}`, Email: `seed${i}@example.com`, Cohort_User_Id__c: `u_${i}`, Cohort_Points__c: i % 1000 })
  }
  const res = await fetch(`${url}/__sandbox/records/Contact`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ records, events: false }),
  })
  if (res.status !== 201) throw new Error(`seeding failed: ${res.status} ${await res.text()}`)
  await res.arrayBuffer()
  if ((done / batch) % 10 === 9) process.stderr.write(`\rseeded ${Math.min(total, done + batch).toLocaleString('en-US')} / ${total.toLocaleString('en-US')}`)
}
process.stderr.write('\n')
const seconds = (performance.now() - started) / 1000
global.gc?.()
const heapMb = (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024

const countStarted = performance.now()
const listed = (await (await fetch(`${url}/__sandbox/records/Contact?limit=1`)).json()) as { total: number }
const countMs = performance.now() - countStarted
await sandbox.stop()

console.log(JSON.stringify({
  contacts: listed.total, batch, seconds: Number(seconds.toFixed(2)), perSecond: Math.round(total / seconds),
  heapMb: Math.round(heapMb), rssMb: Math.round(process.memoryUsage().rss / 1024 / 1024), listTotalMs: Math.round(countMs),
}))
console.log(`Seeded ${listed.total.toLocaleString('en')} Contacts in ${seconds.toFixed(1)} s (events: false)`)

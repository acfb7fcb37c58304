/**
 * Reading a whole object: `readRecords` through Bulk API 2.0 (streamed CSV, batches of 2,000)
 * against REST keyset pages, and against the naive read that holds the whole result (every
 * REST page into one array), each in a Node process of its own so its peak RSS is its own.
 * The Salesforce stand-in runs in another process (test/helpers/stand-ins-process.ts) with
 * 200,000 Contacts (`--short`: 50,000), over real HTTP. Prints one JSON line.
 *
 *   npm run bench -- salesforce-read            # 200,000 Contacts
 *   npm run bench -- salesforce-read --short    # 50,000
 *   npm run bench -- salesforce-read --total=1000000 --paths=bulk,all-in-memory
 *   npm run bench -- salesforce-read --total=1000000 --heap=64   # each reader's V8 heap capped
 */
import { spawn, spawnSync } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import jsforce from 'jsforce'
import { queryRecords, readRecords } from '../src/salesforce/index.ts'
import { connect } from '../test/sandbox/salesforce/login.ts'

const { values } = parseArgs({ options: { short: { type: 'boolean' }, total: { type: 'string' }, paths: { type: 'string' }, path: { type: 'string' }, url: { type: 'string' }, token: { type: 'string' }, heap: { type: 'string' } } })
const FIELDS = ['FirstName', 'LastName', 'Email', 'Title', 'Cohort_Points__c', 'HasOptedOutOfEmail', 'Birthdate']
const VERSION = '62.0'

if (values.path) {
  // One measurement, in its own process.
  const conn = new jsforce.Connection({ instanceUrl: values.url!, accessToken: values.token!, version: VERSION, callOptions: { client: 'cohort-bridge' } })
  // What the process holds before reading (Node, jsforce, csv-parse loaded): the base of the peak.
  const baseRssMb = Math.round(process.memoryUsage().rss / 1024 / 1024)
  const started = performance.now()
  let records = 0
  let calls = 0
  let bytes = 0
  if (values.path === 'all-in-memory') {
    const all = await queryRecords(conn, `SELECT Id, SystemModstamp, ${FIELDS.join(', ')} FROM Contact ORDER BY Id`, 'read all')
    calls = Math.ceil(all.length / 2000)
    for (const r of all) bytes += JSON.stringify(r).length
    records = all.length
  } else {
    const bulkThreshold = values.path === 'bulk' ? 0 : Number.MAX_SAFE_INTEGER
    for await (const batch of readRecords(conn, { object: 'Contact', fields: FIELDS }, { bulkThreshold, onApiCall: () => void calls++, bulk: { pollMinMs: 50, pollMaxMs: 200 } })) {
      records += batch.length
      // What the load does with a batch: one message per record.
      for (const r of batch) bytes += JSON.stringify(r).length
    }
  }
  const seconds = (performance.now() - started) / 1000
  console.log(JSON.stringify({ path: values.path, records, seconds: Number(seconds.toFixed(2)), perSecond: Math.round(records / seconds), apiCalls: calls, jsonMb: Math.round(bytes / 1024 / 1024), baseRssMb, peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024) }))
} else {
  const total = Number(values.total ?? (values.short ? 50_000 : 200_000))
  const root = fileURLToPath(new URL('..', import.meta.url))
  const standIns = spawn(process.execPath, [`${root}test/helpers/stand-ins-process.ts`], { cwd: root, env: { ...process.env, SANDBOX_SALESFORCE_ORGS: '1', LOG_LEVEL: 'warn' }, stdio: ['pipe', 'pipe', 'inherit'] })
  try {
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: standIns.stdout }).once('line', resolve)
      standIns.once('exit', (code) => reject(new Error(`stand-ins exited with ${code}`)))
    })
    const url = (JSON.parse(line) as { salesforce: string }).salesforce
    for (let done = 0; done < total; done += 10_000) {
      const records = Array.from({ length: Math.min(10_000, total - done) }, (_, k) => {
        const i = done + k
        return { FirstName: i % 4 ? `First${i}` : null, LastName: `Contact ${i}`, Email: `read${i}@example.com`, Title: `Title, "${i}"`, Cohort_Points__c: i % 1000, HasOptedOutOfEmail: i % 2 === 0, Birthdate: '1990-01-15' }
      })
      const res = await fetch(`${url}/__sandbox/records/Contact`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ records, events: false }) })
      if (res.status !== 201) throw new Error(`seeding failed: ${res.status} ${await res.text()}`)
      await res.arrayBuffer()
    }
    const tokens = await connect(url)
    const results: Record<string, unknown>[] = []
    for (const path of (values.paths ?? 'bulk,rest,all-in-memory').split(',')) {
      const heap = values.heap ? [`--max-old-space-size=${values.heap}`] : []
      const run = spawnSync(process.execPath, [...heap, fileURLToPath(import.meta.url), `--path=${path}`, `--url=${tokens.instance_url}`, `--token=${tokens.access_token}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
      if (run.status !== 0) {
        // With --heap, a read that holds everything runs out of memory: that is a result too.
        results.push({ path, failed: `exit ${run.status ?? run.signal}`, heapMb: values.heap ?? null })
        continue
      }
      results.push(JSON.parse(run.stdout.trim().split('\n').pop()!) as Record<string, unknown>)
      process.stderr.write(`${run.stdout.trim()}\n`)
    }
    console.log(JSON.stringify({ contacts: total, results }))
  } finally {
    standIns.kill('SIGTERM')
  }
}

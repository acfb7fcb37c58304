/**
 * Import: change events from the Salesforce stand-in's CometD through the bridge (a CDC
 * subscriber per merchant → salesforce.changes on the real broker → importer → Cohort
 * stand-in) for several merchants on several orgs. The Salesforce and the Cohort stand-in run
 * in a child process each (as they are other systems; `--stand-ins=inline` puts them in this
 * one), the bridge and the benchmark in this process; the broker is the project's own
 * (npm run kafka -- start).
 *
 * Merchant i (0-based) connects org (i mod orgs) + 1, so with more merchants than orgs some
 * share an org (contracts: several merchants may connect the same org), and one Contact change
 * there is one change event for each of them. Every merchant imports Contacts (Email, Title,
 * Cohort_Points__c) in mode `all`.
 *
 * - throughput: N/merchants Contacts created in each org as fast as the stand-in's admin API
 *   takes them (requests of 1,000, the orgs side by side): N CREATE events in all, each a new
 *   Cohort user, from the first request to the last Cohort acknowledgement (with the store
 *   committed). Beside it, in the same run, one bare jsforce/faye subscriber per merchant,
 *   side by side, replaying the same N events: the ceiling CometD delivery sets.
 * - latency at a steady R events/s (default 1,000) across merchants: single-record updates
 *   round the orgs for D seconds, sent from a worker thread (steady-updates.ts); per change and
 *   merchant the bridge-added latency (CometD delivery → Cohort acknowledged and the store
 *   committed) and the end-to-end one (the update request to Salesforce sent → same), p50 and
 *   p99. (The stand-in's commit stamps run ahead of the clock after a burst, being strictly
 *   increasing per millisecond, so the send time stands for the commit time.)
 *
 *   npm run bench -- import              # N = 40,000, D = 30 s, 4 merchants on 2 orgs
 *   npm run bench -- import --short      # N = 10,000, D = 10 s
 *   npm run bench -- import --merchants=6 --orgs=3 --rate=1000 --backend=postgres
 *
 * `--orgs` defaults to SANDBOX_SALESFORCE_ORGS (else 2), `--merchants` to twice the orgs.
 * Options take `=` (bench/run.ts reads a bare word as a benchmark's name).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { Worker } from 'node:worker_threads'
import jsforce from 'jsforce'
import { StreamingExtension } from 'jsforce/lib/api/streaming.js'
import type { Test } from 'tap'
import { orgNumbered } from '../sandbox/salesforce/orgs.ts'
import { importEngines } from '../src/engines.ts'
import { waitFor } from '../test/helpers/index.ts'
import { connectMerchant, salesforceRecords, type TestMerchant } from '../test/helpers/merchant.ts'
import { startStack } from '../test/helpers/stack.ts'
import { startBridgeBesideStandIns, type BridgeBesideStandIns } from './bridge-stack.ts'
import { profile } from './profile.ts'
import type { SteadyUpdates, SteadyUpdatesDone } from './steady-updates.ts'

const { values } = parseArgs({
  options: {
    short: { type: 'boolean' },
    events: { type: 'string' },
    seconds: { type: 'string' },
    rate: { type: 'string' },
    orgs: { type: 'string' },
    merchants: { type: 'string' },
    backend: { type: 'string' },
    'stand-ins': { type: 'string' },
  },
})
const ORGS = Number(values.orgs ?? process.env.SANDBOX_SALESFORCE_ORGS ?? 2)
const MERCHANTS = Number(values.merchants ?? 2 * ORGS)
const PER_MERCHANT = Math.ceil(Number(values.events ?? (values.short ? 10_000 : 40_000)) / MERCHANTS)
const N = PER_MERCHANT * MERCHANTS
const D = Number(values.seconds ?? (values.short ? 10 : 30))
const RATE = Number(values.rate ?? 1000)
const BACKEND = values.backend === 'postgres' ? 'postgres' : 'sqlite'
const STAND_INS = values['stand-ins'] === 'inline' ? 'inline' : 'process'
const CHANNEL = '/data/ContactChangeEvent'
const log = (line: string) => process.stderr.write(`${line}\n`)
if (!(ORGS >= 1 && MERCHANTS >= 1 && N > 0 && D > 0 && RATE > 0)) throw new Error('orgs, merchants, events, seconds and rate must be positive')

const teardowns: Array<() => unknown> = []
const t = { teardown: (fn: () => unknown) => void teardowns.unshift(fn) } as unknown as Test

let ackedCdc = 0
let lastAckAt = 0
let phase: 'throughput' | 'latency' | 'idle' = 'idle'
let firstDelivery = Infinity
let lastDelivery = 0
const bridgeMs: number[] = []
const ackedValues: Array<[value: number, at: number]> = []
const endToEndMs: number[] = []
let peakRss = 0
const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 200)

const components = importEngines({
  importer: {
    onApplied: (_merchantId, outcome) => {
      const now = Date.now()
      for (const m of outcome.applied) {
        if (m.source !== 'cdc') continue
        ackedCdc++
        lastAckAt = performance.now()
        if (phase === 'throughput') {
          firstDelivery = Math.min(firstDelivery, m.receivedAt)
          lastDelivery = Math.max(lastDelivery, m.receivedAt)
        }
        if (phase === 'latency') {
          bridgeMs.push(now - m.receivedAt)
          ackedValues.push([Number(m.fields.Cohort_Points__c), now])
        }
      }
    },
  },
})
const stack: BridgeBesideStandIns = STAND_INS === 'inline'
  ? await startStack(t, { backend: BACKEND, salesforceOrgs: ORGS, env: { LOG_LEVEL: 'warn' }, components })
  : await startBridgeBesideStandIns(t, { backend: BACKEND, orgs: ORGS, components, cohortEvents: true, clientId: 'bench-import' })

// Merchants round the orgs; each org's API user logs in for its merchants.
const orgs = Array.from({ length: ORGS }, (_, i) => orgNumbered(i + 1)).map((org) => ({
  number: org.number,
  username: org.users.find((u) => u.role === 'api')!.username,
  contacts: salesforceRecords(stack, 'Contact', org.number),
  merchants: 0,
  ids: [] as string[],
}))
const merchants: Array<TestMerchant & { org: (typeof orgs)[number] }> = []
for (let i = 0; i < MERCHANTS; i++) {
  const org = orgs[i % ORGS]!
  org.merchants++
  merchants.push({ ...(await connectMerchant(stack, { username: org.username })), org })
}
const importSettings = { enabled: true, object: 'Contact', emailField: 'Email', mode: 'all', fields: [{ field: 'Title' }, { field: 'Cohort_Points__c', property: 'points' }] }
await Promise.all(merchants.map((m) => m.saveImport(importSettings)))
await waitFor(async () => {
  const healths = await Promise.all(merchants.map((m) => m.health()))
  return healths.every((h) => h.cdc === 'streaming' && h.load.state === 'completed')
}, 60_000, 'every merchant streaming')
log(`bridge streaming: ${MERCHANTS} merchants on ${ORGS} orgs (${BACKEND}, stand-ins ${STAND_INS})`)

// Throughput: PER_MERCHANT Contacts per org, each a CREATE event for every merchant of the org.
phase = 'throughput'
const started = performance.now()
log(`throughput phase from ${(started / 1000).toFixed(1)} s`)
await Promise.all(orgs.map(async (org) => {
  for (let done = 0; done < PER_MERCHANT; done += 1000) {
    const batch = Array.from({ length: Math.min(1000, PER_MERCHANT - done) }, (_, i) => ({ LastName: `B${done + i}`, Email: `bench${done + i}@org${org.number}.example.com`, Title: 'x', Cohort_Points__c: done + i }))
    org.ids.push(...(await org.contacts.create(batch)))
  }
}))
const publishedAt = performance.now()
await waitFor(() => ackedCdc >= N, 600_000, `${N} events acknowledged`)
const throughputSeconds = (lastAckAt - started) / 1000
log(`throughput: ${N} events in ${throughputSeconds.toFixed(2)} s (published in ${((publishedAt - started) / 1000).toFixed(2)} s, delivered by CometD over ${((lastDelivery - firstDelivery) / 1000).toFixed(2)} s)`)

// The ceiling: a bare faye subscriber per merchant, side by side, replaying the same events.
const clients: Array<{ disconnect(): void }> = []
let received = 0
let fayeDone = 0
const fayeStarted = performance.now()
for (const merchant of merchants) {
  const conn = await stack.services.connections.get(merchant.merchantId)
  const bare = new jsforce.Connection({ instanceUrl: conn.instanceUrl, accessToken: conn.accessToken!, version: '62.0' })
  const client = bare.streaming.createClient([new StreamingExtension.Replay(CHANNEL, -2)])
  clients.push(client as unknown as { disconnect(): void })
  client.subscribe(CHANNEL, () => {
    if (++received === N) fayeDone = performance.now()
  })
}
await waitFor(() => fayeDone > 0, 300_000, 'bare faye subscribers')
for (const client of clients) client.disconnect()
const fayeSeconds = (fayeDone - fayeStarted) / 1000
log(`bare faye: ${N} events to ${MERCHANTS} subscribers in ${fayeSeconds.toFixed(2)} s`)

// Latency at a steady rate: RATE events/s across merchants, sent from a worker thread
// (steady-updates.ts). The bridge's event loop is watched meanwhile: its stalls (GC, SQLite
// calls, the faye client, kafkajs) are part of the tail.
phase = 'latency'
const loopDelay = monitorEventLoopDelay({ resolution: 5 })
loopDelay.enable()
const ackedBefore = ackedCdc
log(`latency phase from ${(performance.now() / 1000).toFixed(1)} s`)
const FIRST_VALUE = 1_000_000
const load: SteadyUpdates = { salesforceUrl: stack.salesforce.url, orgs: orgs.map((o) => ({ number: o.number, ids: o.ids, merchants: o.merchants })), rate: RATE, seconds: D, firstValue: FIRST_VALUE }
// BENCH_PROFILE=dir: a CPU profile of this thread over the latency phase (bench/profile.ts).
const done = await profile('import-latency', async () => {
  const finished = await new Promise<SteadyUpdatesDone>((resolve, reject) => {
    const worker = new Worker(new URL('./steady-updates.ts', import.meta.url), { workerData: load })
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  if (finished.failed > 0) throw new Error(`${finished.failed} updates failed`)
  await waitFor(() => ackedCdc - ackedBefore >= finished.expected, 120_000, 'latency events acknowledged')
  return finished
})
const expected = done.expected
phase = 'idle'
loopDelay.disable()
const sentAt = new Map(done.sentAt)
for (const [value, at] of ackedValues) {
  const sent = sentAt.get(value)
  if (sent !== undefined) endToEndMs.push(at - sent)
}

const pct = (xs: number[], p: number) => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0
}
clearInterval(rssTimer)
for (const fn of teardowns) await fn()

console.log(JSON.stringify({
  backend: BACKEND,
  standIns: STAND_INS,
  merchants: MERCHANTS,
  orgs: ORGS,
  events: N,
  importPerSecond: Math.round(N / throughputSeconds),
  bareFayePerSecond: Math.round(N / fayeSeconds),
  ratioToBareFaye: Number((fayeSeconds / throughputSeconds).toFixed(2)),
  latencyEvents: expected,
  latencyRate: Math.round(expected / done.seconds),
  bridgeP50Ms: pct(bridgeMs, 50),
  bridgeP99Ms: pct(bridgeMs, 99),
  endToEndP50Ms: pct(endToEndMs, 50),
  endToEndP99Ms: pct(endToEndMs, 99),
  eventLoopDelayP99Ms: Math.round(loopDelay.percentile(99) / 1e6),
  eventLoopDelayMaxMs: Math.round(loopDelay.max / 1e6),
  peakRssMb: Math.round(peakRss / 1024 / 1024),
}))
process.exit(0)

/**
 * Import, first figures: change events from the Salesforce stand-in's CometD through the
 * bridge (CDC subscriber → salesforce.changes on the real broker → importer → Cohort stand-in)
 * for one merchant. Stand-ins, bridge (SQLite store) and the benchmark share one process; the
 * broker is the project's own (npm run kafka -- start).
 *
 * - throughput: N Contacts created as fast as the stand-in's admin API takes them (requests of
 *   1,000; each a CREATE event → a new Cohort user), from the first request to the last
 *   Cohort acknowledgement; beside it, in the same run, a bare jsforce/faye subscriber
 *   replaying the same N events: the ceiling CometD delivery sets.
 * - latency at a steady 500 events/s: single-record updates for D seconds; per change the
 *   bridge-added latency (CometD delivery → Cohort acknowledged and the store committed) and
 *   the end-to-end one (the update request to Salesforce sent → same), p50 and p99. (The
 *   stand-in's commit stamps run ahead of the clock after a burst, being strictly increasing
 *   per millisecond, so the send time stands for the commit time.)
 *
 *   npm run bench -- import            # N = 20,000, D = 30 s
 *   npm run bench -- import --short    # N = 5,000,  D = 10 s
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import jsforce from 'jsforce'
import { StreamingExtension } from 'jsforce/lib/api/streaming.js'
import type { Test } from 'tap'
import { importEngines } from '../src/engines.ts'
import { waitFor } from '../test/helpers/index.ts'
import { connectMerchant, salesforceRecords } from '../test/helpers/merchant.ts'
import { startStack } from '../test/helpers/stack.ts'

const { values } = parseArgs({ options: { short: { type: 'boolean' }, events: { type: 'string' }, seconds: { type: 'string' }, rate: { type: 'string' } } })
const N = Number(values.events ?? (values.short ? 5_000 : 20_000))
const D = Number(values.seconds ?? (values.short ? 10 : 30))
const RATE = Number(values.rate ?? 500)
const CHANNEL = '/data/ContactChangeEvent'
const log = (line: string) => process.stderr.write(`${line}\n`)

const teardowns: Array<() => unknown> = []
const t = { teardown: (fn: () => unknown) => void teardowns.unshift(fn) } as unknown as Test

let ackedCdc = 0
let lastAckAt = 0
let phase: 'throughput' | 'latency' | 'idle' = 'idle'
const bridgeMs: number[] = []
const sentAtOf = new Map<number, number>()
const endToEndMs: number[] = []
let peakRss = 0
const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 200)

const stack = await startStack(t, {
  env: { LOG_LEVEL: 'warn' },
  components: importEngines({
    importer: {
      onApplied: (_merchantId, outcome) => {
        const now = Date.now()
        for (const m of outcome.applied) {
          if (m.source !== 'cdc') continue
          ackedCdc++
          lastAckAt = performance.now()
          if (phase === 'latency') {
            bridgeMs.push(now - m.receivedAt)
            const sentAt = sentAtOf.get(Number(m.fields.Cohort_Points__c))
            if (sentAt !== undefined) endToEndMs.push(now - sentAt)
          }
        }
      },
    },
  }),
})
const merchant = await connectMerchant(stack)
const contacts = salesforceRecords(stack, 'Contact')
await merchant.saveImport({ enabled: true, object: 'Contact', emailField: 'Email', mode: 'all', fields: [{ field: 'Title' }, { field: 'Cohort_Points__c', property: 'points' }] })
await waitFor(async () => (await merchant.health()).cdc === 'streaming' && (await merchant.health()).load.state === 'completed', 30_000, 'streaming')
log('bridge streaming')

// Throughput.
phase = 'throughput'
const started = performance.now()
const ids: string[] = []
for (let done = 0; done < N; done += 1000) {
  const batch = Array.from({ length: Math.min(1000, N - done) }, (_, i) => ({ LastName: `B${done + i}`, Email: `bench${done + i}@example.com`, Title: 'x', Cohort_Points__c: done + i }))
  ids.push(...(await contacts.create(batch)))
}
const publishedAt = performance.now()
await waitFor(() => ackedCdc >= N, 300_000, `${N} events acknowledged`)
const throughputSeconds = (lastAckAt - started) / 1000
log(`throughput: ${N} events in ${throughputSeconds.toFixed(2)} s (published in ${((publishedAt - started) / 1000).toFixed(2)} s)`)

// The ceiling: a bare faye subscriber replaying the same events.
const conn = await stack.services.connections.get(merchant.merchantId)
const bare = new jsforce.Connection({ instanceUrl: conn.instanceUrl, accessToken: conn.accessToken!, version: '62.0' })
const client = bare.streaming.createClient([new StreamingExtension.Replay(CHANNEL, -2)])
let received = 0
const fayeStarted = performance.now()
let fayeDone = 0
client.subscribe(CHANNEL, () => {
  if (++received === N) fayeDone = performance.now()
})
await waitFor(() => fayeDone > 0, 300_000, 'bare faye subscriber')
;(client as unknown as { disconnect(): void }).disconnect()
const fayeSeconds = (fayeDone - fayeStarted) / 1000
log(`bare faye: ${N} events in ${fayeSeconds.toFixed(2)} s`)

// Latency at a steady rate: RATE single-record updates per second, in ticks of 20 ms.
phase = 'latency'
// Everything shares one event loop (stand-ins, bridge, SQLite calls): its stalls are part of the tail.
const loopDelay = monitorEventLoopDelay({ resolution: 5 })
loopDelay.enable()
const ackedBefore = ackedCdc
const perTick = Math.max(1, Math.round(RATE / 50))
const ticks = D * 50
const latencyStarted = performance.now()
let sent = 0
for (let tick = 0; tick < ticks; tick++) {
  const due = latencyStarted + tick * 20
  const wait = due - performance.now()
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
  await Promise.all(Array.from({ length: perTick }, () => {
    const value = 1_000_000 + sent
    sentAtOf.set(value, Date.now())
    return contacts.update(ids[sent++ % ids.length]!, { Cohort_Points__c: value })
  }))
}
const achievedRate = sent / ((performance.now() - latencyStarted) / 1000)
await waitFor(() => ackedCdc - ackedBefore >= sent, 120_000, 'latency events acknowledged')
phase = 'idle'
loopDelay.disable()

const pct = (xs: number[], p: number) => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0
}
clearInterval(rssTimer)
for (const fn of teardowns) await fn()

console.log(JSON.stringify({
  events: N,
  importPerSecond: Math.round(N / throughputSeconds),
  bareFayePerSecond: Math.round(N / fayeSeconds),
  ratioToBareFaye: Number((fayeSeconds / throughputSeconds).toFixed(2)),
  latencyEvents: sent,
  latencyRate: Math.round(achievedRate),
  bridgeP50Ms: pct(bridgeMs, 50),
  bridgeP99Ms: pct(bridgeMs, 99),
  endToEndP50Ms: pct(endToEndMs, 50),
  endToEndP99Ms: pct(endToEndMs, 99),
  eventLoopDelayP99Ms: Math.round(loopDelay.percentile(99) / 1e6),
  eventLoopDelayMaxMs: Math.round(loopDelay.max / 1e6),
  peakRssMb: Math.round(peakRss / 1024 / 1024),
}))
process.exit(0)

/**
 * Export: Cohort user events from Kafka to Salesforce, side by side in one run. The Salesforce
 * and the Cohort stand-in run in a child process each (bench/bridge-stack.ts, as in the import
 * benchmark: they are other systems, so Salesforce's work on each write must not run on the
 * bridge's event loop; `--stand-ins=inline` puts them in this process, the layout before
 * 2026-12-02 07:00); the bridge (SQLite store) and the benchmark share this process; the broker
 * is the project's own (npm run kafka -- start). One merchant, U Cohort users, each with a Contact of the same email
 * in the Salesforce stand-in; N `user.properties.updated` events, N / U per user in version
 * order (round robin over the users, so a user's changes are spread over the whole stream),
 * each setting `points` (→ `Cohort_Points__c`), every fifth also `tier` (→ `Loyalty_Tier__c`).
 * The events are built before the clock starts and produced through the project's producer
 * (`kafka.produce` of 500, 20 calls in flight) as fast as Kafka takes them, from a worker
 * thread (bench/produce-worker.ts; `--producer=inline` on the main thread, as before
 * 2026-12-02 05:30), the same way for the bare consumer and for the engine.
 *
 * - bare: a bare kafkajs consumer (own group, `eachBatch`, counts the messages and does nothing
 *   else) joined on an empty topic; the events are then produced to it. From the first event
 *   produced to the last one read.
 * - naive: the simplest exporter one would write (in this file only): a kafkajs `eachMessage`
 *   consumer (default settings) that sends one REST `PATCH /sobjects/Contact/{id}` per event,
 *   awaited, with the record id handed to it up front (no lookups at all). It reads the bare
 *   run's topic. Capped at `--naive-seconds` (default 30 s) and `--naive-events` (default 40,000: the
 *   stand-in's org allows 100,000 API calls a day, and the engine needs some); the short run
 *   (20,000 events) is not capped. Its
 *   time and calls for all N are extrapolated from its rate: it makes one call per event.
 *
 * - engine: the bridge's export engines (src/engines.ts `exportEngines()`: the exporter and the
 *   backfill) with export turned on (mode `existing`, both mappings). Turning it on backfills
 *   every user first (not timed); then one warm-up event proves the group consumes, and the
 *   clock starts: the N events are produced to the Cohort events topic, and the run ends when
 *   every Contact shows its user's last `points` value, as Salesforce shows it: a CometD
 *   subscriber on `/data/ContactChangeEvent` on a worker thread (bench/visibility-worker.ts;
 *   a change event is published once a write is committed), or with `--stand-ins=inline` the
 *   in-process stand-in's feed of committed changes (as before). Salesforce calls are the stand-in's counters over that window: write
 *   calls (sObject Collections) and every API call the bridge made.
 *
 *   npm run bench -- export            # N = 200,000, U = 10,000
 *   npm run bench -- export --short    # N = 20,000,  U = 1,000
 *
 * For experiments: --events N, --users U, --naive-seconds S, --producer=inline, --stand-ins=inline, --order=grouped (each user's changes
 * one after another instead of round robin: the best case for coalescing), --write-latency-ms=L (every
 * collections write of the engine phase answered L ms later, the stand-in's `latency` fault: a real org
 * takes 100–300 ms), --drain-depth=D (the exporter's pages in flight while it drains).
 */
import { parseArgs } from 'node:util'
import { Worker } from 'node:worker_threads'
import { Kafka, logLevel } from 'kafkajs'
import type { Test } from 'tap'
import { exportEngines } from '../src/engines.ts'
import { kafkaBrokers, randomName, waitFor } from '../test/helpers/index.ts'
import { connectMerchant, salesforceRecords } from '../test/helpers/merchant.ts'
import { startStack } from '../test/helpers/stack.ts'
import { startBridgeBesideStandIns, type BridgeBesideStandIns } from './bridge-stack.ts'
import { produceEvents } from './produce-events.ts'
import { profile } from './profile.ts'
import type { ProduceJob } from './produce-worker.ts'
import type { VisibilityJob } from './visibility-worker.ts'

const { values } = parseArgs({ options: { producer: { type: 'string' }, short: { type: 'boolean' }, events: { type: 'string' }, users: { type: 'string' }, 'naive-seconds': { type: 'string' }, 'naive-events': { type: 'string' }, order: { type: 'string' }, 'stand-ins': { type: 'string' }, 'write-latency-ms': { type: 'string' }, 'drain-depth': { type: 'string' } } })
const N = Number(values.events ?? (values.short ? 20_000 : 200_000))
const U = Number(values.users ?? (values.short ? 1_000 : 10_000))
const NAIVE_SECONDS = Number(values['naive-seconds'] ?? (values.short ? Number.POSITIVE_INFINITY : 30))
// The stand-in's org allows 100,000 API calls a day: the naive exporter leaves most of them to the engine.
const NAIVE_EVENTS = Number(values['naive-events'] ?? 40_000)
/** `interleaved` (default): round robin over the users; `grouped`: each user's changes one after another. */
const ORDER = values.order ?? 'interleaved'
if (ORDER !== 'interleaved' && ORDER !== 'grouped') throw new Error('--order is interleaved or grouped')
/** `worker` (default): the events are produced from a worker thread; `inline`: on the bridge's thread. */
const PRODUCER = values.producer ?? 'worker'
if (PRODUCER !== 'worker' && PRODUCER !== 'inline') throw new Error('--producer is worker or inline')
/** `process` (default): the stand-ins in child processes; `inline`: in this process. */
const STAND_INS = values['stand-ins'] ?? 'process'
if (STAND_INS !== 'process' && STAND_INS !== 'inline') throw new Error('--stand-ins is process or inline')
/** Added to every collections write of the engine phase (the stand-in's `latency` fault): a real org answers in 100–300 ms, the stand-in in a few. */
const WRITE_LATENCY_MS = Number(values['write-latency-ms'] ?? 0)
/** The exporter's pages in flight while it drains (ExporterOptions.drainDepth; default its own). */
const DRAIN_DEPTH = values['drain-depth'] === undefined ? undefined : Number(values['drain-depth'])
const engines = exportEngines(DRAIN_DEPTH === undefined ? {} : { exporter: { drainDepth: DRAIN_DEPTH } })
const PER_CALL = 500
const IN_FLIGHT = 20
const TIERS = ['Bronze', 'Silver', 'Gold', 'Platinum']
const log = (line: string) => process.stderr.write(`${line}\n`)
const round2 = (x: number) => Number(x.toFixed(2))

const teardowns: Array<() => unknown> = []
const t = { teardown: (fn: () => unknown) => void teardowns.unshift(fn) } as unknown as Test

const inlineStack = STAND_INS === 'inline' ? await startStack(t, { env: { LOG_LEVEL: 'warn' }, cohortEvents: false, components: engines }) : null
const stack: BridgeBesideStandIns = inlineStack ?? await startBridgeBesideStandIns(t, { backend: 'sqlite', orgs: 2, components: engines, cohortEvents: false, clientId: 'bench-export' })
const { kafka } = stack.services
const merchant = await connectMerchant(stack)
const { merchantId } = merchant

// Cohort: the mapped properties, then U users (no events: the benchmark makes its own).
const cohortApi = (path: string, body: unknown) => fetch(`${stack.cohort.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer sandbox-cohort-token' }, body: JSON.stringify(body) })
for (const property of [{ key: 'points', name: 'Points', type: 'number' }, { key: 'tier', name: 'Tier', type: 'text' }]) {
  const res = await cohortApi(`/internal/merchants/${merchantId}/user-properties`, property)
  if (res.status !== 201) throw new Error(`creating the property ${property.key}: ${res.status} ${await res.text()}`)
}
const emails = Array.from({ length: U }, (_, i) => `export${i}@example.com`)
const seeded = await cohortApi(`/__sandbox/merchants/${merchantId}/users`, { users: emails.map((email) => ({ email, properties: { points: 0, tier: 'Bronze' } })), events: false })
const userIds = ((await seeded.json()) as { ids: string[] }).ids
if (userIds.length !== U) throw new Error(`seeded ${userIds.length} Cohort users, not ${U}`)
const contactIds = await salesforceRecords(stack, 'Contact').create(emails.map((Email, i) => ({ LastName: `Export ${i}`, Email, Cohort_Points__c: 0, Loyalty_Tier__c: 'Bronze' })), false)
const recordOf = new Map(userIds.map((id, i) => [id, contactIds[i]!]))
log(`export: ${N.toLocaleString('en-US')} events over ${U.toLocaleString('en-US')} users; seeded`)

// The events, in production order: round j gives every user its j-th change.
const perUser = Math.ceil(N / U)
const occurredAt = new Date().toISOString()
const valueOf = (user: number, round: number) => user * 1000 + round
const events: { key: string; value: string }[] = []
for (let round = 1; round <= perUser && events.length < N; round++) {
  for (let user = 0; user < U && events.length < N; user++) {
    const properties: Record<string, unknown> = { points: valueOf(user, round) }
    if (round % 5 === 0) properties.tier = TIERS[(user + round) % TIERS.length]
    const userId = userIds[user]!
    // Versions from 3: the users are at version 1 (the backfill's), the warm-up event is 2.
    const event = { id: `evt_${user}_${round}`, type: 'user.properties.updated', merchantId, userId, email: emails[user], occurredAt, version: round + 2, properties, source: 'dashboard' }
    events.push({ key: `${merchantId}:${userId}`, value: JSON.stringify(event) })
  }
}
// Grouped: the same events (per user still in version order), user after user.
if (ORDER === 'grouped') events.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))

/**
 * Producing all events to `topic`, readied before the clock starts: `go()` sends them and
 * resolves with the seconds it took. On a worker thread by default (bench/produce-worker.ts:
 * Cohort's systems are not the bridge's), `--producer=inline` on this thread.
 */
async function readyProducer(topic: string): Promise<{ go(): Promise<number> }> {
  if (PRODUCER === 'inline') {
    return { go: () => produceEvents(kafka, topic, events, PER_CALL, IN_FLIGHT) }
  }
  const job: ProduceJob = { brokers: kafkaBrokers, topic, events, perCall: PER_CALL, inFlight: IN_FLIGHT }
  const worker = new Worker(new URL('./produce-worker.ts', import.meta.url), { workerData: job })
  const failed = new Promise<never>((_, reject) => worker.once('error', reject))
  await Promise.race([new Promise((resolve) => worker.once('message', resolve)), failed])
  return {
    async go() {
      const done = new Promise<{ seconds: number }>((resolve) => worker.once('message', resolve))
      worker.postMessage('go')
      const { seconds } = await Promise.race([done, failed])
      await worker.terminate()
      return seconds
    },
  }
}

const bareKafka = new Kafka({ clientId: 'bench-export-bare', brokers: kafkaBrokers, logLevel: logLevel.NOTHING })
const partitions = stack.config.kafka.partitions
const benchTopic = randomName('bench.export')
await kafka.ensureTopics([{ topic: benchTopic, numPartitions: partitions }])
teardowns.unshift(() => kafka.deleteTopics([benchTopic]).catch(() => undefined))

// (a) The bare consumer, joined before the first event is produced.
const bare = await (async () => {
  const consumer = bareKafka.consumer({ groupId: randomName('bench.export-bare') })
  await consumer.connect()
  await consumer.subscribe({ topic: benchTopic, fromBeginning: true })
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()))
  let read = 0
  let lastReadAt = 0
  let done: () => void = () => undefined
  const finished = new Promise<void>((resolve) => (done = resolve))
  await consumer.run({
    eachBatch: async ({ batch }) => {
      read += batch.messages.length
      lastReadAt = performance.now()
      if (read >= N) done()
    },
  })
  await joined
  const producer = await readyProducer(benchTopic)
  globalThis.gc?.()
  const started = performance.now()
  const producedSeconds = await producer.go()
  await finished
  await consumer.disconnect()
  const seconds = (lastReadAt - started) / 1000
  log(`bare consumer: ${N} events in ${seconds.toFixed(2)} s (produced in ${producedSeconds.toFixed(2)} s)`)
  return { seconds: round2(seconds), producedSeconds: round2(producedSeconds), eventsPerSecond: Math.round(N / seconds), produceEventsPerSecond: Math.round(N / producedSeconds) }
})()

// (b) The naive exporter: one PATCH per event, awaited, as its consumer delivers them.
const naive = await (async () => {
  const connection = await stack.services.connections.get(merchantId)
  const base = `${connection.instanceUrl}/services/data/v${stack.config.salesforce.apiVersion}/sobjects/Contact`
  const headers = { authorization: `Bearer ${connection.accessToken}`, 'content-type': 'application/json' }
  const consumer = bareKafka.consumer({ groupId: randomName('bench.export-naive') })
  await consumer.connect()
  await consumer.subscribe({ topic: benchTopic, fromBeginning: true })
  let written = 0
  let failed = 0
  let started = 0
  let stopping = false
  let done: () => void = () => undefined
  const finished = new Promise<void>((resolve) => (done = resolve))
  await consumer.run({
    eachMessage: async ({ message }) => {
      if (stopping) return
      if (started === 0) started = performance.now()
      const event = JSON.parse(String(message.value)) as { userId: string; properties: { points: number; tier?: string } }
      const fields: Record<string, unknown> = { Cohort_Points__c: event.properties.points }
      if (event.properties.tier !== undefined) fields.Loyalty_Tier__c = event.properties.tier
      const res = await fetch(`${base}/${recordOf.get(event.userId)}`, { method: 'PATCH', headers, body: JSON.stringify(fields) })
      await res.arrayBuffer()
      if (res.status === 204) written++
      else failed++
      if (written + failed >= Math.min(N, NAIVE_EVENTS) || performance.now() - started >= NAIVE_SECONDS * 1000) {
        stopping = true
        done()
      }
    },
  })
  await finished
  const seconds = (performance.now() - started) / 1000
  await consumer.disconnect()
  const processed = written + failed
  const eventsPerSecond = processed / seconds
  const capped = processed < N
  log(`naive exporter: ${processed} events in ${seconds.toFixed(2)} s (${failed} failed)${capped ? `, capped; all ${N} would take ${(N / eventsPerSecond).toFixed(0)} s` : ''}`)
  return { events: processed, seconds: round2(seconds), capped, failed, eventsPerSecond: Math.round(eventsPerSecond), writeCalls: processed, writeCallsForAll: N, secondsForAll: Math.round(N / eventsPerSecond) }
})()

/**
 * Watching Salesforce for each record's final `points` value: `warm` once `warmId` shows
 * `warmValue`, `visible` records at their final value, the last at `lastVisibleAt`
 * (`performance.timeOrigin + now()`). Through CometD from a worker (bench/visibility-worker.ts)
 * when the stand-ins run apart, the in-process stand-in's change feed with `--stand-ins=inline`.
 */
async function watchVisibility(finals: VisibilityJob['finals'], warmId: string, warmValue: number) {
  const state = { warm: false, visible: 0, lastVisibleAt: 0, stop: async (): Promise<void> => undefined }
  if (inlineStack) {
    const finalOf = new Map(finals)
    const done = new Set<string>()
    const unsubscribe = inlineStack.salesforce.onChange((change) => {
      const points = change.values.Cohort_Points__c
      if (typeof points !== 'number') return
      for (const id of change.recordIds) {
        if (id === warmId && points === warmValue) state.warm = true
        if (!done.has(id) && finalOf.get(id) === points) {
          done.add(id)
          state.visible++
          state.lastVisibleAt = performance.timeOrigin + performance.now()
        }
      }
    })
    state.stop = async () => unsubscribe()
    return state
  }
  const connection = await stack.services.connections.get(merchantId)
  const job: VisibilityJob = { instanceUrl: connection.instanceUrl, accessToken: connection.accessToken!, apiVersion: stack.config.salesforce.apiVersion, channel: '/data/ContactChangeEvent', field: 'Cohort_Points__c', finals, warmId, warmValue }
  const worker = new Worker(new URL('./visibility-worker.ts', import.meta.url), { workerData: job })
  const failed = new Promise<never>((_, reject) => worker.once('error', reject))
  const ready = new Promise<void>((resolve) => {
    worker.on('message', (m: { ready?: true; warm?: true; visible?: number; lastVisibleAt?: number }) => {
      if (m.ready) resolve()
      if (m.warm) state.warm = true
      if (m.visible !== undefined) {
        state.visible = m.visible
        state.lastVisibleAt = m.lastVisibleAt!
      }
    })
  })
  await Promise.race([ready, failed])
  state.stop = async () => void (await worker.terminate())
  return state
}

// (c) The export engine, on the stack's own Cohort events topic.
const engine = await (async () => {
  const sfStats = async () => (await (await fetch(`${stack.salesforce.url}/__sandbox/stats`)).json()) as { apiCalls: { byEndpoint: Record<string, number>; byClient: Record<string, number> } }
  const writes = (s: Awaited<ReturnType<typeof sfStats>>) => Object.entries(s.apiCalls.byEndpoint).filter(([k]) => k.includes('/composite/sobjects')).reduce((a, [, n]) => a + n, 0)
  const bridgeCalls = (s: Awaited<ReturnType<typeof sfStats>>) => s.apiCalls.byClient[stack.config.salesforce.clientName] ?? 0
  const imported = await merchant.api('PUT', '/import', { enabled: true, object: 'Contact', emailField: 'Email', mode: 'existing', fields: [] })
  if (imported.status !== 200) throw new Error(`PUT import: ${imported.status} ${JSON.stringify(imported.body)}`)
  const backfillStarted = performance.now()
  const saved = await merchant.api('PUT', '/export', { enabled: true, cohortUserIdField: 'Cohort_User_Id__c', mode: 'existing', mappings: [{ property: 'points', field: 'Cohort_Points__c' }, { property: 'tier', field: 'Loyalty_Tier__c' }] })
  if (saved.status !== 200) throw new Error(`PUT export: ${saved.status} ${JSON.stringify(saved.body)}`)
  await waitFor(async () => (await merchant.health()).exportBackfill.state === 'completed', 600_000, 'the backfill')
  const backfillSeconds = (performance.now() - backfillStarted) / 1000
  log(`backfill of ${U} users: ${backfillSeconds.toFixed(2)} s`)

  // Which Contact shows its user's last value (the warm-up's -1 on the first one), as Salesforce shows it.
  const finals: VisibilityJob['finals'] = []
  for (let user = 0; user < U; user++) {
    const rounds = Math.floor(N / U) + (user < N % U ? 1 : 0)
    finals.push([contactIds[user]!, valueOf(user, rounds)])
  }
  const watch = await watchVisibility(finals, contactIds[0]!, -1)
  await kafka.produce(stack.topics.cohortEvents, [{ key: `${merchantId}:${userIds[0]}`, value: JSON.stringify({ id: 'evt_warm', type: 'user.properties.updated', merchantId, userId: userIds[0], email: emails[0], occurredAt, version: 2, properties: { points: -1 }, source: 'dashboard' }) }])
  await waitFor(() => watch.warm, 60_000, 'the warm-up event in Salesforce')
  if (WRITE_LATENCY_MS > 0) {
    const res = await fetch(`${stack.salesforce.url}/__sandbox/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'latency', latencyMs: WRITE_LATENCY_MS, count: 1_000_000, match: '/^(PATCH|POST) .*composite.sobjects/' }) })
    if (!res.ok) throw new Error(`the latency fault: ${res.status} ${await res.text()}`)
  }
  const before = await sfStats()
  const producer = await readyProducer(stack.topics.cohortEvents)
  globalThis.gc?.()
  const started = performance.timeOrigin + performance.now()
  // BENCH_PROFILE=dir: a CPU profile of this thread over the timed window (bench/profile.ts).
  const producedSeconds = await profile('export-engine', async () => {
    const produced = await producer.go()
    await waitFor(() => watch.visible >= U, 600_000, `every Contact at its last value (${watch.visible} of ${U})`)
    return produced
  })
  const seconds = (watch.lastVisibleAt - started) / 1000
  await watch.stop()
  // Quiet for a moment: nothing more is written once the last values are in.
  await new Promise((resolve) => setTimeout(resolve, 1_000))
  const after = await sfStats()
  const writeCalls = writes(after) - writes(before)
  const apiCalls = bridgeCalls(after) - bridgeCalls(before)
  log(`engine: ${N} events in ${seconds.toFixed(2)} s (produced in ${producedSeconds.toFixed(2)} s), ${writeCalls} write calls, ${apiCalls} API calls`)
  return { seconds: round2(seconds), producedSeconds: round2(producedSeconds), eventsPerSecond: Math.round(N / seconds), writeCalls, apiCalls, backfillSeconds: round2(backfillSeconds) }
})()

for (const fn of teardowns) await fn()

console.log(JSON.stringify({
  bench: 'export',
  order: ORDER,
  writeLatencyMs: WRITE_LATENCY_MS,
  drainDepth: DRAIN_DEPTH ?? 'default',
  producer: PRODUCER,
  standIns: STAND_INS,
  events: N,
  users: U,
  partitions,
  bare,
  naive,
  engine,
  engineToBare: Number((engine.eventsPerSecond / bare.eventsPerSecond).toFixed(2)),
  naiveToBare: Number((naive.eventsPerSecond / bare.eventsPerSecond).toFixed(3)),
  writeCallTarget: 2 * Math.ceil(U / 200),
  targets: { eventsPerSecond: engine.eventsPerSecond >= 20_000, ratioToBare: engine.eventsPerSecond >= 0.5 * bare.eventsPerSecond, writeCalls: engine.writeCalls <= 2 * Math.ceil(U / 200) },
  rssMb: Math.round(process.memoryUsage().rss / 1024 / 1024),
}))
process.exit(0)

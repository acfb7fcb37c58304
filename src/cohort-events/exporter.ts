/**
 * The exporter: consumer group `{prefix}.export` on `cohort.user-events` (issue #12, flow 1–5).
 *
 * A Kafka batch (one partition) is parsed (event.ts; what does not parse goes to the DLQ),
 * split per merchant, and each merchant's events go to its lane: skipped and counted when the
 * merchant has no connection or export is off; `source: "salesforce"` values and unmapped
 * properties dropped; `user.deleted` makes the bridge forget the user (after the lane's write
 * in flight, so nothing is written back after it); the rest coalesced per user (coalesce.ts).
 * A lane has at most one write in flight: it flushes ≤ 200 users (export.ts) when 200 are
 * pending or the oldest pending change is `EXPORT_LINGER_MS` old; changes arriving meanwhile
 * keep coalescing. The batch handler resolves (and its offsets move) only once every event of
 * the batch is applied, recorded as a per-record error, parked, or dead-lettered.
 *
 * Pause: a flush that meets `REQUEST_LIMIT_EXCEEDED`, the API budget spent, or a connection
 * that needs re-authorisation pauses the merchant on every instance (`setExportPause`): its
 * pending changes are parked in the store, coalesced per user, so offsets move on and other
 * merchants keep flowing; new events of the merchant are parked too. When the pause ends (its
 * `until`, a reconnect, or cleared elsewhere: a sweep looks every few seconds) the lane drains
 * the parked changes first, then takes new events again. `health.export` and a status message
 * of kind `export` say so.
 */
import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import { LRUCache } from 'lru-cache'
import { createComponent, type Component } from '../component.ts'
import { AppError } from '../errors.ts'
import { splitByMerchant, type BatchPayload, type KafkaConsumer } from '../kafka/index.ts'
import type { Services } from '../services.ts'
import type { Settings } from '../settings/index.ts'
import type { ParkChange, ParkedChange } from '../store/index.ts'
import { createCoalescer, mergeChange, type Coalescer, type PendingEntry, type PendingValue, type UserChange } from './coalesce.ts'
import { parseUserEvent, type UserEvent } from './event.ts'
import { exportChanges, type ExportOptions, type ExportOutcome, type ExportPauseRequest } from './export.ts'
import { createExportMetrics } from './metrics.ts'

export interface ExporterOptions {
  /** Records per flush. Default 200 (the collections limit). */
  flushSize?: number
  /**
   * Users a lane may hold in memory while its writes lag behind; past it the lane spills:
   * what it holds and what arrives go to the store's parked changes (coalesced per user
   * there), its batches' offsets move on, and it drains the parked changes 200 at a time.
   * So a burst over many users costs about one write per user. Default 5 × flushSize.
   */
  spillAt?: number
  /**
   * Pages of parked changes in flight at once while a lane drains (the next page is read and
   * readied while the previous one is written). Default 2.
   */
  drainDepth?: number
  /** Partitions handled at once. Default KAFKA_PARTITIONS. */
  partitionsConsumedConcurrently?: number
  /** How often paused merchants and parked changes are looked at. Default 2,000 ms. */
  sweepMs?: number
  /** Backoff of the collections calls. */
  retry?: ExportOptions['retry']
  /** Called after each flush (tests, benchmarks). */
  onFlushed?: (merchantId: string, outcome: ExportOutcome) => void
}

export interface ExporterHealth {
  merchantId: string
  state: 'running' | 'paused' | 'draining'
  pending: number
}

export interface Exporter extends Component {
  /** Lanes of this instance (merchants seen since start). */
  lanes(): ExporterHealth[]
  /** Look at paused merchants and parked changes now (also runs every `sweepMs`). */
  sweep(): Promise<void>
}

/** Reserved keys of a parked entry beside the Cohort properties (which start with a letter). */
const PARKED_EMAIL = '@email'
const PARKED_ENSURE = '@ensure'

interface Lane {
  merchantId: string
  coalescer: Coalescer
  state: 'running' | 'paused' | 'draining'
  pause: ExportPauseRequest | null
  /** Users in the write in flight. */
  inflight: number
  busy: boolean
  /** The pump's run, while busy. */
  running: Promise<void>
  timer: NodeJS.Timeout | undefined
  forgets: Array<{ userId: string; settle: (error?: unknown) => void }>
  reported: { pending: number; at: number }
}

interface MerchantContext {
  settings: Settings
  connected: boolean
  /** A stored connection exists (forgetting a user matters). */
  known: boolean
}

/** A Cohort event → the change it asks of export, or null when nothing of it is exported. */
export function changeOf(event: UserEvent, settings: Settings): UserChange | null {
  const mapped = new Set(settings.export.mappings.map((m) => m.property))
  const properties: Record<string, PendingValue> = {}
  // A value the bridge imported from Salesforce (`source: "salesforce"`) takes part like any
  // other (it supersedes older pending values) but is written back only if Salesforce holds
  // another value for the field (export.ts: equal to the field state → not written): that
  // happens only when a concurrent edit crossed it, and writing it makes both sides equal.
  const occurredAt = new Date(event.occurredAt)
  for (const [property, value] of Object.entries(event.properties)) {
    if (mapped.has(property)) properties[property] = { value, version: event.version, occurredAt, ...(event.source === 'salesforce' ? { fromSalesforce: true } : {}) }
  }
  const ensure = event.type === 'user.created' && settings.export.mode === 'all' && event.source !== 'salesforce'
  if (Object.keys(properties).length === 0 && !ensure) return null
  return { userId: event.userId, email: event.email ?? null, emailVersion: event.version, properties, ensure }
}

/** Parked form of a change: properties with their `occurredAt`, plus the email and `ensure`. */
export function toParked(change: UserChange): ParkChange {
  const properties: ParkChange['properties'] = {}
  for (const [property, p] of Object.entries(change.properties)) properties[property] = { value: { v: p.value, at: p.occurredAt.toISOString() }, version: p.version }
  if (change.email) properties[PARKED_EMAIL] = { value: { v: change.email }, version: change.emailVersion ?? 0 }
  if (change.ensure) properties[PARKED_ENSURE] = { value: { v: true }, version: 0 }
  return { key: change.userId, properties }
}

export function fromParked(entry: Pick<ParkedChange, 'key' | 'properties'>): UserChange {
  const change: UserChange = { userId: entry.key, email: null, properties: {}, ensure: false }
  for (const [property, p] of Object.entries(entry.properties)) {
    const value = (p.value ?? {}) as { v?: unknown; at?: string }
    if (property === PARKED_EMAIL) {
      change.email = typeof value.v === 'string' ? value.v : null
      change.emailVersion = p.version
    } else if (property === PARKED_ENSURE) {
      change.ensure = true
    } else {
      change.properties[property] = { value: value.v ?? null, version: p.version, occurredAt: new Date(value.at ?? 0) }
    }
  }
  return change
}

export function createExporter(services: Services, options: ExporterOptions = {}): Exporter {
  const { config, store, kafka } = services
  const logger = services.logger.child({ component: 'exporter' })
  const deps = { config, store, connections: services.connections, describe: services.describe, budget: services.budget, logger }
  const flushSize = options.flushSize ?? 200
  const spillAt = options.spillAt ?? flushSize * 5
  const drainDepth = Math.max(1, options.drainDepth ?? 2)
  const lingerMs = config.exportLingerMs
  const instance = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`
  const lanes = new Map<string, Lane>()
  const contexts = new LRUCache<string, MerchantContext>({ max: 100_000, ttl: 2_000 })
  let consumer: KafkaConsumer | undefined
  let controller = new AbortController()
  let stopping = false
  let ticker: NodeJS.Timeout | undefined
  let sweeping: Promise<void> | undefined
  const statusSends = new Set<Promise<void>>()
  const metrics = createExportMetrics(services.metrics)
  const count = (reason: string, n: number) => metrics.skipped(reason, n)
  const flushed = (merchantId: string, outcome: ExportOutcome) => {
    metrics.record(outcome)
    options.onFlushed?.(merchantId, outcome)
  }

  async function contextOf(merchantId: string): Promise<MerchantContext> {
    const cached = contexts.get(merchantId)
    if (cached) return cached
    const [settings, connection] = await Promise.all([services.settings.get(merchantId), store.getConnection(merchantId)])
    const context = { settings, connected: connection !== null && connection.state !== 'disconnected' && connection.refreshTokenEnc !== null, known: connection !== null }
    contexts.set(merchantId, context)
    return context
  }
  const forgetContext = (merchantId: string) => void contexts.delete(merchantId)

  const exporting = (c: MerchantContext) => c.connected && c.settings.export.enabled && c.settings.import.enabled && !!c.settings.import.object && !!c.settings.import.emailField && !!c.settings.export.cohortUserIdField

  function publishStatus(merchantId: string, state: 'running' | 'paused', reason: string): void {
    const value = JSON.stringify({ merchantId, at: new Date().toISOString(), kind: 'export', state, reason })
    const sent = kafka.produce(config.kafka.topics.status, [{ key: merchantId, value }]).catch((err: unknown) => logger.warn({ err, merchantId }, 'publishing the export status message failed'))
    statusSends.add(sent)
    void sent.finally(() => statusSends.delete(sent))
  }

  async function laneOf(merchantId: string): Promise<Lane> {
    let lane = lanes.get(merchantId)
    if (lane) return lane
    const [pause, parked] = await Promise.all([store.getExportPause(merchantId), store.countParkedChanges(merchantId)])
    lane = lanes.get(merchantId)
    if (lane) return lane
    lane = {
      merchantId,
      coalescer: createCoalescer(),
      state: pause ? 'paused' : parked > 0 ? 'draining' : 'running',
      pause: pause ? { reason: pause.reason as ExportPauseRequest['reason'], until: pause.until, message: 'paused' } : null,
      inflight: 0,
      busy: false,
      running: Promise.resolve(),
      timer: undefined,
      forgets: [],
      reported: { pending: 0, at: 0 },
    }
    lanes.set(merchantId, lane)
    return lane
  }

  async function park(lane: Lane, changes: UserChange[]): Promise<void> {
    if (changes.length === 0) return
    // A user's repeats merge here first: one parked entry per user and call.
    const byUser = new Map<string, UserChange>()
    for (const change of changes) {
      const seen = byUser.get(change.userId)
      if (seen) mergeChange(seen, change)
      else byUser.set(change.userId, { ...change, properties: { ...change.properties } })
    }
    await store.parkExportChanges(lane.merchantId, [...byUser.values()].map(toParked))
    metrics.parked(changes.length)
  }

  async function pauseLane(lane: Lane, pause: ExportPauseRequest, unsent: UserChange[]): Promise<void> {
    await store.setExportPause(lane.merchantId, { reason: pause.reason, until: pause.until })
    const queued = lane.coalescer.take(Number.MAX_SAFE_INTEGER)
    try {
      await park(lane, [...unsent, ...queued.map((e) => e.change)])
      for (const e of queued) e.settle()
    } catch (err) {
      for (const e of queued) e.settle(err)
      throw err
    }
    const was = lane.state
    lane.state = 'paused'
    lane.pause = pause
    if (was !== 'paused') {
      metrics.paused(pause.reason)
      logger.warn({ merchantId: lane.merchantId, reason: pause.reason, until: pause.until }, 'export paused; changes are parked')
      publishStatus(lane.merchantId, 'paused', pause.reason)
    }
  }

  /** Writes lag far behind: hand what the lane holds to the store and drain from there. */
  async function spill(lane: Lane): Promise<void> {
    lane.state = 'draining'
    const queued = lane.coalescer.take(Number.MAX_SAFE_INTEGER)
    try {
      await park(lane, queued.map((e) => e.change))
      for (const e of queued) e.settle()
    } catch (err) {
      for (const e of queued) e.settle(err)
      throw err
    }
    metrics.spilled(queued.length)
    logger.debug({ merchantId: lane.merchantId, users: queued.length }, 'export spills to parked changes while its writes catch up')
  }

  function resume(lane: Lane, why: string): void {
    if (lane.state !== 'paused') return
    lane.state = 'draining'
    lane.pause = null
    logger.info({ merchantId: lane.merchantId, why }, 'export resumes: parked changes first')
    publishStatus(lane.merchantId, 'running', why)
    kick(lane)
  }

  function kick(lane: Lane): void {
    if (lane.busy) return
    lane.running = pump(lane)
  }

  async function pump(lane: Lane): Promise<void> {
    lane.busy = true
    clearTimeout(lane.timer)
    lane.timer = undefined
    try {
      for (;;) {
        while (lane.forgets.length > 0) {
          const forget = lane.forgets.shift()!
          try {
            await store.forgetUser(lane.merchantId, forget.userId)
            forget.settle()
          } catch (err) {
            forget.settle(err)
          }
        }
        if (lane.state === 'paused') break
        if (lane.state === 'draining') {
          const drained = await drain(lane)
          if (drained === 'wait') {
            // Another instance drains the merchant's parked changes: new ones are parked meanwhile.
            lane.timer = setTimeout(() => kick(lane), 1_000)
            break
          }
          if (typeof drained === 'object') {
            lane.timer = setTimeout(() => kick(lane), drained.lingerMs)
            break
          }
          if (drained === 'done') {
            lane.state = 'running'
            await store.releaseLease(drainLease(lane.merchantId), instance).catch(() => undefined)
          }
          continue
        }
        const oldest = lane.coalescer.oldestAt
        if (oldest === null) break
        const age = Date.now() - oldest
        if (lane.coalescer.size < flushSize && age < lingerMs && !stopping) {
          lane.timer = setTimeout(() => kick(lane), lingerMs - age)
          break
        }
        await flushEntries(lane, lane.coalescer.take(flushSize))
      }
    } catch (err) {
      logger.error({ err, merchantId: lane.merchantId }, 'export lane failed; trying again shortly')
      lane.timer = setTimeout(() => kick(lane), 1_000)
    } finally {
      lane.busy = false
    }
  }

  const drainLease = (merchantId: string) => `export-drain:${merchantId}`

  /**
   * Parked changes, page after page, under the merchant's drain lease (one instance drains, the
   * others park). Up to `drainDepth` pages are in flight: the next page, the entries placed
   * after the previous page's (so no user is in two of them), is read and readied while the
   * previous one is written and committed; a page with users to look up in Salesforce first
   * waits for the pages before it (their links stored). Returns once every page it started has
   * settled: `more` (read again from the start: what was parked again meanwhile), `done` when
   * none is left, `wait` while another instance holds the lease, `{ lingerMs }` for a short
   * page of changes parked less than `EXPORT_LINGER_MS` ago.
   */
  async function drain(lane: Lane): Promise<'more' | 'done' | 'wait' | { lingerMs: number }> {
    const inflight = new Set<Promise<void>>()
    const failures: unknown[] = []
    const halt: { pause?: ExportPauseRequest; stopped?: boolean } = {}
    let after: number | undefined
    let result: 'more' | 'done' | 'wait' | { lingerMs: number } = 'more'
    try {
      for (;;) {
        if (!(await store.acquireLease(drainLease(lane.merchantId), instance, config.leaseTtlMs))) {
          result = 'wait'
          break
        }
        const page = await store.peekParkedChanges(lane.merchantId, flushSize, after)
        if (page.length === 0) {
          result = after === undefined ? 'done' : 'more'
          break
        }
        // A short page of fresh changes (a spill catching up) waits out the linger like pending ones.
        const age = Date.now() - Math.min(...page.map((p) => p.parkedAt.getTime()))
        if (page.length < flushSize && age < lingerMs && !stopping) {
          if (after === undefined) result = { lingerMs: lingerMs - age }
          break
        }
        const context = await contextOf(lane.merchantId)
        if (!exporting(context)) {
          if (after === undefined) result = 'done'
          break
        }
        after = page.at(-1)!.position
        const earlier = [...inflight]
        const write = writePage(lane, context.settings, page, () => Promise.allSettled(earlier).then(() => undefined)).then((h) => {
          if (h.pause) halt.pause ??= h.pause
          if (h.stopped) halt.stopped = true
        }, (err: unknown) => void failures.push(err))
        inflight.add(write)
        void write.finally(() => inflight.delete(write))
        if (inflight.size >= drainDepth) await Promise.race(inflight)
        // Deletions wait for the writes in flight, then go first (the pump runs them).
        if (halt.pause || halt.stopped || failures.length > 0 || lane.forgets.length > 0 || page.length < flushSize) break
      }
    } finally {
      await Promise.all(inflight)
    }
    if (failures.length > 0) throw failures[0]
    if (halt.pause) {
      await pauseLane(lane, halt.pause, [])
      return 'more'
    }
    // Disconnected mid-drain: what is not written stays parked until the merchant exports again
    // (the sweep drains it then); draining on now would only skip it.
    if (halt.stopped) {
      forgetContext(lane.merchantId)
      return 'done'
    }
    return result
  }

  /**
   * One page of parked changes written; what was written (or recorded as an error) is acked,
   * in the flush's own transaction when it gets that far.
   */
  async function writePage(lane: Lane, settings: Settings, page: ParkedChange[], beforeLookup: () => Promise<void>): Promise<{ pause?: ExportPauseRequest; stopped?: boolean }> {
    const parked = page.map(({ key, seq }) => ({ key, seq }))
    const outcome = await exportChanges(deps, settings, page.map(fromParked), { ...exportOptions(), beforeLookup, parked })
    flushed(lane.merchantId, outcome)
    if (!outcome.parkedAcked) {
      const waiting = new Set(outcome.remaining.map((c) => c.userId))
      await store.ackParkedChanges(lane.merchantId, parked.filter((p) => !waiting.has(p.key)))
    }
    return { ...(outcome.pause ? { pause: outcome.pause } : {}), ...(outcome.stopped ? { stopped: true } : {}) }
  }

  const exportOptions = (): ExportOptions => ({ signal: controller.signal, ...(options.retry ? { retry: options.retry } : {}) })

  async function flushEntries(lane: Lane, entries: PendingEntry[]): Promise<void> {
    lane.inflight = entries.length
    try {
      const context = await contextOf(lane.merchantId)
      if (!exporting(context)) {
        count('export-off', entries.length)
        for (const e of entries) e.settle()
        return
      }
      // Paused by another instance meanwhile: park instead of writing.
      const paused = await store.getExportPause(lane.merchantId)
      if (paused) {
        await pauseLane(lane, { reason: paused.reason as ExportPauseRequest['reason'], until: paused.until, message: 'paused by another instance' }, entries.map((e) => e.change))
        for (const e of entries) e.settle()
        return
      }
      const outcome = await exportChanges(deps, context.settings, entries.map((e) => e.change), exportOptions())
      logger.debug({ merchantId: lane.merchantId, users: entries.length, updated: outcome.updated, created: outcome.created, errors: outcome.errors, calls: outcome.calls }, 'export flushed')
      flushed(lane.merchantId, outcome)
      if (outcome.pause) await pauseLane(lane, outcome.pause, outcome.remaining)
      // Disconnected mid-flush: the unsent changes are parked (a reconnect drains them), so
      // the batches' offsets move on without losing them.
      else if (outcome.stopped) {
        await park(lane, outcome.remaining)
        forgetContext(lane.merchantId)
      }
      for (const e of entries) e.settle()
    } catch (err) {
      if (err instanceof AppError && err.code === 'salesforce.not-connected') {
        count('not-connected', entries.length)
        for (const e of entries) e.settle()
        return
      }
      // An outage of the store or a bug: the batches are delivered again (versions make it safe).
      logger.error({ err, merchantId: lane.merchantId, users: entries.length }, 'export flush failed; its batches will be delivered again')
      for (const e of entries) e.settle(err)
    } finally {
      lane.inflight = 0
    }
  }

  async function handleMerchant(merchantId: string, events: UserEvent[]): Promise<void> {
    const context = await contextOf(merchantId)
    const deletions = events.filter((e) => e.type === 'user.deleted')
    if (!exporting(context)) {
      count(context.connected ? 'export-off' : 'not-connected', events.length - deletions.length)
      // The bridge forgets a deleted user whatever the export settings (contracts §3).
      if (context.known) for (const e of deletions) await store.forgetUser(merchantId, e.userId)
      return
    }
    const lane = await laneOf(merchantId)
    const waits: Promise<void>[] = []
    const toPark: UserChange[] = []
    for (const event of events) {
      if (event.type === 'user.deleted') {
        lane.coalescer.remove(event.userId)?.settle()
        for (let i = toPark.length - 1; i >= 0; i--) if (toPark[i]!.userId === event.userId) toPark.splice(i, 1)
        if (toPark.length > 0) {
          await park(lane, toPark.splice(0))
        }
        waits.push(new Promise((resolve, reject) => lane.forgets.push({ userId: event.userId, settle: (err) => (err === undefined ? resolve() : reject(err)) })))
        continue
      }
      const change = changeOf(event, context.settings)
      if (!change) {
        count(event.source === 'salesforce' ? 'from-salesforce' : 'unmapped', 1)
        continue
      }
      if (lane.state === 'running' && lane.coalescer.size >= spillAt) await spill(lane)
      if (lane.state === 'running') waits.push(lane.coalescer.add(change).done)
      else toPark.push(change)
    }
    await park(lane, toPark)
    kick(lane)
    await Promise.all(waits)
  }

  async function handleBatch(payload: BatchPayload): Promise<void> {
    const { batch } = payload
    const { byMerchant, dead } = splitByMerchant(batch, (value) => {
      const parsed = parseUserEvent(value)
      return parsed.ok ? { ok: true, value: parsed.event } : parsed
    }, 'export.invalid-message')
    if (dead.length > 0) {
      await kafka.produce(config.kafka.topics.dlq, dead)
      metrics.deadLetters(dead.length)
      logger.warn({ topic: batch.topic, partition: batch.partition, count: dead.length }, 'invalid cohort user events sent to the dead-letter topic')
    }
    await Promise.all([...byMerchant].map(([merchantId, events]) => handleMerchant(merchantId, events)))
  }

  async function reportPending(): Promise<void> {
    const now = Date.now()
    let total = 0
    for (const lane of lanes.values()) total += lane.coalescer.size + lane.inflight
    metrics.pending(total)
    for (const lane of lanes.values()) {
      const pending = lane.coalescer.size + lane.inflight
      if (pending === lane.reported.pending && (pending === 0 || now - lane.reported.at < 10_000)) continue
      try {
        await store.setExportPending(lane.merchantId, instance, pending)
        lane.reported = { pending, at: now }
      } catch (err) {
        logger.warn({ err, merchantId: lane.merchantId }, 'reporting pending export changes failed')
      }
    }
  }

  async function sweepOnce(): Promise<void> {
    for (const lane of lanes.values()) {
      // Parked meanwhile (a retried error, another instance's pause): drained first, while export is on.
      if (lane.state === 'running' && (await store.countParkedChanges(lane.merchantId)) > 0 && !(await store.getExportPause(lane.merchantId)) && exporting(await contextOf(lane.merchantId))) {
        lane.state = 'draining'
        kick(lane)
        continue
      }
      if (lane.state !== 'paused') continue
      const pause = await store.getExportPause(lane.merchantId)
      if (!pause) {
        forgetContext(lane.merchantId)
        resume(lane, lane.pause?.until ? 'pause ended' : 'pause cleared')
      }
    }
    // Parked changes of merchants this instance has no lane for (a restart, another instance's pause).
    for (const connection of await store.listConnections()) {
      if (lanes.has(connection.merchantId) || connection.state !== 'connected') continue
      if ((await store.countParkedChanges(connection.merchantId)) === 0) continue
      if (!exporting(await contextOf(connection.merchantId))) continue
      kick(await laneOf(connection.merchantId))
    }
  }

  const onSettings = (merchantId: string) => {
    forgetContext(merchantId)
  }
  const onConnected = async (merchantId: string) => {
    forgetContext(merchantId)
    const lane = lanes.get(merchantId)
    const pause = await store.getExportPause(merchantId)
    if (pause?.reason === 'salesforce.needs-reauth') await store.clearExportPause(merchantId)
    if (lane?.state === 'paused' && lane.pause?.reason === 'salesforce.needs-reauth') resume(lane, 'reconnected')
  }
  const onNeedsReauth = (merchantId: string) => void forgetContext(merchantId)

  const lifecycle = createComponent('exporter', {
    async start() {
      stopping = false
      controller = new AbortController()
      services.events.on('settings-changed', onSettings)
      services.events.on('connected', onConnected)
      services.events.on('disconnected', onSettings)
      services.events.on('needs-reauth', onNeedsReauth)
      consumer = kafka.createConsumer({
        groupId: `${config.kafka.groupPrefix}.export`,
        topics: [config.kafka.topics.cohortEvents],
        fromBeginning: true,
        partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? config.kafka.partitions,
        // A batch costs about one park or one wait for a flush whatever its size, and its
        // repeats of a user coalesce in memory first: fewer, larger batches under a backlog.
        maxBytesPerPartition: 4 * 1024 * 1024,
        handleBatch,
      })
      await consumer.start()
      const sweepMs = options.sweepMs ?? 2_000
      let ticks = 0
      ticker = setInterval(() => {
        void reportPending()
        if (++ticks * 1_000 >= sweepMs && !sweeping) {
          ticks = 0
          sweeping = sweepOnce().catch((err: unknown) => logger.warn({ err }, 'export sweep failed')).finally(() => (sweeping = undefined))
        }
      }, 1_000)
    },
    async stop() {
      // Flush what is pending now (no linger), so the handlers return and their offsets commit.
      stopping = true
      for (const lane of lanes.values()) kick(lane)
      await consumer?.stop()
      consumer = undefined
      clearInterval(ticker)
      await sweeping
      controller.abort(new AppError('aborted', 'the exporter is stopping'))
      for (const lane of lanes.values()) {
        clearTimeout(lane.timer)
        await lane.running
        clearTimeout(lane.timer)
        for (const e of lane.coalescer.take(Number.MAX_SAFE_INTEGER)) e.settle(new AppError('aborted', 'the exporter stopped'))
      }
      await reportPending()
      for (const lane of lanes.values()) await store.setExportPending(lane.merchantId, instance, 0).catch(() => undefined)
      lanes.clear()
      contexts.clear()
      await Promise.all([...statusSends])
      services.events.off('settings-changed', onSettings)
      services.events.off('connected', onConnected)
      services.events.off('disconnected', onSettings)
      services.events.off('needs-reauth', onNeedsReauth)
    },
  })

  return {
    ...lifecycle,
    lanes: () => [...lanes.values()].map((l) => ({ merchantId: l.merchantId, state: l.state, pending: l.coalescer.size + l.inflight })),
    sweep: () => sweepOnce(),
  }
}

/**
 * The CDC subscriber of the import direction: one stream (stream.ts) per merchant that is
 * connected with import on. Streams start at engine start, on `connected`, and on a settings
 * save; restart on any `import.*` change; stop on import off, `disconnected` and
 * `needs-reauth`. A periodic sweep catches what no local notice tells this instance: a
 * merchant connected through another instance, a stream whose lease a dead instance held, a
 * disconnect made elsewhere. Work for one merchant runs one operation at a time.
 */
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { createComponent, type Component } from '../component.ts'
import type { MerchantListener } from '../merchant-events.ts'
import { sleep } from '../retry.ts'
import type { Services } from '../services.ts'
import { createHealthReporter, needsReauthError, type CdcHealth } from './health.ts'
import { createCdcMetrics } from './metrics.ts'
import { createStream, type Stream, type StreamHooks, type StreamState } from './stream.ts'
import { createLimitsReader } from './watch.ts'

export interface CdcEngineOptions extends StreamHooks {
  /** Messages one stream holds in memory before it drops its client until Kafka catches up. Default 20 000. */
  maxQueuedMessages?: number
  /** Most messages per produce call. Default 1000. */
  batchMessages?: number
  /** How often a stream looks for a `cdc-replay` request. Default 3000 ms (contracts §8: within 10 s). */
  replayPollMs?: number
  /** How often the engine looks for merchants that should stream here. Default `LEASE_TTL_MS`. */
  sweepMs?: number
  /** Lease owner of this instance. Default `${hostname}:${pid}:${random}`. */
  owner?: string
  /** First backoff of a failed resync. Default 5000 ms (up to 5 min). */
  resyncRetryMinMs?: number
  /** Changes younger than this are not expected from the stream yet by the stall check. Default min(CDC_STALL_CHECK_MS, 60 s). */
  stallGraceMs?: number
}

export interface CdcEngine extends Component {
  /** This instance's streams and their states (`standby`: another instance holds the lease). */
  streams(): { merchantId: string; state: StreamState }[]
}

interface Desired {
  stream: boolean
  /** When not streaming: what health to show. */
  health: CdcHealth
  reason: string
}

export function createCdcEngine(services: Services, options: CdcEngineOptions = {}): CdcEngine {
  const { store, config, events } = services
  const logger = services.logger.child({ component: 'cdc' })
  const owner = options.owner ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`
  const streams = new Map<string, Stream>()
  const ops = new Map<string, Promise<void>>()
  const health = createHealthReporter({ store, kafka: services.kafka, statusTopic: config.kafka.topics.status, logger })
  const list = () => [...streams.values()].map((s) => ({ merchantId: s.merchantId, state: s.state() }))
  const metrics = createCdcMetrics(services.metrics, list)
  const tuning = {
    leaseTtlMs: config.leaseTtlMs,
    failedRetryMs: config.cdcFailedRetryMs,
    pausedRetryMs: config.salesforce.limitsPollMs,
    maxQueued: options.maxQueuedMessages ?? 20_000,
    batchMessages: options.batchMessages ?? 1000,
    replayPollMs: options.replayPollMs ?? 3000,
    resyncOverlapMs: config.cdc.resyncOverlapMs,
    stallCheckMs: config.cdc.stallCheckMs,
    stallGraceMs: options.stallGraceMs ?? Math.min(config.cdc.stallCheckMs, 60_000),
    resyncRetryMinMs: options.resyncRetryMinMs ?? 5000,
    resyncRetryMaxMs: 300_000,
  }
  const readLimits = createLimitsReader(config.salesforce.limitsPollMs)
  const hooks: StreamHooks = {
    ...(options.onSubscribed ? { onSubscribed: options.onSubscribed } : {}),
    ...(options.resync ? { resync: options.resync } : {}),
  }
  let running = false
  let sweeper: { controller: AbortController; done: Promise<void> } | undefined

  /** Run `fn` after the merchant's previous operation; failures are logged. */
  function enqueue(merchantId: string, fn: () => Promise<void>): Promise<void> {
    if (!running) return Promise.resolve()
    const next = (ops.get(merchantId) ?? Promise.resolve())
      .then(fn)
      .catch((err: unknown) => logger.error({ err, merchantId }, 'CDC stream operation failed'))
    ops.set(merchantId, next)
    void next.finally(() => {
      if (ops.get(merchantId) === next) ops.delete(merchantId)
    })
    return next
  }

  async function desired(merchantId: string): Promise<Desired> {
    const off = (reason: string, error: CdcHealth['error'] = null): Desired => ({ stream: false, health: { state: 'stopped', error }, reason })
    const connection = await store.getConnection(merchantId)
    if (!connection || connection.state === 'disconnected' || !connection.refreshTokenEnc) return off('not-connected')
    const settings = await services.settings.get(merchantId)
    if (!settings.import.enabled || !settings.import.object) return off('import-off')
    if (connection.state === 'needs-reauth') return off('needs-reauth', needsReauthError(`merchant ${merchantId} must connect Salesforce again`))
    return { stream: true, health: { state: 'starting', error: null }, reason: 'starting' }
  }

  function startStream(merchantId: string): void {
    const stream = createStream({
      services, owner, hooks, health, metrics, tuning, readLimits,
      onEnd: () => {
        if (streams.get(merchantId) === stream) streams.delete(merchantId)
      },
    }, merchantId)
    streams.set(merchantId, stream)
    void stream.start()
  }

  interface SyncOptions {
    /** Stop and start again (an `import.*` change, a new connection). */
    restart?: boolean
    /** Stop, whatever the store says (the notice came before the store changed). */
    stop?: { health: CdcHealth; reason: string }
    /** Show the stopped health even when no stream runs here (a local notice, not the sweep). */
    report?: boolean
  }

  /** Bring the merchant's stream to what its connection and settings want. */
  async function sync(merchantId: string, how: SyncOptions = {}, known?: Desired): Promise<void> {
    const current = streams.get(merchantId)
    const want: Desired = how.stop ? { stream: false, ...how.stop } : known ?? await desired(merchantId)
    if (!want.stream) {
      if (current) {
        streams.delete(merchantId)
        await current.finish(want.health, want.reason)
      } else if (how.report) {
        await health.report(merchantId, want.health, { reason: want.reason }).catch(() => false)
      }
      return
    }
    if (current && !how.restart) {
      current.poke()
      return
    }
    if (current) {
      streams.delete(merchantId)
      await current.stop()
    }
    startStream(merchantId)
  }

  async function sweep(): Promise<void> {
    const connected = new Set<string>()
    for (const c of await store.listConnections()) if (c.state === 'connected' && c.refreshTokenEnc) connected.add(c.merchantId)
    for (const merchantId of new Set([...connected, ...streams.keys()])) {
      // Streams here and merchants that might stream: cheap reads, one merchant at a time.
      void enqueue(merchantId, () => (streams.has(merchantId) || connected.has(merchantId) ? syncQuiet(merchantId) : Promise.resolve()))
    }
  }

  /** A sweep's sync: starts what is missing, stops what should not run, never restarts. */
  async function syncQuiet(merchantId: string): Promise<void> {
    const current = streams.get(merchantId)
    const want = await desired(merchantId)
    if (want.stream && current) return
    await sync(merchantId, {}, want)
  }

  async function sweepLoop(signal: AbortSignal): Promise<void> {
    const every = options.sweepMs ?? config.leaseTtlMs
    while (!signal.aborted) {
      await sleep(every, signal).catch(() => undefined)
      if (signal.aborted) return
      await sweep().catch((err: unknown) => logger.warn({ err }, 'CDC sweep failed'))
    }
  }

  const onSettings: MerchantListener<'settings-changed'> = (merchantId, detail) => {
    const restart = detail.changes.some((c) => c.startsWith('import.'))
    void enqueue(merchantId, () => sync(merchantId, { restart, report: true }))
  }
  const onConnected: MerchantListener<'connected'> = (merchantId) => {
    void enqueue(merchantId, () => sync(merchantId, { restart: true, report: true }))
  }
  // Awaited: the disconnect route deletes the tokens only after the stream has stopped.
  const onDisconnected: MerchantListener<'disconnected'> = (merchantId) =>
    enqueue(merchantId, () => sync(merchantId, { stop: { health: { state: 'stopped', error: null }, reason: 'disconnected' }, report: true }))
  // Not awaited: it is emitted from inside a token refresh the stream itself may be waiting for.
  const onNeedsReauth: MerchantListener<'needs-reauth'> = (merchantId) => {
    void enqueue(merchantId, () => sync(merchantId, { stop: { health: { state: 'stopped', error: needsReauthError(`merchant ${merchantId} must connect Salesforce again`) }, reason: 'needs-reauth' }, report: true }))
  }

  const listen = (how: 'on' | 'off') => {
    events[how]('settings-changed', onSettings)
    events[how]('connected', onConnected)
    events[how]('disconnected', onDisconnected)
    events[how]('needs-reauth', onNeedsReauth)
  }

  const lifecycle = createComponent('cdc', {
    async start() {
      running = true
      listen('on')
      await sweep().catch((err: unknown) => logger.warn({ err }, 'CDC start: listing the merchants failed; the sweep tries again'))
      const controller = new AbortController()
      sweeper = { controller, done: sweepLoop(controller.signal) }
      logger.info({ owner }, 'CDC subscriber started')
    },
    async stop() {
      running = false
      listen('off')
      sweeper?.controller.abort()
      await sweeper?.done
      sweeper = undefined
      await Promise.all([...ops.values()])
      // Shutdown leaves the health as it is: another instance takes the streams over.
      await Promise.all([...streams.values()].map((s) => s.stop()))
      streams.clear()
      await health.drain()
    },
  })

  return { ...lifecycle, streams: list }
}

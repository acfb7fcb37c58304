/**
 * One stream's life under one lease: a control loop that owns the faye client
 * (faye-client.ts) and reacts to what the client reports (classify.ts), one command at a time:
 * - subscribe acknowledged → `streaming`, `onSubscribed(ctx)` in the background;
 * - `401::Authentication invalid` → a new token (connections.refresh) and a NEW client
 *   (faye keeps the old header); `salesforce.needs-reauth` → the stream ends, shown in cdcError;
 * - advice `none`, a server busy → a new client after a backoff with full jitter;
 * - `403::Unknown client` → faye re-handshakes itself, the extension injects the checkpoint;
 * - CDC not enabled / no access → `failed` with the administrator's action, retried every
 *   CDC_FAILED_RETRY_MS or at once on a poke (a settings save);
 * - an org allocation → `paused`, retried every SALESFORCE_LIMITS_POLL_MS;
 * - replayId outside retention → subscribe from -1 and `onResync(ctx, …)`.
 * Events go through pipeline.ts to Kafka and the checkpoint.
 */
import { changeKeyOf, fromEvent } from '../changes/index.ts'
import { AppError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import { backoffDelay } from '../retry.ts'
import { cdcChannelOf } from '../salesforce/index.ts'
import type { Services } from '../services.ts'
import type { Settings } from '../settings/index.ts'
import type { CdcState, LeaseFence } from '../store/index.ts'
import type { Signal } from './classify.ts'
import { createCdcClient, type CdcClient } from './faye-client.ts'
import { limitError, needsReauthError, subscribeError, type CdcHealth, type HealthReporter } from './health.ts'
import { createMailbox } from './mailbox.ts'
import type { CdcMetrics } from './metrics.ts'
import { createPipeline, type Pipeline } from './pipeline.ts'

/** What the hooks get about the stream they are called for. */
export interface StreamContext {
  merchantId: string
  /** The settings the stream was started with (a change of `import.*` restarts it). */
  settings: Settings
  channel: string
  /** The stream's lease: fenced writes (a load's checkpoint) carry it. */
  lease: LeaseFence
  orgId: string
  /** Aborted when the stream stops (shutdown, settings change, lease lost). */
  signal: AbortSignal
}

/** How the first full load and the resyncs plug into the streams. */
export interface StreamHooks {
  /**
   * Called in the background after each subscribe acknowledgement (the stream position is
   * then established); never while the previous call still runs. The stream aborts
   * `ctx.signal` when it stops and waits for the promise. A rejection is logged, not fatal.
   */
  onSubscribed?: (ctx: StreamContext) => Promise<void>
  /** A resync must run: an overflow or wildcard event, or a replay id outside retention. A throw is logged. */
  onResync?: (ctx: StreamContext, reason: string) => void
}

export interface StreamTuning {
  leaseTtlMs: number
  failedRetryMs: number
  pausedRetryMs: number
  maxQueued: number
  batchMessages: number
  replayPollMs: number
}

export interface SessionDeps {
  services: Services
  merchantId: string
  hooks: StreamHooks
  health: HealthReporter
  metrics: CdcMetrics
  tuning: StreamTuning
  log: Logger
  /** What the stream shows in `streams()`. */
  setState(state: CdcState): void
  /** What a poke (a settings save) does now: retry at once when waiting to retry. */
  setPoke(poke: () => void): void
}

/** How a session ended: the lease given back (stop, restart, lease lost), or the stream ended with this health. */
export type SessionEnd = 'released' | { ended: CdcHealth; reason: string }

type Command =
  | { kind: 'signal'; signal: Signal }
  | { kind: 'overflow' } | { kind: 'drained' } | { kind: 'replay'; replayId: number }
  | { kind: 'retry' } | { kind: 'stop' }

const codeOf = (err: unknown) => (err instanceof AppError ? err.code : undefined)

/** Why the merchant cannot stream now (then the stream ends), or null. */
function endOf(err: unknown): { ended: CdcHealth; reason: string } | null {
  if (codeOf(err) === 'salesforce.needs-reauth') return { ended: { state: 'stopped', error: needsReauthError((err as Error).message) }, reason: 'needs-reauth' }
  if (codeOf(err) === 'salesforce.not-connected') return { ended: { state: 'stopped', error: null }, reason: 'not-connected' }
  return null
}

/** Stream the merchant until `signal` aborts (stop, lease lost) or it cannot stream any more. */
export async function runSession(deps: SessionDeps, lease: LeaseFence, signal: AbortSignal, loseLease: () => void): Promise<SessionEnd> {
  const { services, hooks, metrics, tuning, merchantId, log } = deps
  const { store, connections, config } = services
  const safeHook = (what: string, fn: () => void) => {
    try {
      fn()
    } catch (err) {
      log.error({ err }, `${what} hook failed`)
    }
  }

  async function accessToken(used: string | null): Promise<{ token: string; url: string }> {
    const conn = await connections.get(merchantId)
    // Someone else refreshed already: use theirs before asking for another.
    const token = conn.accessToken && conn.accessToken !== used ? conn.accessToken : await connections.refresh(merchantId)
    return { token, url: `${conn.instanceUrl}/cometd/${config.salesforce.apiVersion}` }
  }

  const settings = await services.settings.get(merchantId)
  const object = settings.import.object
  if (!settings.import.enabled || !object) return { ended: { state: 'stopped', error: null }, reason: 'import-off' }
  const connection = await store.getConnection(merchantId)
  if (!connection || connection.state !== 'connected') return endOf(new AppError(connection?.state === 'needs-reauth' ? 'salesforce.needs-reauth' : 'salesforce.not-connected', `merchant ${merchantId} cannot stream`))!
  const channel = cdcChannelOf(object)
  // Aborted when this session ends, on its own too (needs-reauth): the flush loop and the
  // hook stop then, not only when the stream is stopped from outside.
  const ending = new AbortController()
  const sessionSignal = AbortSignal.any([signal, ending.signal])
  const ctx: StreamContext = { merchantId, settings, channel, lease, orgId: connection.orgId, signal: sessionSignal }
  const report = async (state: CdcState, error: CdcHealth['error'], reason: string) => {
    deps.setState(state)
    try {
      await deps.health.report(merchantId, { state, error }, { lease, reason })
    } catch (err) {
      if (codeOf(err) === 'store.fenced') loseLease()
    }
  }
  // A restart or a takeover keeps showing what the merchant had; `starting` is for a stream that was off.
  const stored = await store.getSyncHealth(merchantId)
  if (stored.cdc === 'stopped') await report('starting', null, 'starting')
  else deps.setState('starting')

  const mailbox = createMailbox<Command>()
  const onAbort = () => mailbox.push({ kind: 'stop' })
  signal.addEventListener('abort', onAbort, { once: true })
  if (signal.aborted) onAbort()
  // Each client is one generation: whatever an older client still says is ignored.
  let generation = 0
  let client: CdcClient | null = null
  let credentials: { token: string; url: string } | null = null
  let needToken = true
  let failures = 0 // since the last subscribe acknowledgement
  let retryTimer: NodeJS.Timeout | undefined
  let waitingToRetry = false
  let hook: Promise<void> | null = null

  const pipeline: Pipeline = createPipeline({
    produce: (messages) => services.kafka.produce(config.kafka.topics.salesforceChanges, messages),
    saveCheckpoint: (replayId, force) => store.saveReplayId(merchantId, channel, replayId, { lease, force }),
    noteEvent: (at) => store.noteCdcEvent(merchantId, at),
    takeReplayRequest: async () => {
      const request = await store.takeReplayRequest(merchantId, { lease })
      if (request && request.channel !== channel) log.warn({ channel: request.channel }, 'cdc-replay request for another channel: saved, not streamed')
      return request && request.channel === channel ? request.replayId : null
    },
    onResync: (reason) => safeHook('onResync', () => hooks.onResync?.(ctx, reason)),
    onOverflow: () => {
      generation++ // stop taking the client's events now, before its close completes
      mailbox.push({ kind: 'overflow' })
    },
    onDrained: () => mailbox.push({ kind: 'drained' }),
    onReplayRequest: (replayId) => {
      generation++
      mailbox.push({ kind: 'replay', replayId })
    },
    onFenced: () => loseLease(),
    logger: log,
    metrics,
  }, { checkpoint: await store.getReplayId(merchantId, channel), maxQueued: tuning.maxQueued, batchMessages: tuning.batchMessages, replayPollMs: tuning.replayPollMs })
  let subscribedOnce = false
  const flushing = pipeline.run(sessionSignal).catch((err: unknown) => {
    log.error({ err }, 'the CDC flush loop failed')
    loseLease()
  })

  // Only the email and the mapped fields travel: the rest of a record (long text, other
  // personal data) is not the bridge's business and could push a message past Kafka's limit.
  const keep = [settings.import.emailField ?? '', ...settings.import.fields.map((f) => f.field)].filter((f) => f !== '')
  const onEvent = (data: unknown) => {
    const result = fromEvent(data, { merchantId, orgId: connection.orgId, object, channel, receivedAt: Date.now(), keep })
    if (result.kind === 'changes') {
      pipeline.push({ replayId: result.replayId, receivedAt: Date.now(), messages: result.messages.map((m) => ({ key: changeKeyOf(merchantId, m.recordId), value: JSON.stringify(m) })) })
    } else if (result.kind === 'resync') {
      metrics.event('resync')
      log.warn({ replayId: result.replayId, changeType: result.changeType, reason: result.reason }, 'change event that names no record: a resync is needed')
      pipeline.push({ replayId: result.replayId, receivedAt: Date.now(), messages: [], resync: result.reason })
    } else {
      // Only why, never the values: they are customer data.
      metrics.event('invalid')
      log.warn({ replayId: result.replayId, reason: result.reason }, 'unreadable change event skipped')
      if (result.replayId !== null) pipeline.push({ replayId: result.replayId, receivedAt: Date.now(), messages: [] })
    }
  }

  const open = () => {
    const gen = ++generation
    client = createCdcClient({
      url: credentials!.url,
      accessToken: credentials!.token,
      channel,
      // No checkpoint yet: the first subscribe takes "new events only" (the load covers the
      // past), but a later one (rehandshake, rebuild) must not skip what came meanwhile:
      // everything retained is replayed, harmless under per-field order.
      position: () => pipeline.checkpoint() ?? (subscribedOnce ? -2 : -1),
      onEvent: (data) => {
        if (gen === generation) onEvent(data)
      },
      onSignal: (s) => {
        if (gen === generation) mailbox.push({ kind: 'signal', signal: s })
      },
      onTransport: (state) => {
        if (gen !== generation) return
        if (state === 'down') log.warn('CometD transport down; resending with backoff')
        else log.info('CometD transport up')
      },
    })
    client.subscribe()
  }
  const drop = async () => {
    generation++
    const old = client
    client = null
    await old?.close()
  }
  const retryIn = (ms: number) => {
    clearTimeout(retryTimer)
    waitingToRetry = true
    retryTimer = setTimeout(() => mailbox.push({ kind: 'retry' }), ms)
  }
  deps.setPoke(() => {
    if (waitingToRetry) {
      clearTimeout(retryTimer)
      mailbox.push({ kind: 'retry' })
    }
  })
  /** Drop the client and build a new one after a backoff that grows with failures in a row. */
  const rebuild = async (reason: string, refresh: boolean) => {
    await drop()
    metrics.reconnect(reason)
    failures++
    needToken ||= refresh
    retryIn(failures > 1 ? backoffDelay(failures - 1, { minDelayMs: 500, maxDelayMs: 30_000 }) : 0)
  }

  async function handle(signal$: Signal): Promise<SessionEnd | null> {
    switch (signal$.kind) {
      case 'subscribed':
        subscribedOnce = true
        if (signal$.channel !== channel) return null
        failures = 0
        await report('streaming', null, 'subscribed')
        if (hooks.onSubscribed && !hook) {
          const onSubscribed = hooks.onSubscribed
          hook = (async () => onSubscribed(ctx))()
            .catch((err: unknown) => log.error({ err }, 'onSubscribed hook failed'))
            .finally(() => {
              hook = null
            })
        }
        return null
      case 'auth':
        log.info({ error: signal$.error }, 'CometD refused the token: refreshing it and building a new client')
        await rebuild('auth', true)
        return null
      case 'gone':
      case 'busy':
        log.warn({ error: signal$.error }, `CometD client ${signal$.kind === 'gone' ? 'will not reconnect' : 'refused for now'}: building a new one`)
        await rebuild(signal$.kind, false)
        return null
      case 'rehandshake':
        metrics.reconnect('unknown-client')
        log.info({ error: signal$.error, checkpoint: pipeline.checkpoint() }, 'CometD session lost: faye re-handshakes, resubscribing from the checkpoint')
        return null
      case 'limit':
        await drop()
        log.warn({ error: signal$.error }, 'Salesforce allocation reached: paused')
        await report('paused', limitError(signal$.code, signal$.error), signal$.code)
        retryIn(tuning.pausedRetryMs)
        return null
      case 'subscribe-failed':
        if (signal$.code === 'cdc.replay-invalid') {
          log.warn({ error: signal$.error, checkpoint: pipeline.checkpoint() }, 'stored replay id outside retention: subscribing to new events, a resync covers the gap')
          pipeline.forgetPosition()
          safeHook('onResync', () => hooks.onResync?.(ctx, 'replay id outside retention'))
          await rebuild('replay-invalid', false)
          return null
        }
        await drop()
        log.warn({ error: signal$.error, code: signal$.code }, 'Salesforce refused the subscription')
        await report('failed', subscribeError(signal$.code, object!, signal$.error), signal$.code)
        retryIn(tuning.failedRetryMs)
        return null
      case 'server-disconnect':
        log.info('the server ended the CometD session')
        return null
      case 'handshake':
        return null
    }
  }

  async function retryNow(): Promise<SessionEnd | null> {
    waitingToRetry = false
    if (needToken) {
      try {
        credentials = await accessToken(credentials?.token ?? null)
        needToken = false
      } catch (err) {
        const end = endOf(err)
        if (end) return end
        log.warn({ err }, 'no Salesforce token for streaming; retrying')
        failures++
        retryIn(backoffDelay(failures, { minDelayMs: 500, maxDelayMs: 30_000 }))
        return null
      }
    }
    open()
    return null
  }

  try {
    // The first token: a stored one, else a refresh.
    try {
      const conn = await connections.get(merchantId)
      credentials = conn.accessToken ? { token: conn.accessToken, url: `${conn.instanceUrl}/cometd/${config.salesforce.apiVersion}` } : await accessToken(null)
      needToken = false
    } catch (err) {
      const end = endOf(err)
      if (end) return end
      throw err
    }
    open()
    for (;;) {
      const command = await mailbox.next()
      if (signal.aborted) return 'released'
      let end: SessionEnd | null = null
      switch (command.kind) {
        case 'stop':
          return 'released'
        case 'signal':
          end = await handle(command.signal)
          break
        case 'overflow':
          await drop()
          metrics.reconnect('overflow')
          break
        case 'drained':
          log.info({ checkpoint: pipeline.checkpoint() }, 'CDC queue drained: subscribing again from the checkpoint')
          open()
          break
        case 'replay':
          log.info({ replayId: command.replayId }, 'cdc-replay: resubscribing from the requested replay id')
          await drop()
          metrics.reconnect('replay')
          clearTimeout(retryTimer)
          waitingToRetry = false
          end = await retryNow()
          break
        case 'retry':
          if (waitingToRetry && !client) end = await retryNow()
          break
      }
      if (end) return end
    }
  } finally {
    signal.removeEventListener('abort', onAbort)
    clearTimeout(retryTimer)
    deps.setPoke(() => undefined)
    await drop()
    ending.abort()
    await flushing
    await hook
  }
}

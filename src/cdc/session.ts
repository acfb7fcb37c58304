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
 * - an org allocation → `paused`, `/limits` probed every SALESFORCE_LIMITS_POLL_MS (or at
 *   once on a poke), subscribed again once it is back (from the checkpoint: out of retention
 *   by then, the case below);
 * - replayId outside retention → a durable resync from CDC_RESYNC_OVERLAP_MS before the last
 *   event seen, then subscribe from -1;
 * - an overflow or wildcard event → a durable resync of everything, the position kept;
 * - every CDC_STALL_CHECK_MS while streaming, the stall check (watch.ts): changes Salesforce
 *   has and the stream never delivered → a resync of that window, counted as a stall.
 * While a resync is to do (resync.ts) the health is `resyncing`, `streaming` after.
 * Events go through pipeline.ts to Kafka and the checkpoint.
 */
import { changeKeyOf, fromEvent } from '../changes/index.ts'
import { AppError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import { backoffDelay, sleep } from '../retry.ts'
import { cdcChannelOf } from '../salesforce/index.ts'
import type { Services } from '../services.ts'
import type { Settings } from '../settings/index.ts'
import type { CdcState, LeaseFence } from '../store/index.ts'
import type { LimitCode, Signal } from './classify.ts'
import { createCdcClient, type CdcClient } from './faye-client.ts'
import { limitError, needsReauthError, subscribeError, type CdcHealth, type HealthReporter } from './health.ts'
import { createMailbox } from './mailbox.ts'
import type { CdcMetrics } from './metrics.ts'
import { createPipeline, type Pipeline } from './pipeline.ts'
import { createResyncer, type ResyncOrder } from './resync.ts'
import { allocationAvailable, newestModstamp, stalledSince, type LimitsReader } from './watch.ts'

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
  /**
   * Read the records of a resync (an overflow or wildcard event, a replay id outside retention,
   * a stall) and produce them; resolve once they are on Kafka, reject when it failed (retried
   * with backoff). Called only while the stream position is established, one at a time.
   */
  resync?: (ctx: StreamContext, order: ResyncOrder) => Promise<void>
}

export interface StreamTuning {
  leaseTtlMs: number
  failedRetryMs: number
  pausedRetryMs: number
  maxQueued: number
  batchMessages: number
  replayPollMs: number
  /** A lost position resyncs from this long before the last event seen (CDC_RESYNC_OVERLAP_MS). */
  resyncOverlapMs: number
  /** Stall check period (CDC_STALL_CHECK_MS). */
  stallCheckMs: number
  /** Changes younger than this are not expected yet by the stall check. */
  stallGraceMs: number
  /** Backoff of a failed resync. */
  resyncRetryMinMs: number
  resyncRetryMaxMs: number
}

export interface SessionDeps {
  services: Services
  merchantId: string
  hooks: StreamHooks
  health: HealthReporter
  metrics: CdcMetrics
  /** `/limits`, read once per org and SALESFORCE_LIMITS_POLL_MS (shared by the engine's streams). */
  readLimits: LimitsReader
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
  | { kind: 'retry' } | { kind: 'stop' } | { kind: 'resync-active' }

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
  // The current client's subscription is acknowledged (the stream position is established).
  let subscribed = false
  let firstSubscribedAt: number | null = null
  let lastSubscribedAt = 0
  // The allocation the stream is paused on, probed through /limits before subscribing again.
  let pausedOn: LimitCode | null = null
  let resyncReason = 'resync'

  const resyncer = createResyncer({
    store, lease, merchantId, log, metrics,
    run: (order) => (hooks.resync ? hooks.resync(ctx, order) : Promise.resolve()),
    onActive: (_active, reason) => {
      resyncReason = reason
      mailbox.push({ kind: 'resync-active' })
    },
    onFenced: () => loseLease(),
    retryMinMs: tuning.resyncRetryMinMs,
    retryMaxMs: tuning.resyncRetryMaxMs,
  })
  /** Ask for a resync (stored before the stream moves on); without a resync hook there is nobody to run it. */
  const storeResync = async (reason: string, from: Date | null) => {
    if (!hooks.resync) return
    await resyncer.request(reason, from)
  }
  const requestResync = (reason: string, from: Date | null) =>
    storeResync(reason, from).catch((err: unknown) => log.error({ err, reason }, 'storing the resync request failed; it runs, but a crash before it completes loses it'))
  await resyncer.load()
  /** What a subscribed stream shows: `resyncing` while a resync is to do. */
  const reportLive = (reason: string) => (resyncer.active() ? report('resyncing', null, resyncReason) : report('streaming', null, reason))

  const pipeline: Pipeline = createPipeline({
    produce: (messages) => services.kafka.produce(config.kafka.topics.salesforceChanges, messages),
    saveCheckpoint: (replayId, force) => store.saveReplayId(merchantId, channel, replayId, { lease, force }),
    noteEvent: (at) => store.noteCdcEvent(merchantId, at),
    takeReplayRequest: async () => {
      const request = await store.takeReplayRequest(merchantId, { lease })
      if (request && request.channel !== channel) log.warn({ channel: request.channel }, 'cdc-replay request for another channel: saved, not streamed')
      return request && request.channel === channel ? request.replayId : null
    },
    // Thrown, not logged: the pipeline retries it and keeps the checkpoint before the event until it is stored.
    onResync: (reason) => storeResync(reason, null),
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
  const resyncing = resyncer.run(sessionSignal).catch((err: unknown) => log.error({ err }, 'the resync loop failed'))

  /** The last event received (ms): the stored one, or this session's when newer (the pipeline writes it at most once a second). */
  const newestEventAt = (stored: Date | null | undefined): number | null => {
    const ours = pipeline.lastEventAt()
    const theirs = stored?.getTime() ?? null
    return ours === null ? theirs : theirs === null ? ours : Math.max(ours, theirs)
  }

  /** One stall check: Salesforce's newest change against the last event received. */
  async function checkStall(): Promise<void> {
    if (!subscribed || !hooks.resync || resyncer.active() || pipeline.queued() > 0 || firstSubscribedAt === null) return
    const now = Date.now()
    // Just subscribed again: the replay from the checkpoint is still arriving.
    if (now - lastSubscribedAt < tuning.stallGraceMs) return
    const conn = await connections.get(merchantId)
    const newest = await newestModstamp(conn, object!, new Date(now - tuning.stallGraceMs))
    const lastEventAt = newestEventAt((await store.getSyncHealth(merchantId)).lastEventAt)
    const seen = stalledSince({ newest, lastEventAt, coveredUntil: resyncer.coveredUntil(), since: firstSubscribedAt })
    if (seen === null || !subscribed || resyncer.active()) return
    metrics.stall()
    log.warn({ newestChange: new Date(newest!).toISOString(), lastEventAt: lastEventAt === null ? null : new Date(lastEventAt).toISOString(), deliveredUpTo: new Date(seen).toISOString() }, 'stall: Salesforce has changes the stream never delivered; resyncing that window')
    await requestResync('stall', new Date(seen - tuning.resyncOverlapMs))
  }
  const stallChecks = (async () => {
    while (!sessionSignal.aborted) {
      await sleep(tuning.stallCheckMs, sessionSignal).catch(() => undefined)
      if (sessionSignal.aborted) return
      await checkStall().catch((err: unknown) => log.warn({ err }, 'stall check failed; the next one tries again'))
    }
  })()

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
      pipeline.push({ replayId: result.replayId, receivedAt: Date.now(), messages: [], resync: result.changeType === 'GAP_OVERFLOW' ? 'overflow' : 'wildcard' })
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
    subscribed = false
    resyncer.setReady(false)
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
        subscribed = true
        lastSubscribedAt = Date.now()
        firstSubscribedAt ??= lastSubscribedAt
        resyncer.setReady(true)
        await reportLive('subscribed')
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
        pausedOn = signal$.code
        log.warn({ error: signal$.error, code: signal$.code }, 'Salesforce allocation reached: paused, the checkpoint kept; /limits tells when it is back')
        await report('paused', limitError(signal$.code, signal$.error), signal$.code)
        retryIn(tuning.pausedRetryMs)
        return null
      case 'subscribe-failed':
        if (signal$.code === 'cdc.replay-invalid') {
          // The window: from a while before the last event seen (none seen: everything).
          const lastEventAt = newestEventAt((await store.getSyncHealth(merchantId).catch(() => null))?.lastEventAt ?? null)
          const from = lastEventAt === null ? null : new Date(lastEventAt - tuning.resyncOverlapMs)
          log.warn({ error: signal$.error, checkpoint: pipeline.checkpoint(), lastEventAt: lastEventAt === null ? null : new Date(lastEventAt), resyncFrom: from }, 'stored replay id outside retention: subscribing to new events, a resync covers the gap')
          // Stored first: once a new position is saved, nothing else remembers the gap.
          await requestResync('replay-invalid', from)
          pipeline.forgetPosition()
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

  /** Paused on an allocation: whether `/limits` says it is back (a failed read: try anyway). */
  async function allocationBack(code: LimitCode): Promise<SessionEnd | boolean> {
    try {
      const { available, remaining } = await allocationAvailable(() => deps.readLimits(connection!.orgId, () => connections.get(merchantId)), code)
      metrics.limitsProbe(available ? 'available' : 'exhausted')
      log.info({ code, remaining }, available ? 'allocation available again: subscribing from the checkpoint' : 'allocation still used up: staying paused')
      return available
    } catch (err) {
      const end = endOf(err)
      if (end) return end
      metrics.limitsProbe('error')
      log.warn({ err, code }, 'reading /limits failed: trying to subscribe anyway')
      return true
    }
  }

  async function retryNow(): Promise<SessionEnd | null> {
    waitingToRetry = false
    if (pausedOn) {
      const back = await allocationBack(pausedOn)
      if (typeof back !== 'boolean') return back
      if (!back) {
        retryIn(tuning.pausedRetryMs)
        return null
      }
      pausedOn = null
    }
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
        case 'resync-active':
          if (subscribed) await reportLive('resynced')
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
    await Promise.all([hook, resyncing, stallChecks])
  }
}

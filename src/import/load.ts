/**
 * The first full load: every record of the import object, read in Id order by `readRecords`
 * (REST keyset pages, or one Bulk API 2.0 job above SALESFORCE_BULK_THRESHOLD) and produced to
 * `salesforce.changes` as SNAPSHOT messages, so it goes through the importer like any change.
 *
 * No gap: it runs only once the merchant's CDC subscription is acknowledged (the stream
 * position is taken first), so every change made while it reads arrives as an event too; the
 * importer's per-field order (SystemModstamp against commitTimestamp) makes both converge to
 * Salesforce's final state in either order.
 *
 * A load is a job run of kind `import-load`, one per merchant at a time, for one version of
 * the import settings (object, email field, fields, mode: its `key`); it is needed when the
 * last completed load had another key. Its checkpoint (the last Id produced) resumes it after
 * a crash, but only when the stream has a checkpoint of its own: a stream that never saved a
 * replay id resubscribes at "new events only", which does not cover the downtime, so the
 * load starts over. A Bulk load resumes as a new job for `Id > last` (both paths read in Id
 * order); the interrupted job's locators are not reused.
 *
 * A resync (src/cdc/resync.ts asks for it, durably) is a run of the same kind that reads a
 * window (`SystemModstamp >= from`) or everything, through `queryAll` so deletes are seen
 * (resync.ts); it resumes after a crash when the run's checkpoint names the same request. A
 * windowed resync before the first load completed reads everything instead.
 */
import { createHash, randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import { changeKeyOf, fromRecord } from '../changes/index.ts'
import { AppError } from '../errors.ts'
import { retry, sleep } from '../retry.ts'
import { readRecords, soqlDateTime, type ReadOptions } from '../salesforce/index.ts'
import type { Services } from '../services.ts'
import type { ImportConfig, Settings } from '../settings/index.ts'
import type { JobRun, LeaseFence } from '../store/index.ts'
import { resyncMessageOf } from './resync.ts'

export const LOAD_KIND = 'import-load'
/** Records per batch read (a REST page, a Bulk batch) and produced. */
export const LOAD_PAGE_SIZE = 2000

/** What the CDC subscriber hands over once a merchant's subscription is acknowledged. */
export interface LoadContext {
  merchantId: string
  settings: Settings
  channel: string
  orgId: string
  lease: LeaseFence
  signal: AbortSignal
}

interface LoadCheckpoint {
  key: string
  lastId: string | null
  /** A resync's request id and window start (ISO, null: everything). */
  resync?: { id: string; from: string | null }
  /** A resync over a completed load of these settings: a failed or stopped one does not call for a full load again. */
  loaded?: true
}

/** A resync to run: the durable request's id (a resumed run continues it) and its window. */
export interface ResyncOrder {
  id: string
  /** Records with `SystemModstamp >= from`; null: every record. */
  from: Date | null
  reason: string
}

/** How a load ended. */
export type LoadOutcome = 'completed' | 'skipped' | 'stopped' | 'failed'

/** What a load is for: the org (another org connected starts clean) and the import settings. */
export function loadKeyOf(orgId: string, imp: ImportConfig): string {
  const basis = JSON.stringify([orgId, imp.object, imp.emailField, imp.mode, imp.fields.map((f) => [f.field, f.property, f.type])])
  return createHash('sha256').update(basis).digest('hex').slice(0, 16)
}

export interface LoadRunner {
  /** Load when the settings' key has no completed load yet (or `force`: everything again). */
  run(ctx: LoadContext, options?: { force?: boolean; reason?: string }): Promise<void>
  /**
   * Run a resync (replacing a load still running) and resolve once every record it read is
   * on Kafka; rejects when it failed (the caller retries) or was stopped.
   */
  resync(ctx: LoadContext, order: ResyncOrder): Promise<void>
}

export interface LoadRunnerOptions {
  /** Records per batch. Default {@link LOAD_PAGE_SIZE}. */
  pageSize?: number
  /** Bulk job tuning (polling, rows per results page); tests make it small. */
  bulk?: ReadOptions['bulk']
}

export function createLoadRunner(services: Services, options: LoadRunnerOptions = {}): LoadRunner {
  const { store, config, kafka, connections } = services
  // Import turned on again, or the org connected again: what changed meanwhile is loaded again, even when the
  // settings are the ones of the last completed load. The flag is set before the restarted
  // stream subscribes (the notice reaches every listener before anyone awaits).
  const reenabled = new Set<string>()
  services.events.on('settings-changed', (merchantId, detail) => {
    if (detail.changes.includes('import.enabled')) reenabled.add(merchantId)
  })
  // Connected again (same org): what was produced while disconnected was skipped, so load again.
  services.events.on('connected', (merchantId) => void reenabled.add(merchantId))
  const owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`
  const pageSize = options.pageSize ?? LOAD_PAGE_SIZE
  const topic = config.kafka.topics.salesforceChanges

  /** The run to work on: a new one, ours from an earlier stream, or a dead owner's taken over. */
  async function claim(merchantId: string, signal: AbortSignal): Promise<JobRun | null> {
    for (;;) {
      const claim = await store.claimJobRun(merchantId, LOAD_KIND, { dryRun: false, owner, ttlMs: config.leaseTtlMs })
      if (claim.claimed) return claim.run
      if (claim.running.owner === owner) return claim.running
      // Another owner's run with a fresh heartbeat: wait for it to finish or go stale.
      await sleep(Math.max(500, config.leaseTtlMs / 2), signal)
      const latest = await store.getLatestJobRun(merchantId, LOAD_KIND)
      if (latest && latest.status !== 'queued' && latest.status !== 'running') return null
    }
  }

  async function load(ctx: LoadContext, force: boolean, reason: string, order?: ResyncOrder): Promise<LoadOutcome> {
    const { merchantId, settings, signal } = ctx
    const imp = settings.import
    if (!imp.enabled || !imp.object || !imp.emailField) return 'skipped'
    const key = loadKeyOf(ctx.orgId, imp)
    const logger = services.logger.child({ component: 'import-load', merchantId })
    const latest = await store.getLatestJobRun(merchantId, LOAD_KIND)
    const latestCheckpoint = latest?.checkpoint as LoadCheckpoint | null | undefined
    const loaded = latestCheckpoint?.key === key && (latest!.status === 'completed' || latestCheckpoint.loaded === true)
    if (reenabled.delete(merchantId)) force = true
    if (!force && loaded) return 'skipped'
    // A window is enough only over a completed load of these settings; else read everything.
    let resync: LoadCheckpoint['resync'] = order ? { id: order.id, from: order.from && loaded ? order.from.toISOString() : null } : undefined

    const run = await claim(merchantId, signal)
    if (!run) return order ? 'stopped' : 'skipped'
    const previous = run.checkpoint as LoadCheckpoint | null
    // A resync resumes only its own request; a forced load reads everything again; a load
    // resumes only what it is sure to cover.
    const resumable = order
      ? previous?.key === key && previous.resync?.id === order.id && previous.lastId !== null
      : !force && previous?.key === key && !previous.resync && previous.lastId !== null && (await store.getReplayId(merchantId, ctx.channel)) !== null
    if (order && resumable) resync = previous!.resync
    let lastId = resumable ? previous!.lastId : null
    let processed = resumable ? Number((run.progress as { processed?: number } | null)?.processed ?? 0) : 0
    // Every update is also a sign of life, so the run is not taken over while it progresses.
    const update = async (patch: Parameters<typeof store.updateJobRun>[1]) => {
      await store.updateJobRun(run.id, patch, { owner })
      await store.heartbeatJobRun(run.id, owner)
    }
    const fields = [imp.emailField, ...imp.fields.map((f) => f.field)]
    const attempt = <T>(fn: () => Promise<T>) => retry(fn, { retries: 5, minDelayMs: 500, maxDelayMs: 15_000, signal })
    const checkpoint = (): LoadCheckpoint => ({ key, lastId, ...(resync ? { resync } : {}), ...(resync && loaded ? { loaded: true as const } : {}) })
    // A resync reads through queryAll (deleted records become DELETE messages), of a window or everything.
    const window = resync ? { queryAll: true, ...(resync.from === null ? {} : { where: `SystemModstamp >= ${soqlDateTime(new Date(resync.from))}` }) } : {}
    const what = resync ? `resync${resync.from === null ? ' of everything' : ` from ${resync.from}`}` : 'full load'
    try {
      await update({ status: 'running', phase: 'count', startedAt: resumable ? run.startedAt ?? new Date() : new Date(), finishedAt: null, error: null, checkpoint: checkpoint(), progress: { processed, total: null, reason } })
      logger.info({ runId: run.id, object: imp.object, resumedAfter: lastId, reason }, `${what} ${lastId ? 'resumed' : 'started'}`)
      const conn = await connections.get(merchantId)
      let total = 0
      let apiCalls = run.apiCalls
      const pages = readRecords(conn, { object: imp.object, fields, afterId: lastId, ...window }, {
        bulkThreshold: config.salesforce.bulkThreshold, pageSize, signal, bulk: options.bulk, onApiCall: () => void apiCalls++,
        onStart: async (read) => {
          // A resumed load counts what is left after its checkpoint.
          total = processed + read.total
          logger.info({ runId: run.id, total: read.total, path: read.path }, read.path === 'bulk' ? 'reading through Bulk API 2.0' : 'reading through REST queries')
          await update({ phase: 'read', apiCalls, progress: { processed, total, reason } })
        },
      })
      for await (const page of pages) {
        const receivedAt = Date.now()
        const context = { merchantId, orgId: ctx.orgId, object: imp.object!, receivedAt, loadId: run.id }
        const messages = page.map((record) => (resync ? resyncMessageOf(record, context) : fromRecord(record, { ...context, source: 'load' })))
        await attempt(() => kafka.produce(topic, messages.map((m) => ({ key: changeKeyOf(merchantId, m.recordId), value: JSON.stringify(m) }))))
        processed += page.length
        lastId = page[page.length - 1]!.Id
        await update({ checkpoint: checkpoint(), apiCalls, progress: { processed, total: Math.max(total, processed), reason } })
      }
      await update({ status: 'completed', phase: 'done', finishedAt: new Date(), apiCalls, progress: { processed, total: processed, reason } })
      logger.info({ runId: run.id, processed }, `${what} completed`)
      return 'completed'
    } catch (err) {
      // Stopped (the stream stops, another instance took the run): the next holder resumes.
      if (signal.aborted || (err instanceof AppError && (err.code === 'aborted' || err.code === 'store.fenced'))) return 'stopped'
      const message = (err as Error).message
      logger.error({ runId: run.id, code: (err as AppError).code, reason: message }, resync ? 'resync failed' : 'full load failed')
      await update({ status: 'failed', finishedAt: new Date(), error: message }).catch(() => undefined)
      return 'failed'
    }
  }

  // One load per merchant at a time in this process: a resync replaces a running load (it
  // reads everything anyway); a load asked for while one runs for a live stream waits for it.
  const active = new Map<string, { controller: AbortController; signal: AbortSignal; done: Promise<LoadOutcome> }>()
  async function run(ctx: LoadContext, force: boolean, reason: string, order?: ResyncOrder): Promise<LoadOutcome> {
    const current = active.get(ctx.merchantId)
    if (current) {
      if (!force && !current.signal.aborted) return current.done
      current.controller.abort()
      await current.done
    }
    const controller = new AbortController()
    const signal = AbortSignal.any([ctx.signal, controller.signal])
    // Never rejects: the hooks run in the background, and a failure is the run's state.
    const done = load({ ...ctx, signal }, force, reason, order).catch((err: unknown): LoadOutcome => {
      if (signal.aborted) return 'stopped'
      services.logger.error({ err, merchantId: ctx.merchantId }, 'full load could not start')
      return 'failed'
    })
    active.set(ctx.merchantId, { controller, signal, done })
    void done.finally(() => {
      if (active.get(ctx.merchantId)?.done === done) active.delete(ctx.merchantId)
    })
    return done
  }

  return {
    run: async (ctx, runOptions = {}) => {
      await run(ctx, runOptions.force ?? false, runOptions.reason ?? (runOptions.force ? 'resync' : 'settings'))
    },
    async resync(ctx, order) {
      const outcome = await run(ctx, true, order.reason, order)
      if (outcome === 'failed') throw new AppError('unavailable', `the resync of ${ctx.merchantId} failed (see health.load)`)
      if (outcome === 'stopped') throw new AppError('aborted', `the resync of ${ctx.merchantId} was stopped`)
    },
  }
}

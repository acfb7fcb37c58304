/**
 * The export backfill (issue #12, flow 6; contracts §2): when export is turned on, a mapping is
 * added or the mode becomes `all`, every existing Cohort user of the merchant is exported once
 * through the export's own resolve and write path — matched records get `cohortUserIdField`
 * and the mapped values, and in mode `all` missing records are created — so Salesforce does
 * not wait for each user's next change.
 *
 * A backfill is a job run of kind `export-backfill`, one per merchant at a time (the store's
 * claim), owned by one instance and heartbeated. It reads the users in pages of the Cohort
 * client's cursor; after each page is written (the writer resolves only once its work is
 * stored) the run's checkpoint moves to the next cursor, so a crash, a stop or a take-over by
 * another instance (a heartbeat older than LEASE_TTL_MS) resumes at the page it was on. Before
 * every page and before it completes, the run reads the settings again: export turned off ends
 * it (`failed`, "export turned off"); a mapping added meanwhile (or the mode turned to `all`)
 * starts its walk again from the first page with the new settings, so nothing added while it
 * runs is missed. A sweep every LEASE_TTL_MS resumes runs whose owner died and starts the
 * backfill of a mapping whose save no instance noticed. While a reconcile of the merchant is
 * live the backfill waits, queued (contracts §8: one of them at a time); while the merchant's
 * export is paused it waits too (`phase: "paused"`), its cursor where it was.
 */
import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import type { User } from '../cohort/index.ts'
import { createComponent, type Component } from '../component.ts'
import { AppError, isRetriable } from '../errors.ts'
import { retry, sleep } from '../retry.ts'
import type { Services } from '../services.ts'
import type { Settings } from '../settings/index.ts'
import type { JobRun, Store } from '../store/index.ts'

export const BACKFILL_KIND = 'export-backfill'
/** The run kind of the nightly reconcile, which a backfill never runs beside. */
export const RECONCILE_KIND = 'reconcile'
/** Users per page: one resolve and one collections call of at most 200 records each. */
export const BACKFILL_PAGE_SIZE = 200

/** What one page of users came to, by action (`updated`, `created`, `unchanged`, `skipped`…) and by reason of a skip or error. */
export interface BackfillOutcome {
  byAction: Record<string, number>
  byReason: Record<string, number>
  /** Salesforce calls the page took. */
  apiCalls?: number
}

/**
 * The export's write path for a page of users: resolve each user's record, create the missing
 * ones in mode `all`, write the mapped values (with each user's `version`, so later events
 * still win and older ones change nothing), record per-record errors, and store it all. It
 * resolves only when that is durable; a retriable error is retried by the backfill.
 */
export type BackfillWriter = (merchantId: string, settings: Settings, users: User[], signal: AbortSignal) => Promise<BackfillOutcome>

export interface BackfillOptions {
  writer: BackfillWriter
  /** Users per page. Default {@link BACKFILL_PAGE_SIZE}. */
  pageSize?: number
  /** How often runs left by a dead owner are looked for. Default LEASE_TTL_MS. */
  sweepMs?: number
  /** How often a backfill waiting for the merchant's export pause looks again. Default 2,000 ms. */
  pausePollMs?: number
}

export interface ExportBackfill extends Component {
  /** Start (or join) the merchant's backfill now, when export is on. Resolves when it ends in this process. */
  run(merchantId: string, reason: string): Promise<void>
}

interface Checkpoint {
  /** The Cohort cursor of the next page; null: the first. */
  cursor: string | null
  /** `property→field` pairs, plus `mode:all`, the walk covers. */
  covered: string[]
  reason: string
  /** The last page is written: only the settings check before completing is left. */
  walked: boolean
}

interface Progress {
  processed: number
  total: null
  reason: string
}

interface Counts {
  byAction: Record<string, number>
  byReason: Record<string, number>
}

/** What a backfill covers: every mapping, and whether missing records are created. */
export function backfillKeysOf(settings: Settings): string[] {
  const keys = settings.export.mappings.map((m) => `${m.property}→${m.field}`)
  if (settings.export.mode === 'all') keys.push('mode:all')
  return keys.sort()
}

const isLive = (run: JobRun | null): boolean => run !== null && (run.status === 'queued' || run.status === 'running')

/**
 * The live reconcile or export backfill of a merchant, if any: what a reconcile request must
 * answer 409 `reconcile.running` for (contracts §8).
 */
export async function liveJobRunOf(store: Store, merchantId: string): Promise<JobRun | null> {
  const [reconcile, backfill] = await Promise.all([store.getLatestJobRun(merchantId, RECONCILE_KIND), store.getLatestJobRun(merchantId, BACKFILL_KIND)])
  return isLive(reconcile) ? reconcile : isLive(backfill) ? backfill : null
}

/** Throws 409 `reconcile.running` with the `runId` while a reconcile or export backfill is live. */
export async function assertNoJobRunning(store: Store, merchantId: string): Promise<void> {
  const live = await liveJobRunOf(store, merchantId)
  if (live) {
    const what = live.kind === BACKFILL_KIND ? 'an export backfill' : 'a reconcile'
    throw new AppError('reconcile.running', `${what} of this merchant is ${live.status}`, { details: { runId: live.id } })
  }
}

const add = (into: Record<string, number>, from: Record<string, number>) => {
  for (const [k, n] of Object.entries(from)) if (n) into[k] = (into[k] ?? 0) + n
}

export function createExportBackfill(services: Services, options: BackfillOptions): ExportBackfill {
  const { store, config, cohort, events } = services
  const logger = services.logger.child({ component: 'export-backfill' })
  const owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`
  const pageSize = options.pageSize ?? BACKFILL_PAGE_SIZE
  const sweepMs = options.sweepMs ?? config.leaseTtlMs
  const ttlMs = config.leaseTtlMs
  const pausePollMs = options.pausePollMs ?? 2_000
  const active = new Map<string, Promise<void>>()
  let stopping: AbortController | null = null
  let sweepTimer: NodeJS.Timeout | undefined

  const exportOn = (s: Settings) => s.export.enabled && s.import.enabled && s.import.object !== undefined && s.import.emailField !== undefined

  /** The run to work on: new, ours, or a dead owner's taken over; null when another instance holds it. */
  async function claim(merchantId: string): Promise<JobRun | null> {
    const claimed = await store.claimJobRun(merchantId, BACKFILL_KIND, { dryRun: false, owner, ttlMs })
    if (claimed.claimed) return claimed.run
    return claimed.running.owner === owner ? claimed.running : null
  }

  const update0 = (id: string, patch: Parameters<Store['updateJobRun']>[1]) => store.updateJobRun(id, patch, { owner })

  async function walk(merchantId: string, reason: string, signal: AbortSignal): Promise<void> {
    const before = await store.getLatestJobRun(merchantId, BACKFILL_KIND)
    const run = await claim(merchantId)
    if (!run) return
    const log = logger.child({ merchantId, runId: run.id })
    // A new run after one that failed part-way (a permanent error, needs-reauth) goes on from
    // where that one stopped; after "export turned off" it starts over.
    const carried = run.checkpoint === null && before?.id !== run.id && before?.status === 'failed' && before.error !== 'export turned off' && before.checkpoint !== null ? before : null
    if (carried) {
      await update0(run.id, { checkpoint: carried.checkpoint, progress: carried.progress, counts: carried.counts, apiCalls: carried.apiCalls })
      Object.assign(run, { checkpoint: carried.checkpoint, progress: carried.progress, counts: carried.counts, apiCalls: carried.apiCalls })
    }
    const previous = run.checkpoint as Checkpoint | null
    let checkpoint: Checkpoint = previous ?? { cursor: null, covered: [], reason, walked: false }
    const progress = run.progress as Progress | null
    let processed = previous ? progress?.processed ?? 0 : 0
    const counts: Counts = (previous ? (run.counts as Counts | null) : null) ?? { byAction: {}, byReason: {} }
    let apiCalls = previous ? run.apiCalls : 0
    const update = async (patch: Parameters<Store['updateJobRun']>[1]) => {
      await store.updateJobRun(run.id, patch, { owner })
    }
    // A page can take long (retries, a slow org): the heartbeat keeps the run ours meanwhile.
    const heartbeat = setInterval(() => {
      void store.heartbeatJobRun(run.id, owner).catch((err: unknown) => log.warn({ err }, 'backfill heartbeat failed'))
    }, Math.max(200, ttlMs / 3))
    heartbeat.unref()
    const attempt = <T>(fn: () => Promise<T>) => retry(fn, { retries: 8, minDelayMs: 500, maxDelayMs: 30_000, signal })

    try {
      // A reconcile of the merchant runs alone: wait for it, queued.
      while (isLive(await store.getLatestJobRun(merchantId, RECONCILE_KIND))) {
        await sleep(Math.max(200, ttlMs / 3), signal)
      }
      let settings = await services.settings.get(merchantId)
      /** Settings again: `off` when export went off; the walk restarts when they ask for more than it covers. */
      const refresh = async (): Promise<'off' | 'same' | 'restarted'> => {
        settings = await services.settings.get(merchantId)
        if (!exportOn(settings)) return 'off'
        const keys = backfillKeysOf(settings)
        const added = keys.filter((k) => !checkpoint.covered.includes(k))
        if (added.length === 0 && checkpoint.covered.length > 0) {
          checkpoint = { ...checkpoint, covered: keys }
          return 'same'
        }
        if (checkpoint.covered.length > 0) {
          log.info({ added }, 'export settings grew during the backfill: walking the users again')
          // Progress and counts describe the walk that is going on.
          processed = 0
          counts.byAction = {}
          counts.byReason = {}
        }
        checkpoint = { cursor: null, covered: keys, reason: checkpoint.reason, walked: false }
        return 'restarted'
      }
      await update({ status: 'running', phase: 'users', startedAt: run.startedAt ?? new Date(), error: null })
      log.info({ reason: checkpoint.reason, resumedAt: checkpoint.cursor }, checkpoint.cursor ? 'export backfill resumed' : 'export backfill started')
      for (;;) {
        const state = await refresh()
        if (state === 'off') {
          await update({ status: 'failed', phase: 'done', finishedAt: new Date(), error: 'export turned off', checkpoint, progress: { processed, total: null, reason: checkpoint.reason } satisfies Progress })
          log.info({ processed }, 'export backfill ended: export turned off')
          return
        }
        // Walked to the end, and nothing was added while the last pages were written.
        if (checkpoint.walked) break
        // The merchant's export is paused (API limit or budget, re-authorisation): wait with
        // the cursor where it is rather than park every remaining user (the writer parks at
        // most the page that met the pause; the exporter sends those first on resume).
        if (await store.getExportPause(merchantId)) {
          await update({ phase: 'paused' })
          log.info('export paused: the backfill waits')
          while ((await store.getExportPause(merchantId)) && exportOn(await services.settings.get(merchantId))) await sleep(pausePollMs, signal)
          await update({ phase: 'users' })
          continue
        }
        const page = await cohort.listUsersPage(merchantId, checkpoint.cursor, { pageSize, signal })
        if (page.users.length > 0) {
          const outcome = await attempt(() => options.writer(merchantId, settings, page.users, signal))
          add(counts.byAction, outcome.byAction)
          add(counts.byReason, outcome.byReason)
          apiCalls += outcome.apiCalls ?? 0
          processed += page.users.length
        }
        checkpoint = { ...checkpoint, cursor: page.nextCursor, walked: page.nextCursor === null }
        await update({ checkpoint, counts, apiCalls, progress: { processed, total: null, reason: checkpoint.reason } satisfies Progress })
      }
      await update({ status: 'completed', phase: 'done', finishedAt: new Date(), counts, apiCalls, progress: { processed, total: null, reason: checkpoint.reason } satisfies Progress })
      log.info({ processed, byAction: counts.byAction }, 'export backfill completed')
    } catch (err) {
      // Stopped, or another instance took the run over: whoever holds it next resumes.
      if (signal.aborted || (err instanceof AppError && (err.code === 'aborted' || err.code === 'store.fenced'))) return
      const message = (err as Error).message
      log.error({ code: (err as AppError).code, reason: message, retriable: isRetriable(err) }, 'export backfill failed')
      await update({ status: 'failed', finishedAt: new Date(), error: message, checkpoint, counts, apiCalls }).catch(() => undefined)
    } finally {
      clearInterval(heartbeat)
    }
  }

  function run(merchantId: string, reason: string): Promise<void> {
    const current = active.get(merchantId)
    if (current) return current
    const signal = stopping?.signal ?? AbortSignal.abort()
    const done = walk(merchantId, reason, signal).catch((err: unknown) => {
      if (!signal.aborted) logger.error({ err, merchantId }, 'export backfill could not start')
    })
    active.set(merchantId, done)
    void done.finally(() => {
      if (active.get(merchantId) === done) active.delete(merchantId)
    })
    return done
  }

  /** Whether the merchant needs a backfill now: a live run without a living owner, or settings its last run did not cover. */
  async function needed(merchantId: string): Promise<string | null> {
    if (active.has(merchantId)) return null
    const settings = await services.settings.get(merchantId)
    if (!exportOn(settings)) return null
    const latest = await store.getLatestJobRun(merchantId, BACKFILL_KIND)
    // Export on and never backfilled: the save was not seen here (or predates the backfill).
    if (latest === null) return 'export turned on'
    // A live run: the claim takes it over only when its owner stopped beating.
    if (isLive(latest)) return (latest.checkpoint as Checkpoint | null)?.reason ?? 'resume'
    if (latest.status !== 'completed') return null
    const covered = (latest.checkpoint as Checkpoint | null)?.covered ?? []
    return backfillKeysOf(settings).some((k) => !covered.includes(k)) ? 'mapping added' : null
  }

  async function sweep(): Promise<void> {
    for (const connection of await store.listConnections()) {
      if (stopping === null || stopping.signal.aborted) return
      if (connection.state !== 'connected') continue
      const reason = await needed(connection.merchantId).catch((err: unknown) => {
        logger.warn({ err, merchantId: connection.merchantId }, 'export backfill sweep: reading the merchant failed')
        return null
      })
      if (reason) void run(connection.merchantId, reason)
    }
  }

  const onSettings = async (merchantId: string, detail: { changes: string[] }) => {
    const turnedOn = detail.changes.includes('export.enabled')
    if (!turnedOn && !detail.changes.includes('export.mappings') && !detail.changes.includes('export.mode')) return
    const settings = await services.settings.get(merchantId)
    if (!exportOn(settings)) return
    if (turnedOn) {
      // Off and on again: every user again (events were skipped while it was off).
      const latest = await store.getLatestJobRun(merchantId, BACKFILL_KIND)
      if (!isLive(latest) || active.has(merchantId)) {
        void run(merchantId, 'export turned on')
        return
      }
    }
    const reason = await needed(merchantId)
    if (reason) void run(merchantId, reason)
  }

  const onConnected = async (merchantId: string) => {
    // Reconnected after needs-reauth or a disconnect: a backfill that failed meanwhile goes on.
    const latest = await store.getLatestJobRun(merchantId, BACKFILL_KIND)
    const settings = await services.settings.get(merchantId)
    if (latest?.status === 'failed' && latest.error !== 'export turned off' && exportOn(settings)) void run(merchantId, 'reconnected')
  }

  const lifecycle = createComponent('export-backfill', {
    async start() {
      stopping = new AbortController()
      events.on('settings-changed', onSettings)
      events.on('connected', onConnected)
      await sweep().catch((err: unknown) => logger.warn({ err }, 'export backfill: the first sweep failed; the next one tries again'))
      sweepTimer = setInterval(() => void sweep().catch((err: unknown) => logger.warn({ err }, 'export backfill sweep failed')), sweepMs)
      sweepTimer.unref()
    },
    async stop() {
      events.off('settings-changed', onSettings)
      events.off('connected', onConnected)
      clearInterval(sweepTimer)
      stopping?.abort(new AppError('aborted', 'export backfill stopped'))
      await Promise.all(active.values())
      stopping = null
    },
  })
  return { ...lifecycle, run }
}

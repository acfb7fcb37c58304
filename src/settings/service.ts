/**
 * The settings service: typed reads (parsed on every read, see model.ts), saves that emit
 * `settings-changed` on the merchant events, and a watcher that notices saves made by other
 * instances through the store's settings change feed (a global, strictly increasing change
 * number per save), so every instance hears of a change within `pollMs` plus one poll.
 */
import { LRUCache } from 'lru-cache'
import { createComponent, type Component } from '../component.ts'
import type { Logger } from '../logger.ts'
import type { MerchantEvents, SettingsChangeKind } from '../merchant-events.ts'
import { backoffDelay, sleep } from '../retry.ts'
import type { MerchantSettings, Store } from '../store/index.ts'
import { defaultSettings, diffSettings, parseExport, parseImport, type Settings, type StoredExport, type StoredImport } from './model.ts'

export interface SettingsService extends Component {
  /** The merchant's settings; defaults (both directions off, version 0) when never saved. */
  get(merchantId: string): Promise<Settings>
  /**
   * Save both directions at once. `expectedVersion` is the version the caller read: a save
   * made meanwhile by someone else is refused with `store.conflict`.
   */
  save(merchantId: string, next: { import: StoredImport; export: StoredExport }, options: { expectedVersion: number }): Promise<{ settings: Settings; changes: SettingsChangeKind[] }>
  /** Look for other instances' saves now; resolves with how many were noticed. */
  poll(): Promise<number>
}

export interface SettingsServiceDeps {
  store: Store
  events: MerchantEvents
  logger: Logger
  /** How often the change feed is read. Default 2000 ms. */
  pollMs?: number
}

const ALL_CHANGES: SettingsChangeKind[] = [
  'import.enabled', 'import.object', 'import.emailField', 'import.fields', 'import.mode',
  'export.enabled', 'export.mappings', 'export.mode', 'export.cohortUserIdField', 'export.createDefaults', 'export.apiBudgetPercent',
]

function toSettings(saved: MerchantSettings): Settings {
  return {
    merchantId: saved.merchantId,
    version: saved.version,
    import: parseImport(saved.import, saved.merchantId),
    export: parseExport(saved.export, saved.merchantId),
    updatedAt: saved.updatedAt,
  }
}

export function createSettingsService(deps: SettingsServiceDeps): SettingsService {
  const { store, events } = deps
  const logger = deps.logger.child({ component: 'settings' })
  const pollMs = deps.pollMs ?? 2000
  // Last version this instance knows of each merchant it has looked at: tells a remote save
  // from one already announced, and what it changed.
  const known = new LRUCache<string, Settings>({ max: 100_000 })
  let afterSeq: number | null = null

  const remember = (settings: Settings) => {
    const current = known.get(settings.merchantId)
    if (!current || current.version <= settings.version) known.set(settings.merchantId, settings)
  }

  async function get(merchantId: string): Promise<Settings> {
    const saved = await store.getSettings(merchantId)
    const settings = saved ? toSettings(saved) : defaultSettings(merchantId)
    remember(settings)
    return settings
  }

  async function poll(): Promise<number> {
    afterSeq ??= await store.latestSettingsChangeSeq()
    let noticed = 0
    for (;;) {
      const changes = await store.listSettingsChanges(afterSeq, 500)
      for (const change of changes) {
        afterSeq = change.changeSeq
        const before = known.get(change.merchantId)
        if (before && before.version >= change.version) continue // ours, or announced already
        const after = await get(change.merchantId)
        const kinds = before ? diffSettings(before, after) : ALL_CHANGES
        noticed++
        logger.info({ merchantId: change.merchantId, version: after.version, changes: kinds }, 'settings changed on another instance')
        if (kinds.length > 0) await events.emit('settings-changed', change.merchantId, { version: after.version, changes: kinds, origin: 'remote' })
      }
      if (changes.length < 500) return noticed
    }
  }

  let loop: { controller: AbortController; done: Promise<void> } | undefined

  async function watch(signal: AbortSignal): Promise<void> {
    let failures = 0
    while (!signal.aborted) {
      try {
        await poll()
        failures = 0
        await sleep(pollMs, signal)
      } catch (err) {
        if (signal.aborted) return
        failures++
        logger.warn({ err, failures }, 'reading the settings change feed failed; retrying')
        await sleep(Math.max(pollMs, backoffDelay(failures, { minDelayMs: pollMs, maxDelayMs: 30_000 })), signal).catch(() => undefined)
      }
    }
  }

  const lifecycle = createComponent('settings-watcher', {
    async start() {
      afterSeq = await store.latestSettingsChangeSeq()
      const controller = new AbortController()
      loop = { controller, done: watch(controller.signal).catch(() => undefined) }
    },
    async stop() {
      loop?.controller.abort()
      await loop?.done
      loop = undefined
    },
  })

  return {
    ...lifecycle,
    get,
    poll,
    async save(merchantId, next, options) {
      const before = known.get(merchantId)?.version === options.expectedVersion ? known.get(merchantId)! : await get(merchantId)
      const saved = await store.saveSettings(merchantId, { import: { ...next.import }, export: { ...next.export } }, options.expectedVersion)
      const after = toSettings(saved)
      remember(after)
      const changes = diffSettings(before, after)
      // A save that changes nothing is still announced (with no changes): it is how someone
      // says "try again" after fixing the cause in Salesforce (CDC enabled, access granted).
      await events.emit('settings-changed', merchantId, { version: after.version, changes, origin: 'local' })
      return { settings: after, changes }
    },
  }
}

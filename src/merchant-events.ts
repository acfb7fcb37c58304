/**
 * In-process notices about a merchant, so the parts doing a merchant's work (CDC subscriber,
 * export, reconcile) start, restart and stop it: connection events (connected, disconnected,
 * needs-reauth) and `settings-changed` (from a save on this instance, or noticed from another
 * one by the settings watcher). A notice says what changed; listeners read current values
 * from the settings service. A throwing or rejecting listener is logged and cannot break the
 * emitter or other listeners.
 */
import type { Logger } from './logger.ts'

/** What a settings save changed (see src/settings/model.ts). */
export type SettingsChangeKind =
  | 'import.enabled' | 'import.object' | 'import.emailField' | 'import.fields' | 'import.mode'
  | 'export.enabled' | 'export.mappings' | 'export.mode' | 'export.cohortUserIdField' | 'export.createDefaults' | 'export.apiBudgetPercent'

export interface SettingsChanged {
  /** The settings version after the change. */
  version: number
  /** Empty for a save that changed nothing (a "try again"). */
  changes: SettingsChangeKind[]
  /** `local`: saved by this instance; `remote`: noticed from another instance's save. */
  origin: 'local' | 'remote'
}

/** Each event with the detail its listeners get. */
export interface MerchantEventDetails {
  connected: undefined
  disconnected: undefined
  'needs-reauth': undefined
  'settings-changed': SettingsChanged
}

export type MerchantEvent = keyof MerchantEventDetails
export type MerchantListener<E extends MerchantEvent = MerchantEvent> = (merchantId: string, detail: MerchantEventDetails[E]) => void | Promise<void>

export interface MerchantEvents {
  on<E extends MerchantEvent>(event: E, listener: MerchantListener<E>): void
  off<E extends MerchantEvent>(event: E, listener: MerchantListener<E>): void
  /** Calls every listener; resolves when all have settled. */
  emit<E extends MerchantEvent>(event: E, merchantId: string, ...detail: MerchantEventDetails[E] extends undefined ? [] : [MerchantEventDetails[E]]): Promise<void>
}

export function createMerchantEvents(logger: Logger): MerchantEvents {
  const listeners = new Map<MerchantEvent, MerchantListener<never>[]>()
  return {
    on(event, listener) {
      listeners.set(event, [...(listeners.get(event) ?? []), listener as MerchantListener<never>])
    },
    off(event, listener) {
      listeners.set(event, (listeners.get(event) ?? []).filter((l) => l !== (listener as MerchantListener<never>)))
    },
    async emit(event, merchantId, ...detail) {
      await Promise.all((listeners.get(event) ?? []).map(async (listener) => {
        try {
          await (listener as MerchantListener)(merchantId, detail[0] as never)
        } catch (err) {
          logger.error({ err, event, merchantId }, 'merchant event listener failed')
        }
      }))
    },
  }
}

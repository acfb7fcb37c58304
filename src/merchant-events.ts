/**
 * In-process notices about a merchant's connection (connected, disconnected, needs-reauth), so
 * the parts doing a merchant's work (CDC subscriber, export, reconcile) start and stop it.
 * A throwing or rejecting listener is logged and cannot break the emitter or other listeners.
 */
import type { Logger } from './logger.ts'

export type MerchantEvent = 'connected' | 'disconnected' | 'needs-reauth'
export type MerchantListener = (merchantId: string) => void | Promise<void>

export interface MerchantEvents {
  on(event: MerchantEvent, listener: MerchantListener): void
  /** Calls every listener; resolves when all have settled. */
  emit(event: MerchantEvent, merchantId: string): Promise<void>
}

export function createMerchantEvents(logger: Logger): MerchantEvents {
  const listeners = new Map<MerchantEvent, MerchantListener[]>()
  return {
    on(event, listener) {
      listeners.set(event, [...(listeners.get(event) ?? []), listener])
    },
    async emit(event, merchantId) {
      await Promise.all((listeners.get(event) ?? []).map(async (listener) => {
        try {
          await listener(merchantId)
        } catch (err) {
          logger.error({ err, event, merchantId }, 'merchant event listener failed')
        }
      }))
    },
  }
}

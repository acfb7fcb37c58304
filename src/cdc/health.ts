/**
 * `health.cdc` / `cdcError` (contracts §8) as the streams report them: stored through the
 * store (so every instance answers the same), and, on each change of state or error code,
 * one status message `{ merchantId, at, kind: "cdc", state, reason }` on the status topic so
 * Cohort can tell the merchant. The `action` sentences are for the Salesforce administrator.
 */
import type { KafkaClient } from '../kafka/index.ts'
import type { Logger } from '../logger.ts'
import type { CdcError, CdcState, LeaseFence, Store } from '../store/index.ts'
import type { LimitCode, SubscribeFailure } from './classify.ts'

export interface CdcHealth {
  state: CdcState
  error: CdcError | null
}

export const NEEDS_REAUTH_ACTION = 'Reconnect Salesforce from the Cohort dashboard (Apps › Salesforce › Connect).'

export function needsReauthError(message: string): CdcError {
  return { code: 'salesforce.needs-reauth', message, action: NEEDS_REAUTH_ACTION }
}

/** The error shown when Salesforce refuses the subscription, with what the administrator must do. */
export function subscribeError(code: Exclude<SubscribeFailure, 'cdc.replay-invalid'>, object: string, raw: string): CdcError {
  switch (code) {
    case 'cdc.not-enabled':
      return { code, message: `Change Data Capture is not enabled for ${object} (Salesforce: ${raw})`, action: `In Setup › Change Data Capture, add ${object} to the selected entities.` }
    case 'cdc.no-access':
      return { code, message: `The integration user may not subscribe to changes of ${object} (Salesforce: ${raw})`, action: `Give the integration user the View All Records permission on ${object} (or View All Data) in its profile or a permission set.` }
    case 'cdc.subscribe-failed':
      return { code, message: `Salesforce refused the subscription to changes of ${object} (Salesforce: ${raw})`, action: `Check that ${object} is selected in Setup › Change Data Capture and readable by the integration user.` }
  }
}

/** The error shown while an org allocation keeps the stream paused. */
export function limitError(code: LimitCode, raw: string): CdcError {
  return code === 'cdc.delivery-limit'
    ? { code, message: `The org used up its daily Change Data Capture delivery allocation (Salesforce: ${raw})`, action: 'Nothing is lost: streaming resumes from where it stopped once the 24-hour allocation frees up; add the Change Data Capture add-on license or reduce other subscribers to avoid it.' }
    : { code, message: `The org has too many Streaming API clients connected (Salesforce: ${raw})`, action: 'Nothing is lost: streaming resumes once other Streaming API (CometD) clients of the org disconnect; reduce their number to avoid it.' }
}

export interface HealthReporter {
  /**
   * Store the merchant's CDC health; on a change, publish a status message (in the
   * background). `store.fenced` is rethrown (another instance holds the stream); other
   * failures are logged: health is what the status shows, never a reason to stop streaming.
   */
  report(merchantId: string, health: CdcHealth, options: { lease?: LeaseFence; reason: string }): Promise<boolean>
  /** Wait for the status messages still being sent. */
  drain(): Promise<void>
}

export function createHealthReporter(deps: { store: Store; kafka: KafkaClient; statusTopic: string; logger: Logger }): HealthReporter {
  const pending = new Set<Promise<void>>()
  return {
    async report(merchantId, health, options) {
      let changed: boolean
      try {
        changed = await deps.store.setCdcHealth(merchantId, health, options.lease ? { lease: options.lease } : {})
      } catch (err) {
        if ((err as { code?: string }).code === 'store.fenced') throw err
        deps.logger.warn({ err, merchantId, state: health.state }, 'storing the CDC health failed')
        return false
      }
      if (!changed) return false
      deps.logger.info({ merchantId, state: health.state, code: health.error?.code ?? null }, `CDC ${health.state}`)
      const value = JSON.stringify({ merchantId, at: new Date().toISOString(), kind: 'cdc', state: health.state, reason: health.error?.code ?? options.reason })
      const sent = deps.kafka.produce(deps.statusTopic, [{ key: merchantId, value }]).catch((err: unknown) => {
        deps.logger.warn({ err, merchantId, state: health.state }, 'publishing the CDC status message failed')
      })
      pending.add(sent)
      void sent.finally(() => pending.delete(sent))
      return true
    },
    async drain() {
      await Promise.all([...pending])
    },
  }
}

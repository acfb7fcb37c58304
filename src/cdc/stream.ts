/**
 * One merchant's CDC stream, a component. It holds the fenced lease `cdc:{merchantId}` (so one
 * instance streams a merchant), renews it every ttl/3 and stops streaming the moment a renewal
 * fails; without the lease it waits in `standby` and tries again when the holder's lease runs
 * out (at most a ttl later). Under the lease, session.ts streams.
 */
import { createComponent, type Component } from '../component.ts'
import type { Logger } from '../logger.ts'
import { backoffDelay, sleep } from '../retry.ts'
import type { Services } from '../services.ts'
import type { CdcState, LeaseFence } from '../store/index.ts'
import type { CdcHealth, HealthReporter } from './health.ts'
import { createWaker } from './mailbox.ts'
import type { CdcMetrics } from './metrics.ts'
import type { LimitsReader } from './watch.ts'
import { runSession, type SessionEnd, type StreamHooks, type StreamTuning } from './session.ts'

export type { StreamContext, StreamHooks, StreamTuning } from './session.ts'

/** Standby's wait when the lease looks free or expired but was not granted (a local clock ahead of the database's). */
const STANDBY_MIN_MS = 250
/** How long after the holder's stored expiry standby tries. */
const STANDBY_MARGIN_MS = 25

export interface StreamDeps {
  services: Services
  owner: string
  hooks: StreamHooks
  health: HealthReporter
  metrics: CdcMetrics
  readLimits: LimitsReader
  tuning: StreamTuning
  /** The stream ended by itself (needs-reauth, not connected, import off): the engine forgets it. */
  onEnd: () => void
}

/** `standby`: another instance holds the lease; `ended`: stopped by itself or by stop(). */
export type StreamState = CdcState | 'standby' | 'ended'

export interface Stream extends Component {
  readonly merchantId: string
  state(): StreamState
  /** Retry now when waiting to retry (failed, paused). */
  poke(): void
  /** Stop and report `health` (import off, disconnected, needs-reauth). */
  finish(health: CdcHealth, reason: string): Promise<void>
}

export function createStream(deps: StreamDeps, merchantId: string): Stream {
  const { services, tuning } = deps
  const { store } = services
  const log: Logger = services.logger.child({ component: 'cdc', merchantId })
  const leaseName = `cdc:${merchantId}`
  const waker = createWaker()
  let current: StreamState = 'standby'
  let poke: () => void = () => undefined
  let final: { health: CdcHealth; reason: string } | null = null
  let reported = false
  let loop: { controller: AbortController; done: Promise<void> } | undefined

  /** Hold the lease for one session: renew it, end the session when it is lost, release it after. */
  async function holdLease(grant: LeaseFence, outer: AbortSignal): Promise<SessionEnd> {
    const lost = new AbortController()
    const signal = AbortSignal.any([outer, lost.signal])
    let leaseLost = false
    const loseLease = () => {
      if (!leaseLost) log.warn('lost the stream lease: stopping')
      leaseLost = true
      lost.abort()
    }
    const renewing = (async () => {
      while (!signal.aborted) {
        await sleep(tuning.leaseTtlMs / 3, signal).catch(() => undefined)
        if (signal.aborted) return
        // A failed call is not a lost lease yet: the next renewal tells (it fails once expired).
        const held = await store.renewLease(grant.name, deps.owner, grant.fence, tuning.leaseTtlMs).catch((err: unknown) => {
          log.warn({ err }, 'renewing the stream lease failed')
          return true
        })
        if (!held) loseLease()
      }
    })()
    let end: SessionEnd = 'released'
    try {
      end = await runSession({
        services, merchantId, hooks: deps.hooks, health: deps.health, metrics: deps.metrics, readLimits: deps.readLimits, tuning, log,
        setState: (state) => {
          current = state
        },
        setPoke: (fn) => {
          poke = fn
        },
      }, grant, signal, loseLease)
      return end
    } finally {
      lost.abort()
      await renewing
      const closing = end === 'released' ? final : { health: end.ended, reason: end.reason }
      if (closing && !leaseLost) {
        reported = await deps.health.report(merchantId, closing.health, { lease: grant, reason: closing.reason }).then(() => true, () => false)
        current = 'ended'
      }
      if (!leaseLost) await store.releaseLease(grant.name, deps.owner).catch((err: unknown) => log.warn({ err }, 'releasing the stream lease failed'))
    }
  }

  /**
   * How long standby waits before trying again: until the holder's lease runs out (a dead
   * holder's stream changes hands one TTL after its last renewal, not up to two), at most a TTL.
   * The expiry is on the database's clock; a skewed local clock only moves the try (a try too
   * early fails and waits again), never lets two hold the lease.
   */
  async function untilExpiry(): Promise<number> {
    const lease = await store.getLease(leaseName).catch(() => undefined)
    // The store failing: no faster than before.
    if (lease === undefined) return tuning.leaseTtlMs
    if (!lease?.held) return STANDBY_MIN_MS
    const left = lease.expiresAt.getTime() - Date.now()
    return left > 0 ? Math.min(tuning.leaseTtlMs, left + STANDBY_MARGIN_MS) : STANDBY_MIN_MS
  }

  async function run(signal: AbortSignal): Promise<void> {
    let failures = 0
    while (!signal.aborted) {
      let grant: LeaseFence | null = null
      try {
        grant = await store.acquireLease(leaseName, deps.owner, tuning.leaseTtlMs)
      } catch (err) {
        log.warn({ err }, 'acquiring the stream lease failed')
      }
      if (!grant) {
        current = 'standby'
        await waker.wait(await untilExpiry(), signal)
        continue
      }
      try {
        const end = await holdLease(grant, signal)
        failures = 0
        if (end !== 'released') {
          log.info({ reason: end.reason }, 'CDC stream ended')
          current = 'ended'
          deps.onEnd()
          return
        }
      } catch (err) {
        failures++
        log.error({ err, failures }, 'CDC stream failed; starting it again')
        await sleep(backoffDelay(failures, { minDelayMs: 1000, maxDelayMs: 60_000 }), signal).catch(() => undefined)
      }
    }
  }

  const lifecycle = createComponent(`cdc:${merchantId}`, {
    async start() {
      const controller = new AbortController()
      loop = { controller, done: run(controller.signal) }
    },
    async stop() {
      loop?.controller.abort()
      await loop?.done
      loop = undefined
      current = 'ended'
    },
  })

  return {
    ...lifecycle,
    merchantId,
    state: () => current,
    poke: () => {
      waker.wake()
      poke()
    },
    async finish(health, reason) {
      final = { health, reason }
      reported = false
      await lifecycle.stop()
      // Not holding the lease (standby): whoever holds it learns it too; say it anyway.
      if (!reported) await deps.health.report(merchantId, health, { reason }).catch(() => false)
    },
  }
}

/**
 * One faye client for one CDC channel: long-polling only, `Authorization: Bearer <token>`,
 * and the one replay extension the stream owns.
 *
 * - The outgoing side writes `ext.replay = { [channel]: position() }` on every subscribe of
 *   the channel, faye's own resubscribe after a rehandshake included, so a `403::Unknown
 *   client` resumes from the durable checkpoint, never from an id the client was built with
 *   (jsforce #1709).
 * - The incoming side classifies every meta reply (classify.ts) and tells the stream.
 * - Resends after a transport failure wait an exponential backoff with full jitter
 *   (src/retry.ts) instead of faye's fixed `retry` pace, through faye's scheduler option.
 *
 * A client is never repaired: a new token, a new position or a dead session means a new
 * client (faye captures the header at creation and goes silent for good after advice
 * `none`). `close()` leaves nothing behind: no held request, no timer.
 */
import faye from 'faye'
import { backoffDelay } from '../retry.ts'
import { classify, type Signal } from './classify.ts'
import type { ClientConstructor, Message, Scheduler, SchedulerOptions } from './faye-types.ts'

const FayeClient = (faye as unknown as { Client: ClientConstructor }).Client

export interface CdcClientOptions {
  /** `${instanceUrl}/cometd/${apiVersion}`. */
  url: string
  accessToken: string
  channel: string
  /** The replay position sent with each subscribe: the durable checkpoint, or -1 (-2 never). */
  position: () => number
  /** A delivered event's `data` (in delivery order). */
  onEvent: (data: unknown) => void
  /** A meta reply that means something (classify.ts). */
  onSignal: (signal: Signal) => void
  /** The transport went down (a request failed) or came back. */
  onTransport?: (state: 'up' | 'down') => void
  /** First resend ceiling after a transport failure. Default 500 ms. */
  retryMinMs?: number
  /** Longest wait between resends. Default 30 000 ms. */
  retryMaxMs?: number
  /** Longest wait for the server's answer to `/meta/disconnect` on close. Default 2000 ms. */
  closeTimeoutMs?: number
}

export interface CdcClient {
  /** Handshake, connect and subscribe the channel (once). */
  subscribe(): void
  /** Disconnect (politely when possible), then drop every pending request and timer. */
  close(): Promise<void>
}

/** faye's internals that close() clears; checked by test/cdc/faye-client.test.ts against 1.4.3. */
interface FayeInternals {
  _advice?: { reconnect?: string }
  _dispatcher?: {
    _envelopes?: Map<string, { timer?: NodeJS.Timeout | null; request?: Promise<{ destroy?: () => void } | undefined> | null }>
  }
}

/** The faye version close() was written against. */
export const FAYE_VERSION = '1.4.3'

export function createCdcClient(options: CdcClientOptions): CdcClient {
  const { channel } = options
  const minDelayMs = options.retryMinMs ?? 500
  const maxDelayMs = options.retryMaxMs ?? 30_000
  // closing: our own disconnect is on its way, nothing the server says matters any more;
  // closed: nothing may be sent any more.
  const state = { closing: false, closed: false }

  class BackoffScheduler implements Scheduler {
    private attempts = 0
    private readonly options: SchedulerOptions
    constructor(_message: Message, schedulerOptions: SchedulerOptions) {
      this.options = schedulerOptions
    }
    getTimeout() {
      return this.options.timeout
    }
    getInterval() {
      return state.closed ? 0 : backoffDelay(this.attempts, { minDelayMs, maxDelayMs }) / 1000
    }
    isDeliverable() {
      if (state.closed) return false
      if (this.options.attempts !== undefined && this.attempts >= this.options.attempts) return false
      return this.options.deadline === undefined || Date.now() <= this.options.deadline
    }
    send() {
      this.attempts++
    }
    succeed() {}
    fail() {}
    abort() {}
  }

  const client = new FayeClient(options.url, { timeout: 120, retry: 5, scheduler: BackoffScheduler })
  // Salesforce serves long-polling only; faye would otherwise probe a WebSocket.
  client.disable('websocket')
  client.disable('in-process')
  client.setHeader('Authorization', `Bearer ${options.accessToken}`)

  // A throwing listener must not break faye's extension pipeline.
  const tell = (fn: () => void) => {
    try {
      fn()
    } catch {
      // the stream's listeners log their own failures
    }
  }

  client.addExtension({
    outgoing(message, callback) {
      if (message.channel === '/meta/handshake') message.ext = { ...message.ext, replay: true }
      if (message.channel === '/meta/subscribe' && [message.subscription].flat().includes(channel)) {
        message.ext = { ...message.ext, replay: { [channel]: options.position() } }
      }
      callback(message)
    },
    incoming(message, callback) {
      if (!state.closing) {
        const signal = classify(message)
        if (signal) tell(() => options.onSignal(signal))
      }
      callback(message)
    },
  })
  client.bind('transport:down', () => {
    if (!state.closing) tell(() => options.onTransport?.('down'))
  })
  client.bind('transport:up', () => {
    if (!state.closing) tell(() => options.onTransport?.('up'))
  })

  let subscribed = false
  let closing: Promise<void> | undefined

  function forceClose(): void {
    state.closed = true
    const internals = client as unknown as FayeInternals
    // Advice `none` makes faye's handshake() and connect() return at once, so no timer it
    // still holds can start anything.
    if (internals._advice) internals._advice.reconnect = 'none'
    const envelopes = internals._dispatcher?._envelopes
    if (!envelopes) return
    for (const envelope of envelopes.values()) {
      if (envelope.timer) clearTimeout(envelope.timer)
      // A held long-poll would otherwise stay open for up to 1.2 × the advised timeout.
      void envelope.request?.then((request) => request?.destroy?.(), () => undefined)
    }
    envelopes.clear()
  }

  async function closeOnce(): Promise<void> {
    state.closing = true
    const sent = client.disconnect()
    if (sent) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        sent.then(() => undefined, () => undefined),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, options.closeTimeoutMs ?? 2000)
        }),
      ])
      clearTimeout(timer)
    }
    forceClose()
  }

  return {
    subscribe() {
      if (subscribed || state.closing) return
      subscribed = true
      client.subscribe(channel, (data) => {
        if (!state.closing) options.onEvent(data)
      })
    },
    close() {
      closing ??= closeOnce()
      return closing
    },
  }
}

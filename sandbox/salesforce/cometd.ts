/**
 * The Streaming API: Bayeux over long-polling at `POST /cometd/XX.X` (also `/cometd/XX.X/<type>`,
 * as the CometD client appends the message type), with the bearer token on every request
 * (`Authorization: OAuth|Bearer`) and the `BAYEUX_BROWSER` session cookie set at handshake.
 *
 * - `/meta/handshake` answers `ext.replay: true`; `/meta/connect` answers at once the first
 *   time (with advice), then is held until events wait or `connectTimeoutMs` passes; every
 *   waiting event goes into one response (up to `maxEventsPerConnect`).
 * - `/meta/subscribe` takes the replay extension (`ext.replay = { channel: -1 | -2 | id }`).
 * - Salesforce's errors: `403::Handshake denied` (+ `ext.sfdc.failureReason`),
 *   `401::Authentication invalid` (advice none, with a `/meta/disconnect` message),
 *   `403::Unknown client` (advice handshake), the replayId error, the concurrent client limit
 *   and the daily delivery allocation.
 * - A session with no connect for `maxIntervalMs` after a response is dropped.
 * - A single-entity CDC channel exists only while its object is selected for CDC in the org.
 * - Faults: the server ends sessions with a `/meta/disconnect` (advice `none` or `handshake`),
 *   or destroys a long-poll's TCP socket without an answer.
 */
import { randomBytes } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ALL_CHANGE_EVENTS, entityOfChannel, type CdcSelection } from './cdc.ts'
import type { ChannelLog, Cursor, EventBus } from './event-bus.ts'
import type { OAuthState } from './oauth.ts'
import { bearerOf } from './oauth-routes.ts'
import type { OrgDirectory } from './orgs.ts'

export interface StreamingOptions {
  /** How long a `/meta/connect` is held; also the advised `timeout`. Default 110000. */
  connectTimeoutMs: number
  /** A session with no connect this long after a response is dropped. Default 40000. */
  maxIntervalMs: number
  /** Concurrent CometD clients per org. Default 2000. */
  maxConcurrentClients: number
  /** Events delivered per org (all subscribers) before `403::Organization total events daily limit exceeded`. */
  dailyDeliveredEvents: number
  /** Events in one connect response at most. Default 10000. */
  maxEventsPerConnect: number
}

export const COOKIE = 'BAYEUX_BROWSER'
const MAX_BODY = 32_768
const MIN_VERSION = 37

export const STREAMING_ERRORS = {
  unknownClient: '403::Unknown client',
  authInvalid: '401::Authentication invalid',
  authMissing: '401::Request requires authentication',
  handshakeDenied: '403::Handshake denied',
  clientLimit: '403::Organization concurrent user limit exceeded',
  deliveryLimit: '403::Organization total events daily limit exceeded',
  replayInvalid: (id: unknown) =>
    `400::The replayId {${String(id)}} you provided was invalid. Please provide a valid ID, -2 to replay all events, or -1 to replay only new events.`,
  noChannel: (channel: string) => `400::The channel you requested to subscribe to does not exist {${channel}}`,
} as const

type Message = Record<string, unknown> & { channel?: unknown; id?: unknown; clientId?: unknown }

interface Subscription extends Cursor {
  channel: string
  log: ChannelLog
  session: Session
}

interface Pending {
  reply: FastifyReply
  token: string
  message: Message
  /** Replies to the other messages of the same request. */
  replies: string[]
  timer: NodeJS.Timeout
  answered: boolean
}

/** What the server told a session to do when it ended it (`/meta/disconnect`). */
export type FarewellAdvice = 'none' | 'handshake'

interface Session {
  id: string
  orgId: string
  subscriptions: Map<string, Subscription>
  pending: Pending | null
  connected: boolean
  lastActivity: number
  flushScheduled: boolean
  /** Fault: the server ended the session while no connect was held; its next request learns it. */
  farewell: FarewellAdvice | null
  /** Fault: the socket of the session's next connect is destroyed. */
  dropNextConnect: boolean
}

export interface StreamingUsage { clients: number; maxClients: number; delivered: number; maxDelivered: number }

export interface Streaming {
  register(app: FastifyInstance): void
  /** Called by the event bus when an event lands on a channel with live readers. */
  wake(log: ChannelLog): void
  clients(): number
  /** Sessions holding a `/meta/connect` right now. */
  held(): number
  usage(orgId: string): StreamingUsage
  /** Fault: drop every session (of one org); their next request gets `403::Unknown client`. */
  dropSessions(orgId?: string): number
  /** Fault: use up the daily delivery allocation (of one org). */
  exhaustDelivery(orgId?: string): void
  /** Fault: the next `count` handshakes (of one org) hit the concurrent client limit. */
  refuseHandshakes(count: number, orgId?: string): void
  /**
   * Fault: the server ends every session (of one org) with a `/meta/disconnect` and this
   * advice; a held connect is answered now, the others learn it on their next request.
   */
  serverDisconnect(advice: FarewellAdvice, orgId?: string): number
  /**
   * Fault: the TCP socket of every held connect (of one org) is destroyed without an answer;
   * sessions not holding one lose their next connect that way. Nothing is taken from the event
   * logs and the sessions live on.
   */
  dropConnections(orgId?: string): number
  /** End the allocation and client-limit faults: deliveries counted from zero, handshakes accepted. */
  restore(): void
  /** Answer every held connect and forget all sessions (the server stops). */
  close(): void
  reset(): void
}

const json = (value: unknown) => JSON.stringify(value)
const random = (bytes: number) => randomBytes(bytes).toString('base64url')

function cookieOf(request: FastifyRequest, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=')
    if (k === name) return v.join('=')
  }
  return undefined
}

/** Bayeux messages of a request: a JSON array, one object, or the form variant `message=`. */
function messagesOf(body: unknown): Message[] | null {
  let value = body
  if (value && typeof value === 'object' && !Array.isArray(value) && typeof (value as { message?: unknown }).message === 'string') {
    try {
      value = JSON.parse((value as { message: string }).message)
    } catch {
      return null
    }
  }
  if (Array.isArray(value)) return value.every((m) => m && typeof m === 'object') ? (value as Message[]) : null
  if (value && typeof value === 'object') return [value as Message]
  return null
}

/** Channels a client may subscribe to: CDC channels of selected objects, custom channels, topics. */
function channelExists(channel: string, bus: { has(channel: string): boolean }, selected: (entityName: string) => boolean): boolean {
  if (channel === ALL_CHANGE_EVENTS) return true
  const entity = entityOfChannel(channel)
  // An object not selected for CDC has no channel: the subscribe fails as for an unknown one.
  if (entity) return selected(entity.name)
  if (/^\/data\/\w+__chn$/.test(channel) || /^\/(event|topic|u)\/[\w.-]+$/.test(channel)) return true
  return bus.has(channel)
}

export interface StreamingDeps {
  oauth: OAuthState
  bus: () => EventBus
  options: StreamingOptions
  orgs: OrgDirectory
  selection: CdcSelection
}

export function createStreaming(deps: StreamingDeps): Streaming {
  const { oauth, options } = deps
  const sessions = new Map<string, Session>()
  const delivered = new Map<string, number>()
  const refusals = new Map<string, number>()
  let sweeper: NodeJS.Timeout | null = null

  const clientsOf = (orgId: string) => {
    let n = 0
    for (const s of sessions.values()) if (s.orgId === orgId) n++
    return n
  }

  const reply = (message: Message, fields: Record<string, unknown>) =>
    json({ channel: message.channel, ...(message.clientId !== undefined ? { clientId: message.clientId } : {}), ...(message.id !== undefined ? { id: message.id } : {}), ...fields })

  const send = (pending: Pending, parts: string[]) => {
    if (pending.answered) return
    pending.answered = true
    clearTimeout(pending.timer)
    void pending.reply.code(200).header('content-type', 'application/json;charset=UTF-8').send(`[${parts.join(',')}]`)
  }

  const connectReply = (message: Message, advice?: Record<string, unknown>) => reply(message, { successful: true, ...(advice ? { advice } : {}) })
  const retryAdvice = () => ({ reconnect: 'retry', interval: 0, timeout: options.connectTimeoutMs })
  const unknownClient = (message: Message) =>
    reply(message, { successful: false, error: STREAMING_ERRORS.unknownClient, advice: { reconnect: 'handshake', interval: 0 }, ...subscriptionOf(message) })
  const authInvalid = (message: Message) =>
    reply(message, { successful: false, error: STREAMING_ERRORS.authInvalid, advice: { reconnect: 'none', interval: 0 }, ...subscriptionOf(message) })
  const deliveryExhausted = (message: Message) =>
    reply(message, { successful: false, error: STREAMING_ERRORS.deliveryLimit, advice: { reconnect: 'none', interval: 0 } })
  /** The server's own `/meta/disconnect`, then the reply to the message it interrupted. */
  const farewell = (session: Session, message: Message, advice: FarewellAdvice): string[] => [
    json({ channel: '/meta/disconnect', clientId: session.id, successful: true }),
    message.channel === '/meta/connect'
      ? reply(message, { successful: true, advice: { reconnect: advice, interval: 0 } })
      : reply(message, { successful: false, error: STREAMING_ERRORS.unknownClient, advice: { reconnect: advice, interval: 0 }, ...subscriptionOf(message) }),
  ]
  /** Destroy the TCP socket under a reply without answering (a network failure mid-request). */
  const destroySocket = (reply$: FastifyReply) => {
    reply$.hijack()
    reply$.raw.socket?.destroy()
  }

  function subscriptionOf(message: Message): Record<string, unknown> {
    return message.subscription !== undefined ? { subscription: message.subscription } : {}
  }

  /** Forget a session; a held connect is answered with `parts` (a plain success by default). */
  const drop = (session: Session, parts?: string[]) => {
    sessions.delete(session.id)
    for (const sub of session.subscriptions.values()) sub.log.readers.delete(sub)
    session.subscriptions.clear()
    const pending = session.pending
    session.pending = null
    if (pending) send(pending, parts ?? [...pending.replies, connectReply(pending.message)])
  }

  const exhausted = (orgId: string) => (delivered.get(orgId) ?? 0) >= options.dailyDeliveredEvents

  /** Waiting events of a session, oldest replay id first, within the batch and the allocation. */
  const collect = (session: Session): string[] => {
    const out: string[] = []
    const room = Math.min(options.maxEventsPerConnect, options.dailyDeliveredEvents - (delivered.get(session.orgId) ?? 0))
    if (room <= 0) return out
    const subs = [...session.subscriptions.values()].filter((s) => s.position < s.log.end)
    if (subs.length === 0) return out
    for (const sub of subs) sub.position = Math.max(sub.position, sub.log.start)
    const prefix = new Map(subs.map((s) => [s, `{"channel":"${s.channel}","data":`]))
    if (subs.length === 1) {
      const sub = subs[0]!
      const head = prefix.get(sub)!
      const end = Math.min(sub.log.end, sub.position + room)
      for (let i = sub.position; i < end; i++) out.push(`${head}${sub.log.at(i).dataJson}}`)
      sub.position = end
    } else {
      while (out.length < room) {
        let next: Subscription | null = null
        for (const sub of subs) {
          if (sub.position >= sub.log.end) continue
          if (!next || sub.log.at(sub.position).replayId < next.log.at(next.position).replayId) next = sub
        }
        if (!next) break
        out.push(`${prefix.get(next)!}${next.log.at(next.position).dataJson}}`)
        next.position++
      }
    }
    delivered.set(session.orgId, (delivered.get(session.orgId) ?? 0) + out.length)
    return out
  }

  /** Answer a held connect when events wait (or always, when `force`). */
  const flush = (session: Session, force: boolean) => {
    const pending = session.pending
    if (!pending || pending.answered) return
    if (!oauth.authenticate(pending.token)) {
      drop(session, [json({ channel: '/meta/disconnect' }), ...pending.replies, authInvalid(pending.message)])
      return
    }
    if (exhausted(session.orgId)) {
      drop(session, [...pending.replies, deliveryExhausted(pending.message)])
      return
    }
    const events = collect(session)
    if (events.length === 0 && !force) return
    session.pending = null
    session.lastActivity = Date.now()
    send(pending, [...events, ...pending.replies, connectReply(pending.message)])
  }

  const scheduleFlush = (session: Session) => {
    if (session.flushScheduled || !session.pending) return
    session.flushScheduled = true
    // Wait for the rest of the burst, so many events share one response.
    setImmediate(() => {
      session.flushScheduled = false
      flush(session, false)
    })
  }

  const sweep = () => {
    const oldest = Date.now() - options.maxIntervalMs
    for (const session of sessions.values()) if (!session.pending && session.lastActivity < oldest) drop(session)
  }

  function handshake(message: Message, token: string | undefined, reply$: FastifyReply): string {
    const denied = (reason: string) =>
      reply(message, { successful: false, error: STREAMING_ERRORS.handshakeDenied, ext: { sfdc: { failureReason: reason } }, advice: { reconnect: 'none', interval: 0 } })
    if (!token) return denied(STREAMING_ERRORS.authMissing)
    const access = oauth.authenticate(token)
    if (!access) return denied(STREAMING_ERRORS.authInvalid)
    const orgId = access.org.id
    const refusing = refusals.get(orgId) ?? refusals.get('*') ?? 0
    if (refusing > 0 || clientsOf(orgId) >= options.maxConcurrentClients) {
      if (refusals.has(orgId)) refusals.set(orgId, refusing - 1)
      else if (refusals.has('*')) refusals.set('*', refusing - 1)
      return reply(message, {
        successful: false, error: STREAMING_ERRORS.clientLimit,
        ext: { sfdc: { failureReason: STREAMING_ERRORS.clientLimit } }, advice: { reconnect: 'none', interval: 0 },
      })
    }
    const types = message.supportedConnectionTypes
    if (Array.isArray(types) && !types.includes('long-polling')) {
      return reply(message, { successful: false, error: `400::Invalid connection type ${types.join(',')}`, supportedConnectionTypes: ['long-polling'] })
    }
    const session: Session = {
      id: random(15), orgId, subscriptions: new Map(), pending: null, connected: false, lastActivity: Date.now(), flushScheduled: false,
      farewell: null, dropNextConnect: false,
    }
    sessions.set(session.id, session)
    void reply$.header('set-cookie', `${COOKIE}=${random(18)}; Path=/; HttpOnly`)
    return json({
      channel: '/meta/handshake', ...(message.id !== undefined ? { id: message.id } : {}), successful: true, version: '1.0', minimumVersion: '1.0',
      clientId: session.id, supportedConnectionTypes: ['long-polling'], ext: { replay: true, 'payload.format': true }, reestablish: false,
    })
  }

  function subscribe(message: Message, session: Session): string[] {
    const wanted = Array.isArray(message.subscription) ? message.subscription : [message.subscription]
    const replay = (message.ext as { replay?: Record<string, unknown> } | undefined)?.replay
    const bus = deps.bus().org(session.orgId)
    const out: string[] = []
    for (const channel of wanted) {
      const fail = (error: string) => out.push(reply(message, { subscription: channel, successful: false, error }))
      if (typeof channel !== 'string' || channel === '') {
        fail('400::Channel name not specified')
        continue
      }
      if (!channel.startsWith('/')) {
        fail("400::Channel subscriptions must start with a leading '/'")
        continue
      }
      if (!channelExists(channel, bus, (entity) => deps.selection.isSelected(session.orgId, entity))) {
        fail(STREAMING_ERRORS.noChannel(channel))
        continue
      }
      const raw = replay && typeof replay === 'object' ? replay[channel] : undefined
      const replayId = raw === undefined || raw === null ? -1 : typeof raw === 'number' ? raw : typeof raw === 'string' && /^-?\d+$/.test(raw) ? Number(raw) : Number.NaN
      const log = bus.log(channel)
      const position = log.positionAfter(replayId)
      if (position === null) {
        fail(STREAMING_ERRORS.replayInvalid(raw))
        continue
      }
      const old = session.subscriptions.get(channel)
      if (old) log.readers.delete(old)
      const sub: Subscription = { channel, log, session, position }
      log.readers.add(sub)
      session.subscriptions.set(channel, sub)
      out.push(reply(message, { subscription: channel, successful: true }))
    }
    scheduleFlush(session)
    return out
  }

  function unsubscribe(message: Message, session: Session): string {
    const channels = Array.isArray(message.subscription) ? message.subscription : [message.subscription]
    for (const channel of channels) {
      const sub = typeof channel === 'string' ? session.subscriptions.get(channel) : undefined
      if (!sub) continue
      sub.log.readers.delete(sub)
      session.subscriptions.delete(channel as string)
    }
    return reply(message, { subscription: message.subscription, successful: true })
  }

  async function handle(request: FastifyRequest, reply$: FastifyReply) {
    const messages = messagesOf(request.body)
    const answer = (parts: string[]) => reply$.code(200).header('content-type', 'application/json;charset=UTF-8').send(`[${parts.join(',')}]`)
    if (!messages) return answer([json({ successful: false, error: '400::Invalid message' })])
    const version = (request.params as { version?: string }).version
    const versionError = !version
      ? "400::API version in the URI is mandatory. URI format: '/cometd/62.0'"
      : !/^\d+\.\d$/.test(version) || Number.parseFloat(version) < MIN_VERSION
        ? "400::Unsupported API version. Only API versions '37.0' and later are supported. URI format: '/cometd/62.0'"
        : null
    if (versionError) return answer(messages.map((m) => reply(m, { successful: false, error: versionError })))

    const token = bearerOf(request)
    // Fault: this connect's socket is destroyed before anything in the request is processed.
    for (const message of messages) {
      const doomed = message.channel === '/meta/connect' && typeof message.clientId === 'string' ? sessions.get(message.clientId) : undefined
      if (doomed?.dropNextConnect) {
        doomed.dropNextConnect = false
        destroySocket(reply$)
        return reply$
      }
    }
    const parts: string[] = []
    let hold: { session: Session; message: Message } | null = null
    for (const message of messages) {
      if (message.channel === '/meta/handshake') {
        parts.push(handshake(message, token, reply$))
        continue
      }
      const access = token ? oauth.authenticate(token) : undefined
      const session = typeof message.clientId === 'string' ? sessions.get(message.clientId) : undefined
      if (!access) {
        if (session) drop(session)
        if (message.channel === '/meta/connect') parts.push(json({ channel: '/meta/disconnect' }))
        parts.push(authInvalid(message))
        continue
      }
      if (!session || session.orgId !== access.org.id) {
        parts.push(unknownClient(message))
        continue
      }
      if (!cookieOf(request, COOKIE)) {
        parts.push(reply(message, {
          successful: false, error: `400::Client ${session.id} has established a session, but no ${COOKIE} cookie present`,
          advice: { reconnect: 'handshake', interval: 0 },
        }))
        continue
      }
      if (session.farewell) {
        const advice = session.farewell
        drop(session)
        parts.push(...farewell(session, message, advice))
        continue
      }
      session.lastActivity = Date.now()
      switch (message.channel) {
        case '/meta/connect': {
          if (message.connectionType !== undefined && message.connectionType !== 'long-polling') {
            parts.push(reply(message, { successful: false, error: `400::Invalid connection type ${String(message.connectionType)}` }))
            break
          }
          if (exhausted(session.orgId)) {
            drop(session)
            parts.push(deliveryExhausted(message))
            break
          }
          // A newer connect replaces a held one, as in CometD.
          if (session.pending) flush(session, true)
          if (!session.connected) {
            session.connected = true
            parts.push(...collect(session), connectReply(message, retryAdvice()))
            break
          }
          const events = collect(session)
          if (events.length > 0) parts.push(...events, connectReply(message))
          else hold = { session, message }
          break
        }
        case '/meta/subscribe':
          parts.push(...subscribe(message, session))
          break
        case '/meta/unsubscribe':
          parts.push(unsubscribe(message, session))
          break
        case '/meta/disconnect':
          drop(session)
          parts.push(reply(message, { successful: true }))
          break
        default:
          parts.push(reply(message, { successful: false, error: '403::Restricted channel' }))
      }
    }
    // A disconnect later in the same request ended the session: the connect is answered now.
    if (hold && !sessions.has(hold.session.id)) {
      parts.push(connectReply(hold.message))
      hold = null
    }
    if (!hold) return answer(parts)
    const { session, message } = hold
    const pending: Pending = {
      reply: reply$, token: token!, message, replies: parts, answered: false,
      timer: setTimeout(() => flush(session, true), options.connectTimeoutMs),
    }
    session.pending = pending
    reply$.raw.on('close', () => {
      // The client went away (or timed out) before an answer: nothing was taken from the logs.
      if (pending.answered) return
      pending.answered = true
      clearTimeout(pending.timer)
      if (session.pending === pending) session.pending = null
      session.lastActivity = Date.now()
    })
    // Events may have arrived between the check above and now (subscribe in the same request).
    scheduleFlush(session)
    return reply$
  }

  return {
    register(app) {
      app.register(async (cometd) => {
        cometd.setErrorHandler((err, _request, reply$) => {
          const status = (err as { statusCode?: number }).statusCode ?? 500
          if (status === 413) return reply$.code(413).type('text/plain').send('Maximum Request Size Exceeded')
          return reply$.code(status < 500 ? 400 : 500).send([{ successful: false, error: `${status < 500 ? 400 : 500}::${(err as Error).message}` }])
        })
        cometd.post('/cometd', { bodyLimit: MAX_BODY }, handle)
        cometd.post('/cometd/:version', { bodyLimit: MAX_BODY }, handle)
        cometd.post('/cometd/:version/*', { bodyLimit: MAX_BODY }, handle)
      })
      app.addHook('onReady', async () => {
        sweeper ??= setInterval(sweep, Math.max(250, Math.min(5000, options.maxIntervalMs / 4)))
        sweeper.unref()
      })
      app.addHook('preClose', async () => {
        if (sweeper) clearInterval(sweeper)
        sweeper = null
        for (const session of [...sessions.values()]) drop(session)
      })
    },
    wake(log) {
      for (const reader of log.readers) {
        const session = (reader as Subscription).session
        if (session.pending) scheduleFlush(session)
      }
    },
    clients: () => sessions.size,
    held() {
      let n = 0
      for (const session of sessions.values()) if (session.pending && !session.pending.answered) n++
      return n
    },
    usage: (orgId) => ({
      clients: clientsOf(orgId), maxClients: options.maxConcurrentClients,
      delivered: delivered.get(orgId) ?? 0, maxDelivered: options.dailyDeliveredEvents,
    }),
    dropSessions(orgId) {
      let n = 0
      for (const session of [...sessions.values()]) {
        if (orgId && session.orgId !== orgId) continue
        const pending = session.pending
        drop(session, pending ? [...pending.replies, unknownClient(pending.message)] : undefined)
        n++
      }
      return n
    },
    exhaustDelivery(orgId) {
      for (const id of orgId ? [orgId] : deps.orgs.list.map((o) => o.id)) delivered.set(id, options.dailyDeliveredEvents)
      for (const session of sessions.values()) if (!orgId || session.orgId === orgId) flush(session, false)
    },
    refuseHandshakes(count, orgId) {
      refusals.set(orgId ?? '*', count)
    },
    serverDisconnect(advice, orgId) {
      let n = 0
      for (const session of [...sessions.values()]) {
        if (orgId && session.orgId !== orgId) continue
        n++
        const pending = session.pending
        if (!pending) {
          session.farewell = advice
          continue
        }
        drop(session, [...pending.replies, ...farewell(session, pending.message, advice)])
      }
      return n
    },
    dropConnections(orgId) {
      let n = 0
      for (const session of sessions.values()) {
        if (orgId && session.orgId !== orgId) continue
        n++
        const pending = session.pending
        if (!pending || pending.answered) {
          session.dropNextConnect = true
          continue
        }
        // Nothing was taken from the logs for this connect, so nothing is lost.
        pending.answered = true
        clearTimeout(pending.timer)
        session.pending = null
        session.lastActivity = Date.now()
        destroySocket(pending.reply)
      }
      return n
    },
    restore() {
      delivered.clear()
      refusals.clear()
    },
    close() {
      for (const session of [...sessions.values()]) drop(session)
    },
    reset() {
      delivered.clear()
      refusals.clear()
    },
  }
}

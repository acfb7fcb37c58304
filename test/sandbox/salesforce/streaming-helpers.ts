/**
 * Helpers for the Streaming API tests: an inbox that resolves when enough messages arrived
 * (with a deadline, never a sleep), a raw Bayeux client over fetch (keeps the session
 * cookie) for exact wire assertions, and admin API calls.
 */

export type Message = Record<string, unknown> & { channel: string; data?: { payload: Record<string, unknown> & { ChangeEventHeader: Record<string, unknown> }; event: { replayId: number; EventUuid?: string }; schema: string } }

/** Collects values; `waitFor(n)` resolves once n have arrived, or rejects at the deadline. */
export class Inbox<T> {
  readonly items: T[] = []
  private waiters: { n: number; resolve: () => void }[] = []

  push = (item: T): void => {
    this.items.push(item)
    this.waiters = this.waiters.filter((w) => {
      if (this.items.length < w.n) return true
      w.resolve()
      return false
    })
  }

  async waitFor(n: number, timeoutMs = 10_000, what = 'messages'): Promise<T[]> {
    if (this.items.length >= n) return this.items
    let timer: NodeJS.Timeout | undefined
    try {
      await new Promise<void>((resolve, reject) => {
        this.waiters.push({ n, resolve })
        timer = setTimeout(() => reject(new Error(`timed out waiting for ${n} ${what}, have ${this.items.length}`)), timeoutMs)
      })
    } finally {
      clearTimeout(timer)
    }
    return this.items
  }
}

export async function admin(url: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/__sandbox${path}`, {
    method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined,
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

/** A REST call as the bridge makes it (`Sforce-Call-Options: client=cohort-bridge`). */
export async function rest(baseUrl: string, token: string, method: string, path: string, body?: unknown, version = '62.0'): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${baseUrl}/services/data/v${version}${path}`, {
    method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'sforce-call-options': 'client=cohort-bridge' },
    body: body ? JSON.stringify(body) : undefined,
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : null }
}

/** A minimal Bayeux client over fetch, to assert on exact replies. */
export class RawBayeux {
  clientId: string | null = null
  cookie: string | null = null
  private nextId = 1
  readonly url: string
  token: string | null

  constructor(baseUrl: string, token: string | null, version = '62.0') {
    this.url = `${baseUrl}/cometd/${version}`
    this.token = token
  }

  async send(messages: Record<string, unknown>[], options: { cookie?: boolean; signal?: AbortSignal } = {}): Promise<Message[]> {
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    if (this.token) headers.authorization = `OAuth ${this.token}`
    if (this.cookie && options.cookie !== false) headers.cookie = this.cookie
    const res = await fetch(this.url, {
      method: 'POST', headers, signal: options.signal,
      body: JSON.stringify(messages.map((m) => ({ id: String(this.nextId++), ...(this.clientId ? { clientId: this.clientId } : {}), ...m }))),
    })
    const setCookie = res.headers.get('set-cookie')
    if (setCookie) this.cookie = setCookie.split(';')[0]!
    if (res.status !== 200) throw new Error(`cometd answered HTTP ${res.status}: ${await res.text()}`)
    return (await res.json()) as Message[]
  }

  async handshake(): Promise<Message> {
    const [reply] = await this.send([{ channel: '/meta/handshake', version: '1.0', minimumVersion: '1.0', supportedConnectionTypes: ['long-polling'], ext: { replay: true } }])
    if (reply!.successful) this.clientId = reply!.clientId as string
    return reply!
  }

  connect(options: { signal?: AbortSignal } = {}): Promise<Message[]> {
    return this.send([{ channel: '/meta/connect', connectionType: 'long-polling' }], options)
  }

  async subscribe(channel: string, replay?: number | string): Promise<Message> {
    const replies = await this.send([{ channel: '/meta/subscribe', subscription: channel, ...(replay !== undefined ? { ext: { replay: { [channel]: replay } } } : {}) }])
    return replies.find((m) => m.channel === '/meta/subscribe')!
  }

  /** Handshake, first connect, subscribe: a session ready to receive. */
  async open(channel: string, replay?: number | string): Promise<Message> {
    await this.handshake()
    await this.connect()
    return this.subscribe(channel, replay)
  }

  async disconnect(): Promise<void> {
    if (this.clientId) await this.send([{ channel: '/meta/disconnect' }]).catch(() => undefined)
  }
}

/** The data messages (events) of a reply. */
export const eventsOf = (messages: Message[]): Message[] => messages.filter((m) => !m.channel.startsWith('/meta/'))
export const metaOf = (messages: Message[], channel: string): Message | undefined => messages.find((m) => m.channel === channel)

interface Thenable { then(ok: () => void, fail: () => void): unknown }

/**
 * Disconnect a faye client and wait for the server's answer (up to a deadline), so the
 * stand-in is not stopped under a `/meta/disconnect` that faye would then retry forever.
 */
export async function disconnectFaye(client: object, timeoutMs = 5000): Promise<void> {
  // jsforce's typings of the faye client leave `disconnect` out.
  const sent = (client as { disconnect(): unknown }).disconnect() as Thenable | undefined
  if (!sent || typeof sent.then !== 'function') return
  let timer: NodeJS.Timeout | undefined
  await new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs)
    sent.then(resolve, resolve)
  })
  clearTimeout(timer)
}

/** Resolve once `n` CometD sessions hold a connect (polling the admin stats, with a deadline). */
export async function waitForHeld(url: string, n = 1, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const stats = await admin(url, 'GET', '/stats')
    if ((stats.body.cometd as { held: number }).held >= n) return
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} held connects`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

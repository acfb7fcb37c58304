/**
 * The part of faye 1.4 that src/cdc uses. faye ships no typings; jsforce's ambient ones
 * (`jsforce/typings/faye`) leave out most of this, so faye-client.ts casts faye's export to
 * these. faye's internals that close() reaches for are typed there, not here.
 */
export interface Advice {
  reconnect?: string
  interval?: number
  timeout?: number
}

/** A Bayeux message, as faye passes it through extensions. */
export interface Message {
  channel: string
  id?: string
  clientId?: string
  successful?: boolean
  error?: unknown
  advice?: Advice
  ext?: Record<string, unknown>
  subscription?: string | string[]
  data?: unknown
  [key: string]: unknown
}

export interface Extension {
  incoming?(message: Message, callback: (message: Message | null) => void): void
  outgoing?(message: Message, callback: (message: Message | null) => void): void
}

export interface SchedulerOptions {
  /** Seconds before a request counts as failed. */
  timeout: number
  /** Seconds between resends (the client's `retry`). */
  interval: number
  attempts?: number
  deadline?: number
}

/** Decides when a message is sent again after a failure; one instance per message. */
export interface Scheduler {
  getTimeout(): number
  getInterval(): number
  isDeliverable(): boolean
  send(): void
  succeed(): void
  fail(): void
  abort(): void
}

export type SchedulerClass = new (message: Message, options: SchedulerOptions) => Scheduler

export interface ClientOptions {
  /** Seconds; the connect timeout until the server advises one. */
  timeout?: number
  /** Seconds between handshake retries (and resends, unless `scheduler` decides). */
  retry?: number
  interval?: number
  scheduler?: SchedulerClass
}

/** Subscriptions and publications are thenables. */
export interface Deferred {
  then(onFulfilled?: (value: unknown) => unknown, onRejected?: (reason: unknown) => unknown): Promise<unknown>
}

export interface Client {
  disable(feature: string): void
  setHeader(name: string, value: string): void
  addExtension(extension: Extension): void
  subscribe(channel: string, callback: (data: unknown) => void): Deferred
  /** Only when connected; undefined otherwise. */
  disconnect(): Deferred | undefined
  bind(event: 'transport:up' | 'transport:down', listener: () => void): void
}

export type ClientConstructor = new (endpoint: string, options?: ClientOptions) => Client

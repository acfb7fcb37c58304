/**
 * The event bus of each org: one log per channel, replay ids and the retention window.
 *
 * Replay ids come from one counter per org that steps by a random 1–5. So they grow but are
 * not contiguous, and clients cannot compute neighbours. An event published on two channels
 * (`/data/ChangeEvents` and `/data/ContactChangeEvent`) has the same replay id on both.
 *
 * Each event is serialised once, when it is published (`data` as a JSON string). Delivery only
 * concatenates strings, so per-event work stays small however many subscribers read it.
 *
 * Retention: a log keeps at most `maxEvents` events and none older than `maxAgeMs`. An event
 * that a live subscription has not read yet is kept anyway (bounded, because a session that
 * stops connecting is dropped after the connect interval). A stored replay id is valid when
 * no event after it has been evicted (see `positionAfter`).
 */

export interface RetentionWindow {
  /** Events kept per channel. */
  maxEvents: number
  /** Age after which an event is evicted, in ms. */
  maxAgeMs: number
}

export interface BusEvent {
  replayId: number
  publishedAt: number
  /** `{"schema":…,"payload":…,"event":{"replayId":n}}`, serialised once. */
  dataJson: string
}

/** A reader of one channel log: the absolute index of the next event to deliver. */
export interface Cursor {
  position: number
}

export interface ChannelLog {
  readonly channel: string
  /** Absolute index of the oldest retained event. */
  readonly start: number
  /** Absolute index after the newest event. */
  readonly end: number
  /** Event at an absolute index (start ≤ index < end). */
  at(index: number): BusEvent
  /** Live readers (subscriptions of connected clients); they pin unread events. */
  readonly readers: Set<Cursor>
  /**
   * Where a subscription with this replay option starts: `-1` new events only, `-2` everything
   * retained, or the position after a stored replay id; `null` when the id is outside retention.
   */
  positionAfter(replayId: number): number | null
}

export interface OrgBus {
  /** Publish on several channels at once; returns the event. */
  publish(channels: readonly string[], build: (replayId: number) => string): BusEvent
  /** The channel's log (created empty on first use). */
  log(channel: string): ChannelLog
  /** Channels that have a log (published to or subscribed to). */
  has(channel: string): boolean
  /** Apply the retention window now (also done on publish and subscribe). */
  evict(): void
  readonly published: number
}

export interface EventBus {
  org(orgId: string): OrgBus
  /** Events published since start or reset, all orgs. */
  published(): number
  /** Replace the retention window (the shrink-retention fault); evicts at once. */
  setRetention(window: RetentionWindow): void
  /** Back to the configured window (evicted events stay evicted). */
  restoreRetention(): void
  readonly retention: RetentionWindow
  /** Empty every log (replay ids keep growing, so an old id stays invalid). */
  reset(): void
}

/** Compaction threshold: the dead head of a log's array is cut when it reaches this size. */
const COMPACT_AT = 4096

class Log implements ChannelLog {
  readonly channel: string
  readonly readers = new Set<Cursor>()
  private events: BusEvent[] = []
  /** Index into `events` of the oldest retained event. */
  private head = 0
  /** Absolute index of `events[0]`. */
  private base = 0
  /** Replay id of the newest evicted event (0 = nothing evicted yet). */
  private floor = 0
  private readonly bus: Bus

  constructor(channel: string, bus: Bus) {
    this.channel = channel
    this.bus = bus
  }

  get start(): number {
    return this.base + this.head
  }

  get end(): number {
    return this.base + this.events.length
  }

  at(index: number): BusEvent {
    return this.events[index - this.base]!
  }

  append(event: BusEvent): void {
    this.events.push(event)
  }

  positionAfter(replayId: number): number | null {
    this.evict()
    if (replayId === -1) return this.end
    if (replayId === -2) return this.start
    if (!Number.isSafeInteger(replayId) || replayId < 0) return null
    // Valid only when nothing after it was evicted, and it is not from the future.
    if (replayId < this.floor || replayId > this.bus.lastReplayId) return null
    let lo = this.head
    let hi = this.events.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.events[mid]!.replayId <= replayId) lo = mid + 1
      else hi = mid
    }
    return this.base + lo
  }

  /** Drop events outside the window that no live reader still needs. */
  evict(): void {
    const { maxEvents, maxAgeMs } = this.bus.window
    const oldest = Date.now() - maxAgeMs
    let pinned = Number.POSITIVE_INFINITY
    for (const reader of this.readers) pinned = Math.min(pinned, reader.position)
    while (this.head < this.events.length) {
      const event = this.events[this.head]!
      const outside = this.events.length - this.head > maxEvents || event.publishedAt < oldest
      if (!outside || this.base + this.head >= pinned) break
      this.floor = event.replayId
      this.head++
    }
    if (this.head >= COMPACT_AT && this.head * 2 >= this.events.length) {
      this.events = this.events.slice(this.head)
      this.base += this.head
      this.head = 0
    }
  }

  clear(lastReplayId: number): void {
    this.base = this.end
    this.events = []
    this.head = 0
    this.floor = lastReplayId
    for (const reader of this.readers) reader.position = Math.max(reader.position, this.base)
  }
}

class Bus implements OrgBus {
  readonly logs = new Map<string, Log>()
  lastReplayId: number
  published = 0
  readonly owner: { window: RetentionWindow; onAppend(log: ChannelLog): void }

  constructor(owner: { window: RetentionWindow; onAppend(log: ChannelLog): void }) {
    this.owner = owner
    // Real replay ids are large and never start at 1.
    this.lastReplayId = 1000 + Math.floor(Math.random() * 1000)
  }

  get window(): RetentionWindow {
    return this.owner.window
  }

  log(channel: string): Log {
    let log = this.logs.get(channel)
    if (!log) this.logs.set(channel, (log = new Log(channel, this)))
    return log
  }

  has(channel: string): boolean {
    return this.logs.has(channel)
  }

  publish(channels: readonly string[], build: (replayId: number) => string): BusEvent {
    this.lastReplayId += 1 + Math.floor(Math.random() * 5)
    const event: BusEvent = { replayId: this.lastReplayId, publishedAt: Date.now(), dataJson: build(this.lastReplayId) }
    for (const channel of channels) {
      const log = this.log(channel)
      log.append(event)
      // Checking the window every event would cost a scan of the readers each time.
      if ((this.published & 63) === 0 || log.end - log.start > this.window.maxEvents + 1024) log.evict()
      if (log.readers.size > 0) this.owner.onAppend(log)
    }
    this.published++
    return event
  }

  evict(): void {
    for (const log of this.logs.values()) log.evict()
  }
}

/**
 * `onAppend` is called for each channel an event lands on that has live readers, so the
 * streaming layer can wake their pending connects.
 */
export function createEventBus(retention: RetentionWindow, onAppend: (log: ChannelLog) => void = () => undefined): EventBus {
  const owner = { window: { ...retention }, onAppend }
  const buses = new Map<string, Bus>()
  let publishedBeforeReset = 0
  return {
    org(orgId) {
      let bus = buses.get(orgId)
      if (!bus) buses.set(orgId, (bus = new Bus(owner)))
      return bus
    },
    published() {
      let n = -publishedBeforeReset
      for (const bus of buses.values()) n += bus.published
      return n
    },
    get retention() {
      return owner.window
    },
    setRetention(window) {
      owner.window = { ...window }
      for (const bus of buses.values()) bus.evict()
    },
    restoreRetention() {
      owner.window = { ...retention }
    },
    reset() {
      owner.window = { ...retention }
      publishedBeforeReset = 0
      for (const bus of buses.values()) {
        for (const log of bus.logs.values()) log.clear(bus.lastReplayId)
        publishedBeforeReset += bus.published
      }
    },
  }
}

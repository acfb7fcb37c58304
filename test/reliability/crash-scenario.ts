/**
 * The crash-safety scenario (issue #11): the service in a process of its own, the stand-ins in
 * another, real Kafka and an on-disk store. While `changes` Salesforce changes (creates,
 * updates, deletes over `records` record slots) stream, the service is SIGKILLed at random
 * points of the change sequence and started again on the same store. Afterwards Cohort's state
 * must equal Salesforce's for every mapped field of every live record, with one user per email,
 * one link per live record and none for a deleted one, and no per-record error.
 *
 * Used by test/reliability/crash.test.ts (the short variant in `npm test`) and
 * test/reliability/crash-full.ts (`npm run test:crash`).
 */
import type { Test } from 'tap'
import { createStore } from '../../src/store/index.ts'
import { waitFor } from '../helpers/index.ts'
import { cohortUsers, connectMerchant, salesforceRecords, type TestMerchant } from '../helpers/merchant.ts'
import { startProcessStack, type ProcessStack } from '../helpers/process-stack.ts'
import { collect, startTestClient } from '../kafka/helpers.ts'

/** The mapped fields and the Cohort property each one fills. */
export const MAPPED = [
  { field: 'Title', property: 'title' },
  { field: 'Cohort_Points__c', property: 'points' },
  { field: 'Birthdate', property: 'birthdate' },
] as const

export interface CrashOptions {
  backend: 'sqlite' | 'postgres'
  /** Salesforce changes in all (creates, updates and deletes). */
  changes: number
  /** Record slots: a deleted record's slot gets a new record later. */
  records: number
  /** SIGKILLs, at random points of the change sequence. */
  kills: number
  /** Changes per second the driver makes at most. */
  ratePerSecond: number
  /** How long the bridge may take to catch up after the last change. */
  settleMs: number
  /** More environment for the service. */
  env?: Record<string, string>
  /** Seed of the random choices (printed, so a failing run can be repeated). */
  seed?: number
}

export interface CrashResult {
  seed: number
  changes: { creates: number; updates: number; deletes: number }
  kills: number
  /** Per kill: after which change, and until the service ran again (until ready, after the last kill). */
  killPoints: Array<{ afterChange: number; upAgainMs: number }>
  liveRecords: number
  deletedRecords: number
  users: number
  /** CDC events Salesforce published, and how many of them reached the topic more than once (re-sent after a kill). */
  events: { published: number; onTopic: number; resent: number }
  /** From the first change to Cohort matching Salesforce. */
  elapsedMs: number
  /** From the last change to Cohort matching Salesforce. */
  settleMs: number
}

/** mulberry32: small, seeded, good enough to pick changes. */
export function random(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), a | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

interface Slot {
  id: string | null
  email: string | null
}

/** Salesforce and Cohort agree on every mapped field of every live record; what differs, for the message. */
export async function differences(stack: Pick<ProcessStack, 'salesforce' | 'cohort'>, merchantId: string): Promise<string[]> {
  const records = await salesforceRecords(stack, 'Contact').list()
  const users = new Map((await cohortUsers(stack, merchantId).list()).map((u) => [u.email.toLowerCase(), u]))
  const out: string[] = []
  for (const record of records) {
    const email = String(record.Email).toLowerCase()
    const user = users.get(email)
    if (!user) {
      out.push(`${record.Id}: no Cohort user ${email}`)
      continue
    }
    for (const { field, property } of MAPPED) {
      const want = record[field] ?? null
      const got = user.properties[property] ?? null
      if (want !== got) out.push(`${record.Id} ${field}: Salesforce ${JSON.stringify(want)}, Cohort ${JSON.stringify(got)}`)
    }
  }
  return out
}

/**
 * What the CDC stream puts on `salesforce.changes` for a merchant, read by a group of the test's
 * own from the beginning, against what Salesforce published since this was called.
 */
export async function watchTopic(t: Test, stack: ProcessStack, merchantId: string): Promise<{ check(): Promise<{ published: number; onTopic: number; distinct: Set<number> }> }> {
  const testKafka = await startTestClient(t)
  const topic = collect(t, testKafka.kafka, stack.topics.salesforceChanges)
  await topic.consumer.start()
  const published = async () => ((await (await fetch(`${stack.salesforceUrl}/__sandbox/stats`)).json()) as { events: { published: number } }).events.published
  const before = await published()
  // By offset: a message the test's own consumer read twice (its group rebalanced on a busy
  // machine) is one message; one the bridge produced twice has two offsets.
  const replayIds = () => [...new Map(topic.received.map((r) => [`${r.partition}:${r.offset}`, r])).values()]
    .map((r) => JSON.parse(r.value) as { source: string; merchantId: string; replayId: number | null })
    .filter((m) => m.source === 'cdc' && m.merchantId === merchantId).map((m) => m.replayId!)
  return {
    async check() {
      const events = (await published()) - before
      await waitFor(() => new Set(replayIds()).size >= events, 60_000, `${events} events on the topic`).catch(() => undefined)
      const onTopic = replayIds()
      // Before the stack's teardown deletes the topic under it.
      await topic.consumer.stop()
      return { published: events, onTopic: onTopic.length, distinct: new Set(onTopic) }
    },
  }
}

/** A merchant connected with import on (mode all, the mapped fields), streaming, its (empty) first load done. */
export async function streamingMerchant(stack: Parameters<typeof connectMerchant>[0]): Promise<TestMerchant> {
  const merchant = await connectMerchant(stack)
  await merchant.saveImport({ enabled: true, object: 'Contact', emailField: 'Email', mode: 'all', fields: MAPPED.map((m) => ({ field: m.field, property: m.property })) })
  await waitFor(async () => {
    const health = await merchant.health()
    return health.cdc === 'streaming' && health.load.state === 'completed'
  }, 60_000, 'streaming, the (empty) first load completed')
  return merchant
}

export async function runCrashScenario(t: Test, options: CrashOptions): Promise<CrashResult> {
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31)
  t.comment(`crash scenario seed ${seed}: ${options.changes} changes over ${options.records} records, ${options.kills} SIGKILLs, ${options.backend}`)
  const rand = random(seed)
  const stack = await startProcessStack(t, {
    backend: options.backend,
    logLevel: 'warn',
    env: { SETTINGS_POLL_MS: '500', CDC_FAILED_RETRY_MS: '2000', ...options.env },
  })
  const merchant = await streamingMerchant(stack)
  const { merchantId } = merchant

  const topic = await watchTopic(t, stack, merchantId)

  const contacts = salesforceRecords(stack, 'Contact')
  const slots: Slot[] = Array.from({ length: options.records }, () => ({ id: null, email: null }))
  const counts = { creates: 0, updates: 0, deletes: 0 }
  const everCreated = new Set<string>()
  const deletedIds = new Set<string>()
  let made = 0
  let serial = 0

  const fieldValues = (): Record<string, unknown> => {
    const fields: Record<string, unknown> = {}
    if (rand() < 0.8) fields.Title = rand() < 0.1 ? null : `title-${serial}-${Math.floor(rand() * 1e6)}`
    if (rand() < 0.6) fields.Cohort_Points__c = rand() < 0.1 ? null : Math.floor(rand() * 1_000_000)
    if (rand() < 0.3) {
      fields.Birthdate = rand() < 0.1 ? null : new Date(Date.UTC(1950 + Math.floor(rand() * 60), Math.floor(rand() * 12), 1 + Math.floor(rand() * 28))).toISOString().slice(0, 10)
    }
    if (Object.keys(fields).length === 0) fields.Title = `title-${serial}`
    return fields
  }

  // One change of a slot, chosen when it is made (so every slot's changes are in order).
  async function change(slot: Slot): Promise<void> {
    serial++
    if (slot.id === null) {
      const email = `crash-${serial}-${Math.floor(rand() * 1e9).toString(36)}@example.com`
      const [id] = await contacts.create([{ LastName: `L${serial}`, Email: email, ...fieldValues() }])
      slot.id = id!
      slot.email = email
      everCreated.add(email)
      counts.creates++
    } else if (rand() < 0.06) {
      await contacts.remove(slot.id)
      deletedIds.add(slot.id)
      slot.id = null
      slot.email = null
      counts.deletes++
    } else {
      await contacts.update(slot.id, fieldValues())
      counts.updates++
    }
  }

  // Kill points: random change numbers, spread over the run, in order.
  const killAt = Array.from({ length: options.kills }, (_, i) => {
    const span = options.changes / (options.kills + 1)
    return Math.floor(span * (i + 0.5 + rand()))
  })
  const killPoints: CrashResult['killPoints'] = []

  const started = Date.now()
  const workers = 4
  const interval = 1000 / options.ratePerSecond
  // Set when the killer fails or the test ends another way: the workers stop with it.
  let aborted = false
  t.teardown(() => {
    aborted = true
  })
  const driver = Promise.all(Array.from({ length: workers }, async (_, w) => {
    const mine = slots.filter((_, i) => i % workers === w)
    while (made < options.changes && !aborted) {
      const due = started + made * interval
      if (Date.now() < due) await new Promise((r) => setTimeout(r, due - Date.now()))
      if (made >= options.changes) return
      made++
      await change(mine[Math.floor(rand() * mine.length)]!)
    }
  }))
  // Each kill comes at its change number, once the service has run a random 1-5 s (streaming,
  // or still joining its consumer groups: any point of its life is a point to crash at).
  const killer = (async () => {
    let up = Date.now()
    for (const [i, point] of killAt.entries()) {
      const minUp = up + 1000 + rand() * 4000
      await waitFor(() => made >= point && Date.now() >= minUp, 600_000, `change ${point}`)
      const afterChange = made
      const exit = await stack.kill('SIGKILL')
      if (exit.signal !== 'SIGKILL') throw new Error(`the service exited with ${JSON.stringify(exit)}, not by SIGKILL`)
      const down = Date.now()
      const last = i === killAt.length - 1
      await stack.startService({}, { ready: last })
      up = Date.now()
      killPoints.push({ afterChange, upAgainMs: up - down })
    }
  })().catch((err: unknown) => {
    aborted = true
    throw err
  })
  await Promise.all([driver, killer])
  const lastChange = Date.now()

  let diff: string[] = []
  try {
    await waitFor(async () => {
      diff = await differences(stack, merchantId)
      return diff.length === 0
    }, options.settleMs, 'Cohort to match Salesforce')
  } catch (err) {
    t.comment(`still different after ${options.settleMs} ms (${diff.length}): ${diff.slice(0, 20).join('; ')}`)
    throw err
  }
  const settled = Date.now()

  // Not only healed in Cohort: every event Salesforce published is on the topic (none skipped
  // by a checkpoint that moved too early), and the checkpoint is the newest of them.
  const { published: publishedEvents, onTopic, distinct } = await topic.check()
  t.equal(distinct.size, publishedEvents, `every one of the ${publishedEvents} events Salesforce published is on the topic`)

  // The state the bridge keeps agrees too, and nothing went wrong on the way.
  const store = createStore({ url: stack.databaseUrl })
  t.teardown(() => store.close())
  const records = await contacts.list()
  const users = await cohortUsers(stack, merchantId).list()
  const emails = users.map((u) => u.email.toLowerCase())
  t.equal(new Set(emails).size, emails.length, 'one Cohort user per email')
  t.ok(emails.every((e) => everCreated.has(e)), 'no user for an email Salesforce never had')
  t.equal(records.length, slots.filter((s) => s.id !== null).length, 'Salesforce holds the live records the driver made')
  const linked = await Promise.all(records.map((r) => store.findLinkByRecord(merchantId, String(r.Id))))
  t.ok(linked.every((link, i) => link !== null && link.email?.toLowerCase() === String(records[i]!.Email).toLowerCase()), 'every live record is linked to its user')
  const stale = await Promise.all([...deletedIds].map((id) => store.findLinkByRecord(merchantId, id)))
  t.equal(stale.filter((l) => l !== null).length, 0, 'no deleted record is linked')
  const errors = await store.listErrors(merchantId)
  t.same(errors.data.map((e) => `${e.recordId} ${e.code}: ${e.message}`), [], 'no per-record error')
  const health = await merchant.health()
  t.equal(health.cdc, 'streaming', 'streaming again after the last restart')
  t.equal(await store.getReplayId(merchantId, '/data/ContactChangeEvent'), Math.max(...distinct), 'the checkpoint is the newest event on the topic')

  return {
    seed,
    changes: counts,
    kills: killPoints.length,
    killPoints,
    liveRecords: records.length,
    deletedRecords: deletedIds.size,
    users: users.length,
    events: { published: publishedEvents, onTopic, resent: onTopic - distinct.size },
    elapsedMs: settled - started,
    settleMs: settled - lastChange,
  }
}

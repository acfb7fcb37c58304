/**
 * Throughput of the Salesforce stand-in's Streaming API and Bulk API 2.0, over real HTTP,
 * client and stand-in in one process:
 * - CDC: Contacts created through the admin API in requests of 10,000, each a CREATE change
 *   event on /data/ChangeEvents and /data/ContactChangeEvent (publish rate, nobody listening);
 *   those replayed (-2) to one jsforce/faye subscriber on /data/ContactChangeEvent (what the
 *   bridge uses); as many again published while that subscriber listens (live); and all of
 *   them replayed to a raw long-polling client (fetch): what the stand-in itself can deliver.
 * - Bulk: a `SELECT Id, FirstName, LastName, Email, Cohort_Points__c FROM Contact` query job
 *   over the seeded Contacts, results read page by page (50,000 rows each).
 *
 *   npm run bench -- salesforce-cdc            # 200,000 events per subscriber, 1,000,000 rows
 *   npm run bench -- salesforce-cdc --short    # 50,000 events, 200,000 rows
 */
import { parseArgs } from 'node:util'
import jsforce from 'jsforce'
import { StreamingExtension } from 'jsforce/lib/api/streaming.js'
import { createSalesforceSandbox } from '../sandbox/salesforce/index.ts'
import { connect } from '../test/sandbox/salesforce/login.ts'

const { values } = parseArgs({ options: { short: { type: 'boolean' }, events: { type: 'string' }, rows: { type: 'string' } } })
const totalEvents = Number(values.events ?? (values.short ? 50_000 : 200_000))
const totalRows = Number(values.rows ?? (values.short ? 200_000 : 1_000_000))
const BATCH = 10_000
const CHANNEL = '/data/ContactChangeEvent'

// Retention holds every event of the run, so the replays below see them all.
const sandbox = createSalesforceSandbox({ port: 0, streaming: { retention: { maxEvents: totalEvents * 2 } } })
const url = await sandbox.start()
const tokens = await connect(url)
const log = (line: string) => process.stderr.write(`${line}\n`)

async function publish(count: number, offset: number): Promise<number> {
  const started = performance.now()
  for (let done = 0; done < count; done += BATCH) {
    const records = []
    for (let i = done; i < Math.min(count, done + BATCH); i++) {
      records.push({ FirstName: 'Cdc', LastName: `Contact ${offset + i}`, Email: `cdc${offset + i}@example.com`, Cohort_Points__c: i % 1000 })
    }
    const res = await fetch(`${url}/__sandbox/records/Contact`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ records }) })
    if (res.status !== 201) throw new Error(`publishing failed: ${res.status} ${await res.text()}`)
    await res.arrayBuffer()
  }
  return (performance.now() - started) / 1000
}

/** A jsforce (faye) subscriber from `replayId`; resolves when `count` events arrived. */
async function fayeSubscriber(replayId: number, count: number): Promise<{ subscribed: Promise<void>; done: Promise<number>; close(): Promise<void> }> {
  const conn = new jsforce.Connection({ instanceUrl: tokens.instance_url, accessToken: tokens.access_token, version: '62.0' })
  const client = conn.streaming.createClient([new StreamingExtension.Replay(CHANNEL, replayId)])
  let received = 0
  let resolveAll: (at: number) => void = () => undefined
  const done = new Promise<number>((resolve) => (resolveAll = resolve))
  const subscription = client.subscribe(CHANNEL, () => {
    received++
    if (received % 50_000 === 0) log(`faye: ${received.toLocaleString('en-US')} events`)
    if (received === count) resolveAll(performance.now())
  })
  return {
    subscribed: new Promise<void>((resolve, reject) => subscription.then(() => resolve(), reject)),
    done,
    close: () => new Promise<void>((resolve) => {
      const sent = (client as unknown as { disconnect(): { then(a: () => void, b: () => void): void } | undefined }).disconnect()
      if (sent) sent.then(resolve, resolve)
      else resolve()
    }),
  }
}

/** Publish with nobody listening, then replay everything (-2) to a faye subscriber. */
async function runReplay(): Promise<{ publishSeconds: number; deliverSeconds: number }> {
  const publishSeconds = await publish(totalEvents, 0)
  const started = performance.now()
  const subscriber = await fayeSubscriber(-2, totalEvents)
  const finished = await subscriber.done
  await subscriber.close()
  return { publishSeconds, deliverSeconds: (finished - started) / 1000 }
}

/** A faye subscriber listening while the events are published. */
async function runLive(): Promise<{ deliverSeconds: number }> {
  const subscriber = await fayeSubscriber(-1, totalEvents)
  await subscriber.subscribed
  const started = performance.now()
  await publish(totalEvents, totalEvents)
  const finished = await subscriber.done
  await subscriber.close()
  return { deliverSeconds: (finished - started) / 1000 }
}

/** A raw long-polling client (fetch) replaying the retained events: the stand-in's own pace. */
async function runRaw(): Promise<{ deliverSeconds: number; maxPerResponse: number }> {
  let cookie = ''
  let id = 0
  const endpoint = `${url}/cometd/62.0`
  const send = async (message: Record<string, unknown>) => {
    const res = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens.access_token}`, ...(cookie ? { cookie } : {}) },
      body: JSON.stringify([{ id: String(++id), ...message }]),
    })
    cookie = res.headers.get('set-cookie')?.split(';')[0] ?? cookie
    return (await res.json()) as { channel: string; clientId?: string }[]
  }
  const started = performance.now()
  const [hs] = await send({ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] })
  const clientId = hs!.clientId!
  await send({ channel: '/meta/connect', clientId, connectionType: 'long-polling' })
  await send({ channel: '/meta/subscribe', clientId, subscription: CHANNEL, ext: { replay: { [CHANNEL]: -2 } } })
  let received = 0
  let maxPerResponse = 0
  while (received < totalEvents * 2) {
    const reply = await send({ channel: '/meta/connect', clientId, connectionType: 'long-polling' })
    const events = reply.length - 1
    received += events
    maxPerResponse = Math.max(maxPerResponse, events)
  }
  const deliverSeconds = (performance.now() - started) / 1000
  await send({ channel: '/meta/disconnect', clientId })
  return { deliverSeconds, maxPerResponse }
}

async function runBulk(): Promise<{ seconds: number; rows: number; pages: number }> {
  const seeded = (await (await fetch(`${url}/__sandbox/records/Contact?limit=1`)).json()) as { total: number }
  for (let done = seeded.total; done < totalRows; done += BATCH) {
    const records = []
    for (let i = done; i < Math.min(totalRows, done + BATCH); i++) records.push({ FirstName: 'Bulk', LastName: `Contact ${i}`, Email: `bulk${i}@example.com`, Cohort_Points__c: i % 1000 })
    const res = await fetch(`${url}/__sandbox/records/Contact`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ records, events: false }) })
    await res.arrayBuffer()
  }
  log(`bulk: ${totalRows.toLocaleString('en-US')} Contacts seeded`)
  const api = `${url}/services/data/v62.0/jobs/query`
  const headers = { authorization: `Bearer ${tokens.access_token}`, 'content-type': 'application/json' }
  const started = performance.now()
  const job = (await (await fetch(api, { method: 'POST', headers, body: JSON.stringify({ operation: 'query', query: 'SELECT Id, FirstName, LastName, Email, Cohort_Points__c FROM Contact' }) })).json()) as { id: string }
  for (;;) {
    const state = ((await (await fetch(`${api}/${job.id}`, { headers })).json()) as { state: string }).state
    if (state === 'JobComplete') break
    if (state === 'Failed' || state === 'Aborted') throw new Error(`bulk job ${state}`)
  }
  let rows = 0
  let pages = 0
  let locator = ''
  do {
    const res = await fetch(`${api}/${job.id}/results${locator ? `?locator=${locator}` : ''}`, { headers })
    const text = await res.text()
    rows += Number(res.headers.get('sforce-numberofrecords'))
    if (text.length === 0) throw new Error('empty page')
    pages++
    locator = res.headers.get('sforce-locator') ?? 'null'
  } while (locator !== 'null')
  return { seconds: (performance.now() - started) / 1000, rows, pages }
}

const replay = await runReplay()
log(`publish: ${totalEvents} events in ${replay.publishSeconds.toFixed(2)} s; replayed to faye in ${replay.deliverSeconds.toFixed(2)} s`)
const live = await runLive()
log(`live: ${totalEvents} events published and delivered to faye in ${live.deliverSeconds.toFixed(2)} s`)
const raw = await runRaw()
log(`raw: ${totalEvents * 2} events replayed in ${raw.deliverSeconds.toFixed(2)} s, up to ${raw.maxPerResponse} per connect`)
const bulk = await runBulk()
log(`bulk: ${bulk.rows} rows in ${bulk.pages} pages, ${bulk.seconds.toFixed(2)} s`)
const stats = (await (await fetch(`${url}/__sandbox/stats`)).json()) as { events: { published: number } }
await sandbox.stop()

console.log(JSON.stringify({
  events: totalEvents,
  published: stats.events.published,
  publishPerSecond: Math.round(totalEvents / replay.publishSeconds),
  fayeReplayDeliveredPerSecond: Math.round(totalEvents / replay.deliverSeconds),
  fayeLiveDeliveredPerSecond: Math.round(totalEvents / live.deliverSeconds),
  rawReplayDeliveredPerSecond: Math.round((totalEvents * 2) / raw.deliverSeconds),
  maxEventsPerConnect: raw.maxPerResponse,
  bulkRows: bulk.rows,
  bulkPages: bulk.pages,
  bulkRowsPerSecond: Math.round(bulk.rows / bulk.seconds),
  rssMb: Math.round(process.memoryUsage().rss / 1024 / 1024),
}))

/**
 * Contract: a merchant's links walked in keyset pages in bounded memory, and the batch link
 * path's speed. The walk runs over WALK_LINKS links (1,000,000) seeded by the backend's
 * test-only SQL seed; the batch path links BATCH_LINKS (100,000) through linkRecords in
 * chunks. STORE_LONG=1 seeds the whole million through linkRecords instead.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { Test } from 'tap'
import type { NewLink, Store } from '../../../src/store/index.ts'
import { linkRecordId, uid, type ContractContext } from './helpers.ts'

const LONG = process.env.STORE_LONG === '1'
const WALK_LINKS = Number(process.env.STORE_WALK_LINKS ?? 1_000_000)
const BATCH_LINKS = LONG ? WALK_LINKS : Math.min(WALK_LINKS, 100_000)
const CHUNK = 10_000
const PAGE = 1000
const MB = 1024 * 1024

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

function heapMb(): number {
  gc()
  return process.memoryUsage().heapUsed / MB
}

/** Link `count` records through linkRecords in chunks of 10,000; returns the seconds taken. */
async function linkInChunks(store: Store, merchantId: string, count: number): Promise<number> {
  const start = performance.now()
  for (let from = 0; from < count; from += CHUNK) {
    const chunk: NewLink[] = []
    for (let i = from; i < Math.min(count, from + CHUNK); i++) {
      chunk.push({ merchantId, sobject: 'Contact', recordId: linkRecordId(i), userId: `u${i}`, email: `user${i}@example.com` })
    }
    await store.linkRecords(chunk)
  }
  return (performance.now() - start) / 1000
}

export async function walkContract(t: Test, { store, seedLinks }: ContractContext): Promise<void> {
  await t.test(`linkRecords: ${BATCH_LINKS.toLocaleString('en')} links in chunks of ${CHUNK.toLocaleString('en')}`, { timeout: 300_000 }, async (t) => {
    const merchantId = uid('m')
    const seconds = await linkInChunks(store, merchantId, BATCH_LINKS)
    const last = await store.findLinkByUser(merchantId, `u${BATCH_LINKS - 1}`)
    t.equal(last?.recordId, linkRecordId(BATCH_LINKS - 1), 'every chunk landed')
    t.equal((await store.listLinksPage(merchantId, { after: linkRecordId(BATCH_LINKS - 2) })).data.length, 1, 'and nothing more')
    t.comment(`${store.backend}: linkRecords wrote ${BATCH_LINKS} links in ${seconds.toFixed(1)} s (${Math.round(BATCH_LINKS / seconds)} links/s)`)
    if (LONG) await walk(t, store, merchantId, BATCH_LINKS)
  })

  if (LONG) return
  await t.test(`walkLinks: ${WALK_LINKS.toLocaleString('en')} links in pages, bounded memory`, { timeout: 120_000 }, async (t) => {
    const merchantId = uid('m')
    const start = performance.now()
    await seedLinks(merchantId, WALK_LINKS)
    t.comment(`${store.backend}: SQL seed of ${WALK_LINKS} links in ${((performance.now() - start) / 1000).toFixed(1)} s`)
    await walk(t, store, merchantId, WALK_LINKS)
  })
}

async function walk(t: Test, store: Store, merchantId: string, expected: number): Promise<void> {
  const baseline = heapMb()
  let peak = 0
  let count = 0
  let pages = 0
  let largest = 0
  let previous = ''
  let ordered = true
  const start = performance.now()
  for await (const page of store.walkLinks(merchantId, { pageSize: PAGE })) {
    for (const link of page) {
      if (link.recordId <= previous) ordered = false
      previous = link.recordId
    }
    count += page.length
    largest = Math.max(largest, page.length)
    if (++pages % 100 === 0) peak = Math.max(peak, heapMb() - baseline)
  }
  const seconds = (performance.now() - start) / 1000
  peak = Math.max(peak, heapMb() - baseline)

  t.equal(count, expected, 'every link once')
  t.equal(largest, PAGE, `pages of at most ${PAGE}`)
  t.ok(ordered, 'in strictly increasing record id order')
  t.equal(previous, linkRecordId(expected - 1), 'up to the last one')
  // A million links held at once would take hundreds of MB; two pages take well under one.
  t.ok(peak < 32, `heap growth stays bounded (${peak.toFixed(1)} MB)`)
  t.comment(`${store.backend}: walked ${expected} links in ${seconds.toFixed(1)} s (${pages} pages), heap growth ${peak.toFixed(1)} MB after gc`)
}

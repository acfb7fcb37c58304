/**
 * Walks over keyset pages, for both backends: one page in use and the next one in flight,
 * so memory stays at two pages whatever the table holds. Whole pages are yielded, not rows:
 * a million rows cost a thousand awaits instead of a million (each await is far dearer under
 * async hooks, as APM agents and test runners install them).
 */
import type { KeysetPage, WalkOptions } from '../types/index.ts'
import { clampKeysetLimit } from './paging.ts'

export type FetchPage<T, K> = (after: K | null, limit: number) => Promise<KeysetPage<T, K>>

/** Yield every page `fetchPage` serves, in key order, starting after `options.after`; never an empty page. */
export async function* walkPages<T, K>(fetchPage: FetchPage<T, K>, options: WalkOptions<K> = {}): AsyncGenerator<T[]> {
  const limit = clampKeysetLimit(options.pageSize)
  const fetchNext = (after: K | null): Promise<KeysetPage<T, K>> => {
    const pending = fetchPage(after, limit)
    // A consumer that stops early never awaits the prefetched page: keep its failure from
    // becoming an unhandled rejection.
    pending.catch(() => undefined)
    return pending
  }
  let pending = fetchNext(options.after ?? null)
  for (;;) {
    const page = await pending
    if (page.next !== null) pending = fetchNext(page.next)
    if (page.data.length > 0) yield page.data
    if (page.next === null) return
  }
}

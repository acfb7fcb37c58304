/**
 * Work split into calls: chunks of a size, and the calls run a few at a time. One copy for
 * every capability that sends many calls of one batch (Cohort lookups and batches).
 */

/** `items` in consecutive slices of at most `size` (the last may be shorter). */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/**
 * `fn` over `items`, at most `limit` calls in flight; the results in the order of `items`.
 * After a failure no new call starts, and every call already started settles before the
 * first failure is thrown: a caller that retries the whole never has a call of the previous
 * attempt still running beside the new one.
 */
export async function mapConcurrently<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  let failure: { error: unknown } | null = null
  const worker = async () => {
    while (failure === null && next < items.length) {
      const i = next++
      try {
        results[i] = await fn(items[i]!, i)
      } catch (error) {
        failure ??= { error }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(Math.max(1, Math.trunc(limit)), items.length) }, worker))
  if (failure !== null) throw (failure as { error: unknown }).error
  return results
}

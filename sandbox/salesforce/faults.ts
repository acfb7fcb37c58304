/**
 * Fault injection for the REST API. A fault applies to the next `count` API calls whose
 * "METHOD /path" matches `match` (a substring, or a regular expression written `/…/flags`;
 * every API call when omitted). `expire-tokens`, `revoke-refresh-token` and the streaming
 * faults (`streaming-faults.ts`) act at once. `bulk-query-failed` waits for the next Bulk API
 * 2.0 job creation (its `match` defaults to `POST …/jobs/query`).
 */
import { z } from 'zod'
import { createFaultBook as createSharedFaultBook, type FaultBook as SharedFaultBook } from '../shared/fault-book.ts'
import { STREAMING_FAULT_KINDS } from './streaming-faults.ts'

export const FAULT_KINDS = [
  'http-503', 'http-500', 'request-limit-exceeded', 'unable-to-lock-row', 'latency', 'expire-tokens', 'revoke-refresh-token',
  'bulk-query-failed', ...STREAMING_FAULT_KINDS,
] as const

export const FaultSchema = z.object({
  kind: z.enum(FAULT_KINDS),
  count: z.number().int().min(1).max(1_000_000).default(1),
  match: z.string().min(1).optional(),
  /** latency: added delay before the call is answered. Default 1000. */
  latencyMs: z.number().int().min(0).max(120_000).default(1000),
  /** unable-to-lock-row: how many records of each matching write fail (default: all). */
  records: z.number().int().min(1).optional(),
  /** cometd-shrink-retention: events kept per channel (default 0) and their age in ms (default unchanged). */
  retainEvents: z.number().int().min(0).optional(),
  retainMs: z.number().int().min(0).optional(),
  /** expire-tokens and the cometd-* faults: only this org (1 or 2). */
  org: z.union([z.literal(1), z.literal(2)]).optional(),
  /** revoke-refresh-token: this refresh token, or every refresh token of this username (default: all). */
  token: z.string().min(1).optional(),
  username: z.string().min(1).optional(),
})

export type FaultInput = z.input<typeof FaultSchema>
export type Fault = z.infer<typeof FaultSchema>

export type FaultBook = SharedFaultBook<Fault>

/** The REST fault book (faults come off it before the token is checked). */
export function createFaultBook(): FaultBook {
  return createSharedFaultBook<Fault>()
}

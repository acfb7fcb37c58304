/**
 * Fault injection for the REST API. A fault applies to the next `count` API calls whose
 * "METHOD /path" matches `match` (a substring, or a regular expression written `/…/flags`;
 * every API call when omitted). `expire-tokens`, `revoke-refresh-token` and the streaming
 * faults (`streaming-faults.ts`) act at once. `bulk-query-failed` waits for the next Bulk API
 * 2.0 job creation (its `match` defaults to `POST …/jobs/query`). `record-error` waits for
 * sObject Collections writes and counts records, not calls: its next `count` records fail
 * with `errorCode` (its `match` defaults to the collection create, update and delete).
 * `answer-lost` carries the call out and then closes its connection without an answer (a
 * timeout or a reset between Salesforce and the caller: the caller cannot tell it was done).
 */
import { z } from 'zod'
import { createFaultBook as createSharedFaultBook, type FaultBook as SharedFaultBook } from '../shared/fault-book.ts'
import { MAX_ORGS } from './orgs.ts'
import { STREAMING_FAULT_KINDS } from './streaming-faults.ts'

export const FAULT_KINDS = [
  'http-503', 'http-500', 'request-limit-exceeded', 'unable-to-lock-row', 'record-error', 'latency', 'expire-tokens', 'revoke-refresh-token',
  'bulk-query-failed', 'answer-lost', ...STREAMING_FAULT_KINDS,
] as const

/** Faults taken by a route that knows the records of the call, not by the call's first hook. */
export const RECORD_FAULT_KINDS: ReadonlySet<string> = new Set(['record-error'])

/** Collection create, update and delete: where a `record-error` applies unless `match` says otherwise. */
export const COLLECTION_WRITES = '/^(POST|PATCH|DELETE) \\/services\\/data\\/v[\\d.]+\\/composite\\/sobjects\\/?$/'

export const FaultSchema = z.object({
  kind: z.enum(FAULT_KINDS),
  /** Calls the fault applies to (default 1); records, for `record-error`. */
  count: z.number().int().min(1).max(1_000_000).default(1),
  match: z.string().min(1).optional(),
  /** latency: added delay before the call is answered. Default 1000. */
  latencyMs: z.number().int().min(0).max(120_000).default(1000),
  /** unable-to-lock-row: how many records of each matching write fail (default: all). */
  records: z.number().int().min(1).optional(),
  /** record-error: the per-record `statusCode`, e.g. `DUPLICATES_DETECTED`. */
  errorCode: z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'an upper-case Salesforce status code such as DUPLICATES_DETECTED').optional(),
  /** record-error: the error's `message` (default: the usual text of the code). */
  message: z.string().min(1).max(1000).optional(),
  /** record-error: the error's `fields` (default `[]`). */
  fields: z.array(z.string().min(1)).max(100).optional(),
  /** record-error: only records whose body has these values (text compared case-insensitively). */
  where: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).optional(),
  /** cometd-server-disconnect: the advice of the connect reply. Default `none` (the client must start over itself). */
  advice: z.enum(['none', 'handshake']).default('none'),
  /** cometd-shrink-retention: events kept per channel (default 0) and their age in ms (default unchanged). */
  retainEvents: z.number().int().min(0).optional(),
  retainMs: z.number().int().min(0).optional(),
  /** expire-tokens and the cometd-* faults: only this org (1, 2, … up to the stand-in's `orgs`). */
  org: z.number().int().min(1).max(MAX_ORGS).optional(),
  /** revoke-refresh-token: this refresh token, or every refresh token of this username (default: all). */
  token: z.string().min(1).optional(),
  username: z.string().min(1).optional(),
}).refine((f) => f.kind !== 'record-error' || f.errorCode !== undefined, { message: 'a record-error names its errorCode', path: ['errorCode'] })

export type FaultInput = z.input<typeof FaultSchema>
export type Fault = z.infer<typeof FaultSchema>

export type FaultBook = SharedFaultBook<Fault>

/** The REST fault book (faults come off it before the token is checked). */
export function createFaultBook(): FaultBook {
  return createSharedFaultBook<Fault>()
}

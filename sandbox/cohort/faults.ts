/**
 * Fault injection for the Cohort stand-in's internal API: the next `count` calls whose
 * "METHOD /path" matches `match` (a substring or `/regex/flags`; every call when omitted)
 * fail as told.
 * Kinds: `http-500`, `http-503`, `rate-limit` (429 + Retry-After), `latency` (delay, then
 * answer normally), `malformed` (200 with a body that breaks the contract), `lose-answer`
 * (the call is carried out — a batch applied, its events published — then its answer is lost
 * and `status` (default 503) is answered instead, as when a gateway drops a response).
 */
import { z } from 'zod'
import { createFaultBook as createSharedFaultBook, type FaultBook as SharedFaultBook } from '../shared/fault-book.ts'

export const FaultSchema = z.object({
  kind: z.enum(['http-500', 'http-503', 'rate-limit', 'latency', 'malformed', 'lose-answer']),
  count: z.number().int().min(1).max(1_000_000).default(1),
  match: z.string().min(1).optional(),
  /** rate-limit: the Retry-After value. Default 1. */
  retryAfterSeconds: z.number().int().min(0).max(3600).default(1),
  /** latency: how long. Default 1000. */
  latencyMs: z.number().int().min(0).max(120_000).default(1000),
  /** lose-answer: the status answered after the call was carried out. Default 503. */
  status: z.union([z.literal(500), z.literal(502), z.literal(503), z.literal(504)]).default(503),
})

export type Fault = z.infer<typeof FaultSchema>

export type FaultBook = SharedFaultBook<Fault>

export function createFaultBook(): FaultBook {
  return createSharedFaultBook<Fault>()
}

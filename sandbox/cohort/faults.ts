/**
 * Fault injection for the Cohort stand-in's internal API: the next `count` calls whose
 * "METHOD /path" contains `match` (every call when `match` is omitted) fail as told.
 * Kinds: `http-500`, `http-503`, `rate-limit` (429 + Retry-After), `latency` (delay, then
 * answer normally), `malformed` (200 with a body that breaks the contract).
 */
import { z } from 'zod'

export const FaultSchema = z.object({
  kind: z.enum(['http-500', 'http-503', 'rate-limit', 'latency', 'malformed']),
  count: z.number().int().min(1).max(1_000_000).default(1),
  match: z.string().min(1).optional(),
  /** rate-limit: the Retry-After value. Default 1. */
  retryAfterSeconds: z.number().int().min(0).max(3600).default(1),
  /** latency: how long. Default 1000. */
  latencyMs: z.number().int().min(0).max(120_000).default(1000),
})

export type Fault = z.infer<typeof FaultSchema>

export interface FaultBook {
  add(fault: Fault): void
  /** The fault for this call, if any, counting it down. */
  take(method: string, path: string): Fault | null
  clear(): void
  pending(): Fault[]
}

export function createFaultBook(): FaultBook {
  let faults: Fault[] = []
  return {
    add: (fault) => void faults.push({ ...fault }),
    take(method, path) {
      const call = `${method} ${path}`
      const fault = faults.find((f) => f.match === undefined || call.includes(f.match))
      if (!fault) return null
      fault.count--
      if (fault.count <= 0) faults = faults.filter((f) => f !== fault)
      return fault
    },
    clear: () => {
      faults = []
    },
    pending: () => faults.map((f) => ({ ...f })),
  }
}

/** A customer's sync history (the trace route). */
import type { SyncDirection } from './base.ts'

/** One step of a customer's sync history. */
export interface TraceEntry {
  id: string
  merchantId: string
  direction: SyncDirection
  recordId: string | null
  userId: string | null
  email: string | null
  outcome: string
  details: unknown
  at: Date
}

export type NewTraceEntry = Omit<TraceEntry, 'id' | 'at'> & { at?: Date }

export interface TraceStore {
  appendTrace(entry: NewTraceEntry): Promise<void>
  /** Entries about any of the given keys, newest first; none given matches nothing. */
  listTrace(merchantId: string, by: { userId?: string; recordId?: string; email?: string }, limit?: number): Promise<TraceEntry[]>
}

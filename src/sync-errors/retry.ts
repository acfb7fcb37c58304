/**
 * Retrying per-record errors (contracts §2 `POST …/errors/:id/retry`, `…/errors/retry`) once
 * their cause is fixed. An export error's payload holds the user's changes (userId, email,
 * properties with value, version and occurredAt): they are parked, and the exporter sends
 * parked changes first (it looks every couple of seconds). An import error of a record is read
 * again from Salesforce and produced to `salesforce.changes` as a snapshot, which the importer
 * applies like any record. The error stays open until the retried sync succeeds (which
 * resolves it) or fails again (which counts an attempt).
 */
import { changeKeyOf, fromRecord } from '../changes/index.ts'
import { toParked, type UserChange } from '../cohort-events/index.ts'
import type { Services } from '../services.ts'
import { selectByIds } from '../salesforce/index.ts'
import type { RecordError } from '../store/index.ts'

export interface RetryOutcome {
  /** Errors whose change was sent again (parked for export, read again for import). */
  retried: number
  /** Errors that carry nothing to send again (no payload, no record). */
  skipped: number
}

type Payload = { userId?: unknown; email?: unknown; properties?: Record<string, { value?: unknown; version?: unknown; occurredAt?: unknown }> }

function exportChangeOf(error: RecordError): UserChange | null {
  const payload = (error.payload ?? {}) as Payload
  const userId = typeof payload.userId === 'string' ? payload.userId : error.userId
  if (!userId || !payload.properties) return null
  const change: UserChange = { userId, email: typeof payload.email === 'string' ? payload.email : error.email, properties: {}, ensure: true }
  for (const [property, p] of Object.entries(payload.properties)) {
    if (typeof p.version !== 'number') continue
    change.properties[property] = { value: p.value ?? null, version: p.version, occurredAt: new Date(typeof p.occurredAt === 'string' ? p.occurredAt : 0) }
  }
  return change
}

export async function retryErrors(services: Pick<Services, 'store' | 'settings' | 'connections' | 'kafka' | 'config'>, merchantId: string, errors: RecordError[]): Promise<RetryOutcome> {
  const outcome: RetryOutcome = { retried: 0, skipped: 0 }
  const changes: UserChange[] = []
  const recordIds = new Set<string>()
  for (const error of errors) {
    if (error.direction === 'export') {
      const change = exportChangeOf(error)
      if (change) changes.push(change)
      else outcome.skipped++
    } else if (error.recordId) {
      recordIds.add(error.recordId)
    } else {
      outcome.skipped++
    }
  }
  if (changes.length > 0) {
    await services.store.parkExportChanges(merchantId, changes.map(toParked))
    outcome.retried += changes.length
  }
  if (recordIds.size > 0) {
    const settings = await services.settings.get(merchantId)
    const connection = await services.store.getConnection(merchantId)
    const imp = settings.import
    if (!imp.enabled || !imp.object || !imp.emailField || !connection) {
      outcome.skipped += recordIds.size
    } else {
      const conn = await services.connections.get(merchantId)
      const records = await selectByIds(conn, imp.object, [imp.emailField, ...imp.fields.map((f) => f.field)], [...recordIds])
      const receivedAt = Date.now()
      const messages = records.map((r) => fromRecord(r, { merchantId, orgId: connection.orgId, object: imp.object!, source: 'fetch', receivedAt }))
      await services.kafka.produce(services.config.kafka.topics.salesforceChanges, messages.map((m) => ({ key: changeKeyOf(merchantId, m.recordId), value: JSON.stringify(m) })))
      outcome.retried += errors.filter((e) => e.direction === 'import' && e.recordId && records.some((r) => r.Id === e.recordId)).length
      outcome.skipped += errors.filter((e) => e.direction === 'import' && e.recordId && !records.some((r) => r.Id === e.recordId)).length
    }
  }
  return outcome
}

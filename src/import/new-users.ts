/**
 * Mode `existing`, users created later (contracts §8): consumer group `{prefix}.import-users`
 * on `cohort.user-events`. A `user.created` (not made by the bridge itself) of a merchant
 * importing in mode `existing` makes the bridge read the Salesforce records with that email
 * (one query per batch and merchant, IN lists of at most 200) and produce them to
 * `salesforce.changes` as SNAPSHOT messages: the importer then links and fills the new user
 * as it does any record. Offsets are resolved once the snapshots are acknowledged and committed
 * once a second. Other events, and
 * messages that do not parse (the export group dead-letters those), are passed over.
 */
import { z } from 'zod'
import { changeKeyOf, fromRecord } from '../changes/index.ts'
import { createComponent, type Component } from '../component.ts'
import { AppError, isRetriable } from '../errors.ts'
import type { BatchPayload, KafkaConsumer } from '../kafka/index.ts'
import { selectByEmails } from '../salesforce/index.ts'
import type { Services } from '../services.ts'
import { checkEmail } from './resolve.ts'

const UserCreated = z.looseObject({ type: z.literal('user.created'), merchantId: z.string().min(1), userId: z.string().min(1), email: z.string(), source: z.string().optional() })

export function createNewUserImporter(services: Services): Component {
  const { config, kafka, settings, store } = services
  const logger = services.logger.child({ component: 'import-users' })
  let consumer: KafkaConsumer | undefined

  async function handleMerchant(merchantId: string, emails: string[]): Promise<void> {
    const current = await settings.get(merchantId)
    const imp = current.import
    if (!imp.enabled || imp.mode !== 'existing' || !imp.object || !imp.emailField) return
    const connection = await store.getConnection(merchantId)
    if (!connection || connection.state !== 'connected' || connection.refreshTokenEnc === null) return
    try {
      const conn = await services.connections.get(merchantId)
      const records = await selectByEmails(conn, imp.object, imp.emailField, imp.fields.map((f) => f.field), emails)
      if (records.length === 0) return
      const receivedAt = Date.now()
      const messages = records.map((r) => fromRecord(r, { merchantId, orgId: connection.orgId, object: imp.object!, source: 'fetch', receivedAt }))
      await kafka.produce(config.kafka.topics.salesforceChanges, messages.map((m) => ({ key: changeKeyOf(merchantId, m.recordId), value: JSON.stringify(m) })))
      logger.info({ merchantId, users: emails.length, records: records.length }, 'records of users created in Cohort read for import')
    } catch (err) {
      if (isRetriable(err)) throw err
      const code = err instanceof AppError ? err.code : 'internal'
      for (const email of emails) {
        await store.recordError({ merchantId, direction: 'import', email, code, message: `could not read the Salesforce record of a new Cohort user: ${(err as Error).message}` })
      }
    }
  }

  async function handleBatch(payload: BatchPayload): Promise<void> {
    const byMerchant = new Map<string, Set<string>>()
    for (const message of payload.batch.messages) {
      let json: unknown
      try {
        json = JSON.parse(message.value?.toString() ?? '')
      } catch {
        continue
      }
      // Most events are updates, or the bridge's own creates: passed over before zod.
      const { type, source } = (json ?? {}) as { type?: unknown; source?: unknown }
      if (type !== 'user.created' || source === 'salesforce') continue
      const parsed = UserCreated.safeParse(json)
      if (!parsed.success || parsed.data.source === 'salesforce') continue
      const email = checkEmail(parsed.data.email)
      if (!email.ok) continue
      let set = byMerchant.get(parsed.data.merchantId)
      if (!set) byMerchant.set(parsed.data.merchantId, (set = new Set()))
      set.add(email.email)
    }
    await Promise.all([...byMerchant].map(([merchantId, emails]) => handleMerchant(merchantId, [...emails])))
  }

  const lifecycle = createComponent('import-users', {
    async start() {
      // Offsets once a second, not after every batch: this group reads every Cohort user event
      // and passes over nearly all of them, and a redelivered new user is looked up once more, harmlessly.
      consumer = kafka.createConsumer({ groupId: `${config.kafka.groupPrefix}.import-users`, topics: [config.kafka.topics.cohortEvents], commitIntervalMs: 1000, handleBatch })
      await consumer.start()
    },
    async stop() {
      await consumer?.stop()
    },
  })
  return lifecycle
}

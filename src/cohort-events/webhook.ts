/**
 * Webhook ingress `POST /webhooks/cohort` (contracts §2, §8): one Cohort user event per
 * delivery, signed as a Standard Webhook (`webhook-id`, `webhook-timestamp`,
 * `webhook-signature`), checked with the `standardwebhooks` library against
 * COHORT_WEBHOOK_SECRET over the raw body, with its 5-minute timestamp tolerance. A valid
 * event is produced to the Cohort events topic exactly as received (key
 * `{merchantId}:{userId}`), where the export reads it like any event Cohort produced.
 *
 * Order: the signature (401), the body (400), the id seen before (200, nothing published),
 * then the publish, and only once Kafka acknowledged it is the id remembered. So a failure
 * anywhere before answers an error and Cohort's redelivery publishes again: an event is never
 * lost, and at worst (two concurrent deliveries of one id, or a crash between the
 * acknowledgement and the remember) published twice, which the export ignores (contracts §3:
 * the same event twice changes nothing). Without a secret the route does not exist (404).
 */
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { Counter, type Registry } from 'prom-client'
import { Webhook, WebhookVerificationError } from 'standardwebhooks'
import { z } from 'zod'
import type { Config } from '../config.ts'
import { AppError } from '../errors.ts'
import type { KafkaClient } from '../kafka/index.ts'
import type { Store } from '../store/index.ts'
import { CohortUserEvent, cohortEventKeyOf } from './event.ts'

export interface WebhookRouteDeps {
  config: Config
  store: Store
  kafka: KafkaClient
  metrics: Registry
}

/**
 * How long a delivered `webhook-id` is remembered: longer than a Standard Webhooks sender
 * keeps retrying one message (about a day and a half at most for the usual schedules).
 */
export const WEBHOOK_ID_TTL_MS = 3 * 24 * 3600 * 1000

export const WEBHOOK_PATH = '/webhooks/cohort'

const Accepted = z.object({ status: z.enum(['published', 'duplicate']) })

type Outcome = 'published' | 'duplicate' | 'invalid-signature' | 'invalid-body' | 'failed'

function outcomeCounter(registry: Registry): Counter<'outcome'> {
  const name = 'bridge_webhook_deliveries_total'
  const existing = registry.getSingleMetric(name)
  if (existing) return existing as Counter<'outcome'>
  return new Counter({ name, help: 'Deliveries to POST /webhooks/cohort, by outcome (published, duplicate, invalid-signature, invalid-body, failed).', labelNames: ['outcome'], registers: [registry] })
}

/** Registers the route when COHORT_WEBHOOK_SECRET is set; otherwise nothing (404). */
export function registerWebhookRoutes(app: FastifyInstance, deps: WebhookRouteDeps): void {
  const secret = deps.config.cohortWebhookSecret
  if (secret === null) return
  const webhook = new Webhook(secret.reveal())
  const { store, kafka } = deps
  const topic = deps.config.kafka.topics.cohortEvents
  const deliveries = outcomeCounter(deps.metrics)

  app.register(async (scope) => {
    // The signature covers the bytes as sent: keep the body a string in this scope only.
    scope.removeContentTypeParser('application/json')
    scope.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => done(null, body))
    const routes = scope.withTypeProvider<ZodTypeProvider>()

    routes.post(WEBHOOK_PATH, {
      schema: {
        tags: ['webhooks'],
        description: 'One Cohort user event (contracts §3), signed as a Standard Webhook with COHORT_WEBHOOK_SECRET.',
        security: [],
        response: { 200: Accepted },
      },
    }, async (request) => {
      const body = typeof request.body === 'string' ? request.body : ''
      const count = (outcome: Outcome) => deliveries.inc({ outcome })
      try {
        webhook.verify(body, request.headers as Record<string, string>, { jsonParse: false })
      } catch (err) {
        count('invalid-signature')
        const reason = err instanceof WebhookVerificationError ? err.message : 'signature check failed'
        request.log.warn({ reason }, 'webhook refused')
        throw new AppError('auth.invalid', `webhook signature refused: ${reason}`, { cause: err })
      }
      const id = String(request.headers['webhook-id'])

      let json: unknown
      try {
        json = JSON.parse(body)
      } catch (err) {
        count('invalid-body')
        throw new AppError('request.invalid', 'the body is not JSON', { cause: err })
      }
      const parsed = CohortUserEvent.safeParse(json)
      if (!parsed.success) {
        count('invalid-body')
        const issue = parsed.error.issues[0]
        const field = issue?.path.join('.') || undefined
        throw new AppError('request.invalid', `not a Cohort user event: ${issue?.message ?? 'invalid'}`, field === undefined ? {} : { field })
      }

      if (await store.hasWebhookId(id)) {
        count('duplicate')
        return { status: 'duplicate' as const }
      }
      try {
        await kafka.produce(topic, [{ key: cohortEventKeyOf(parsed.data), value: body }])
      } catch (err) {
        count('failed')
        throw err
      }
      // After the acknowledgement: a remember that fails leaves a redelivery to publish again.
      await store.rememberWebhookId(id, new Date(Date.now() + WEBHOOK_ID_TTL_MS))
      count('published')
      request.log.info({ webhookId: id, eventId: parsed.data.id, merchantId: parsed.data.merchantId, type: parsed.data.type }, 'webhook event published')
      return { status: 'published' as const }
    })
  })
}

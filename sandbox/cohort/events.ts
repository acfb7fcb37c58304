/**
 * Where the Cohort stand-in's user events go: the real Kafka topic (key
 * `{merchantId}:{userId}`, acknowledged by every in-sync replica before the API call answers,
 * through the stand-in's own kafkajs producer, `kafka-producer.ts`) and, when configured,
 * a Standard Webhooks endpoint (`webhook-id`, `webhook-timestamp`, `webhook-signature`
 * v1 HMAC-SHA256 over `{id}.{timestamp}.{body}`), delivered in order with retries.
 */
import { createHmac } from 'node:crypto'
import { AppError } from '../../src/errors.ts'
import type { Logger } from '../../src/logger.ts'
import { retry } from '../../src/retry.ts'
import { createEventProducer, type EventProducer } from './kafka-producer.ts'
import type { UserEvent } from './model.ts'

export interface EventSinkOptions {
  logger: Logger
  /** Publish to Kafka; omitted or null: events are only counted (and sent to the webhook). */
  kafka?: { brokers: string[]; topic: string; partitions?: number } | null
  /** Also deliver every event as a Standard Webhook. */
  webhook?: { url: string; secret: string } | null
}

export interface EventSink {
  start(): Promise<void>
  stop(): Promise<void>
  publish(events: UserEvent[]): Promise<void>
  /** Resolves when every webhook delivery queued so far has ended (delivered or given up). */
  drainWebhooks(): Promise<void>
  stats(): { published: number; webhooks: { delivered: number; failed: number } }
}

/** Standard Webhooks v1 signature of one delivery. `secret` is `whsec_<base64 key>`. */
export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64')
  const mac = createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64')
  return `v1,${mac}`
}

export function createEventSink(options: EventSinkOptions): EventSink {
  const logger = options.logger.child({ component: 'cohort-sandbox-events' })
  const kafka: EventProducer | null = options.kafka
    ? createEventProducer({ brokers: options.kafka.brokers, topic: options.kafka.topic, partitions: options.kafka.partitions ?? 6, logger })
    : null
  let published = 0
  const webhookStats = { delivered: 0, failed: 0 }
  // One chain: deliveries go out in the order the events happened.
  let deliveries: Promise<void> = Promise.resolve()

  async function deliver(webhook: { url: string; secret: string }, event: UserEvent): Promise<void> {
    const body = JSON.stringify(event)
    try {
      await retry(async () => {
        const timestamp = Math.floor(Date.now() / 1000)
        const res = await fetch(webhook.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'webhook-id': event.id,
            'webhook-timestamp': String(timestamp),
            'webhook-signature': signWebhook(webhook.secret, event.id, timestamp, body),
          },
          body,
          signal: AbortSignal.timeout(10_000),
        }).catch((err: unknown) => {
          throw new AppError('unavailable', `webhook delivery failed: ${(err as Error).message}`, { cause: err })
        })
        await res.arrayBuffer()
        if (!res.ok) throw new AppError('unavailable', `webhook answered ${res.status}`, { retriable: res.status >= 500 || res.status === 429 })
      }, { retries: 4, minDelayMs: 100, maxDelayMs: 2000 })
      webhookStats.delivered++
    } catch (err) {
      webhookStats.failed++
      logger.warn({ err, eventId: event.id }, 'webhook delivery gave up')
    }
  }

  return {
    async start() {
      await kafka?.start()
    },

    async stop() {
      await deliveries
      await kafka?.stop()
    },

    async publish(events) {
      if (events.length === 0) return
      if (kafka) await kafka.send(events.map((e) => ({ key: `${e.merchantId}:${e.userId}`, value: JSON.stringify(e) })))
      published += events.length
      const webhook = options.webhook
      if (webhook) {
        for (const event of events) deliveries = deliveries.then(() => deliver(webhook, event))
      }
    },

    drainWebhooks: () => deliveries,

    stats: () => ({ published, webhooks: { ...webhookStats } }),
  }
}

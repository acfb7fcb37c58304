/**
 * Dead letters (contracts §3): a message that can never be handled goes to the DLQ topic with
 * where it came from, its key and value as they were, why, and when; its partition moves on.
 */
import type { KafkaMessage } from 'kafkajs'
import type { OutgoingMessage } from './producer.ts'

export interface DeadLetter {
  topic: string
  partition: number
  offset: string
  key: string | null
  value: string | null
  error: { code: string; message: string }
  failedAt: string
}

/** The DLQ message for `message` of `topic`/`partition`, keyed as the original. */
export function deadLetterOf(topic: string, partition: number, message: Pick<KafkaMessage, 'key' | 'value' | 'offset'>, error: { code: string; message: string }): OutgoingMessage {
  const letter: DeadLetter = {
    topic,
    partition,
    offset: message.offset,
    key: message.key?.toString() ?? null,
    value: message.value?.toString() ?? null,
    error,
    failedAt: new Date().toISOString(),
  }
  return { key: message.key ?? null, value: JSON.stringify(letter) }
}

/** A consumer's message parsed: its value, or why it is a dead letter. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string }

/**
 * One partition batch split for the engines' per-merchant lanes: every message parsed, the
 * ones that do not parse turned into dead letters (with `code`), the rest listed per merchant
 * in offset order.
 */
export function splitByMerchant<T extends { merchantId: string }>(
  batch: { topic: string; partition: number; messages: KafkaMessage[] },
  parse: (value: Buffer | null) => Parsed<T>,
  code: string,
): { byMerchant: Map<string, T[]>; dead: OutgoingMessage[] } {
  const dead: OutgoingMessage[] = []
  const byMerchant = new Map<string, T[]>()
  for (const message of batch.messages) {
    const parsed = parse(message.value)
    if (!parsed.ok) {
      dead.push(deadLetterOf(batch.topic, batch.partition, message, { code, message: parsed.reason }))
      continue
    }
    const list = byMerchant.get(parsed.value.merchantId)
    if (list) list.push(parsed.value)
    else byMerchant.set(parsed.value.merchantId, [parsed.value])
  }
  return { byMerchant, dead }
}

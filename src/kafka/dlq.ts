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

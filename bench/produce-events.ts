/** The export benchmark's sending loop: `events` to `topic` in calls of `perCall`, `inFlight` at once. */
import type { KafkaClient } from '../src/kafka/index.ts'

export async function produceEvents(kafka: Pick<KafkaClient, 'produce'>, topic: string, events: Array<{ key: string; value: string }>, perCall: number, inFlight: number): Promise<number> {
  const started = performance.now()
  let next = 0
  const worker = async () => {
    while (next < events.length) {
      const chunk = events.slice(next, next + perCall)
      next += perCall
      await kafka.produce(topic, chunk)
    }
  }
  await Promise.all(Array.from({ length: inFlight }, worker))
  return (performance.now() - started) / 1000
}

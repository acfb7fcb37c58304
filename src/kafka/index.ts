export { createKafkaClient } from './client.ts'
export type { ConsumerSettings, KafkaClient, KafkaSettings, OutgoingMessage, PartitionOffset, TopicSpec } from './client.ts'

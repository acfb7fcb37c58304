/**
 * Admin helpers for operations and replay: topics, end offsets, offsets by time, a group's
 * committed offsets (read, and set while the group is empty), and lag built on those two.
 * Calls are sequential on purpose: kafkajs keeps retrying a failed call in the background, and
 * a sibling still retrying after Promise.all rejected would outlive disconnect().
 */
import type { Admin } from 'kafkajs'
import { AppError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import { retry } from '../retry.ts'
import { toKafkaError } from './errors.ts'

export interface TopicSpec {
  topic: string
  numPartitions: number
}

export interface PartitionOffset {
  partition: number
  /** An offset as Kafka counts them (a decimal string); `-1` for "none committed". */
  offset: string
}

export interface PartitionRange {
  partition: number
  /** First offset still stored. */
  low: string
  /** The high watermark: the offset the next message will get. */
  high: string
}

export interface PartitionLag {
  partition: number
  committed: string
  end: string
  lag: number
}

export interface AdminHelpers {
  ensureTopics(topics: TopicSpec[]): Promise<void>
  deleteTopics(topics: string[]): Promise<void>
  offsetsAt(topic: string, at: Date): Promise<PartitionOffset[]>
  endOffsets(topic: string): Promise<PartitionRange[]>
  groupOffsets(groupId: string, topic: string): Promise<PartitionOffset[]>
  setGroupOffsets(groupId: string, topic: string, offsets: PartitionOffset[]): Promise<void>
  groupLag(groupId: string, topic: string): Promise<PartitionLag[]>
}

// Kafka's group states in which no member holds partitions.
const IDLE_GROUP_STATES = new Set(['Empty', 'Dead'])

const byPartition = <T extends { partition: number }>(a: T, b: T) => a.partition - b.partition

export function createAdminHelpers(getAdmin: () => Admin | undefined, logger: Logger): AdminHelpers {
  function admin(): Admin {
    const a = getAdmin()
    if (!a) throw new AppError('kafka.unavailable', 'Kafka client is not started')
    return a
  }

  async function call<T>(what: string, fn: (a: Admin) => Promise<T>): Promise<T> {
    const a = admin()
    try {
      return await fn(a)
    } catch (err) {
      throw toKafkaError(err, what)
    }
  }

  async function requireTopic(topic: string): Promise<void> {
    const topics = await call('listing topics', (a) => a.listTopics())
    if (!topics.includes(topic)) throw new AppError('not-found', `topic ${topic} does not exist`)
  }

  async function endOffsets(topic: string): Promise<PartitionRange[]> {
    await requireTopic(topic)
    const ends = await call(`reading end offsets of ${topic}`, (a) => a.fetchTopicOffsets(topic))
    return ends.map((e) => ({ partition: e.partition, low: e.low, high: e.high })).sort(byPartition)
  }

  async function groupOffsets(groupId: string, topic: string): Promise<PartitionOffset[]> {
    await requireTopic(topic)
    const committed = await call(`reading offsets of group ${groupId}`, (a) => a.fetchOffsets({ groupId, topics: [topic] }))
    return (committed[0]?.partitions ?? []).map((p) => ({ partition: p.partition, offset: p.offset })).sort(byPartition)
  }

  return {
    async ensureTopics(topics) {
      // A busy broker may answer the leader wait with UNKNOWN_TOPIC_OR_PARTITION before new
      // topics' metadata has spread; listing again finds them (or what is still missing).
      await retry(async () => {
        const existing = new Set(await call('listing topics', (a) => a.listTopics()))
        const missing = topics.filter((t) => !existing.has(t.topic))
        if (missing.length === 0) return
        await call('creating topics', (a) => a.createTopics({ topics: missing.map((t) => ({ topic: t.topic, numPartitions: t.numPartitions })), waitForLeaders: true }))
        logger.info({ topics: missing.map((t) => t.topic) }, 'created topics')
      }, { retries: 4, minDelayMs: 250, shouldRetry: () => true, onRetry: ({ attempt, error }) => logger.warn({ err: error, attempt }, 'creating topics failed; trying again') })
    },

    async deleteTopics(topics) {
      if (topics.length === 0) return
      const existing = new Set(await call('listing topics', (a) => a.listTopics()))
      const present = topics.filter((t) => existing.has(t))
      if (present.length === 0) return
      await call('deleting topics', (a) => a.deleteTopics({ topics: present }))
    },

    async offsetsAt(topic, at) {
      await requireTopic(topic)
      const offsets = await call(`reading offsets of ${topic} by time`, (a) => a.fetchTopicOffsetsByTimestamp(topic, at.getTime()))
      return offsets.map((o) => ({ partition: o.partition, offset: o.offset })).sort(byPartition)
    },

    endOffsets,
    groupOffsets,

    async setGroupOffsets(groupId, topic, offsets) {
      if (offsets.length === 0) return
      for (const o of offsets) {
        if (!Number.isInteger(o.partition) || o.partition < 0 || !/^\d+$/.test(o.offset)) {
          throw new AppError('request.invalid', `invalid offset ${JSON.stringify(o)} (a partition and a non-negative offset)`)
        }
      }
      await requireTopic(topic)
      const { groups } = await call(`describing group ${groupId}`, (a) => a.describeGroups([groupId]))
      const groupState = groups[0]?.state ?? 'Dead'
      if (!IDLE_GROUP_STATES.has(groupState)) {
        throw new AppError('conflict', `consumer group ${groupId} has running members (state ${groupState}); stop them before moving its offsets`)
      }
      await call(`setting offsets of group ${groupId}`, (a) => a.setOffsets({ groupId, topic, partitions: offsets }))
      logger.info({ groupId, topic, offsets }, 'set consumer group offsets')
    },

    async groupLag(groupId, topic) {
      const ends = await endOffsets(topic)
      const committed = new Map((await groupOffsets(groupId, topic)).map((p) => [p.partition, p.offset]))
      return ends.map((e) => {
        const done = committed.get(e.partition) ?? '-1'
        const from = Number(done) < 0 ? Number(e.low) : Number(done)
        return { partition: e.partition, committed: done, end: e.high, lag: Math.max(0, Number(e.high) - from) }
      })
    },
  }
}

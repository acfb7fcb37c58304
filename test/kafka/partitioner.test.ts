/**
 * The partitioner gives the partition kafkajs's DefaultPartitioner (the Java client's murmur2)
 * gives, for every key length and many random keys, strings and buffers alike: the partition
 * of a key is part of the wire contract (per-record order lives in one partition).
 */
import { randomBytes } from 'node:crypto'
import { Partitioners, type PartitionerArgs } from 'kafkajs'
import t from 'tap'
import { createPartitioner } from '../../src/kafka/partitioner.ts'

const metadata = (n: number) => Array.from({ length: n }, (_, i) => ({ partitionId: i, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }))

t.test('the same partition as kafkajs for every key', async (t) => {
  const ours = createPartitioner()
  const theirs = Partitioners.DefaultPartitioner()
  const keys: Array<string | Buffer> = []
  for (let length = 0; length <= 64; length++) for (let i = 0; i < 20; i++) keys.push(randomBytes(length))
  for (let i = 0; i < 2000; i++) keys.push(`m_${i}:003${randomBytes(6).toString('base64url')}`)
  keys.push('ü€😀 unicode', '', 'm:0035g00000AbCdEAAZ')
  let differ = 0
  for (const partitions of [1, 6, 12, 7, 1000]) {
    for (const key of keys) {
      const args = { topic: 't', partitionMetadata: metadata(partitions), message: { key, value: 'v' } } as PartitionerArgs
      if (ours(args) !== theirs(args)) differ++
    }
  }
  t.equal(differ, 0, `${keys.length * 5} keys and partition counts`)
  t.equal(ours({ topic: 't', partitionMetadata: metadata(6), message: { key: 'k', value: 'v', partition: 4 } } as PartitionerArgs), 4, 'an explicit partition wins')
  const spread = new Set(Array.from({ length: 60 }, () => ours({ topic: 't', partitionMetadata: metadata(6), message: { key: null, value: 'v' } } as PartitionerArgs)))
  t.ok(spread.size > 1, 'no key: round robin, as kafkajs')
})

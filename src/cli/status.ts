/**
 * `salesforce-bridge status`: connections, consumer lag and error counts, read straight from
 * the store and Kafka. An empty or missing store is a normal answer, not a failure.
 */
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Writable } from 'node:stream'
import type { Config } from '../config.ts'
import type { KafkaClient } from '../kafka/index.ts'
import { createLogger } from '../logger.ts'
import { createServices } from '../services.ts'
import { createStore, type Connection, type Store } from '../store/index.ts'

export interface StatusOptions {
  merchantId?: string | undefined
  json: boolean
}

interface MerchantStatus {
  merchantId: string
  state: Connection['state']
  environment: Connection['environment']
  orgId: string
  username: string
  errors: number
}

interface LagStatus {
  groupId: string
  topic: string
  lag: number | null
}

export interface StatusReport {
  store: { backend: string; state: 'missing' | 'empty' | 'ready'; error?: string }
  merchants: MerchantStatus[]
  kafka: { brokers: string[]; reachable: boolean; error?: string; groups: LagStatus[] }
}

function isMissingTable(err: unknown): boolean {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    const { code, message } = e as { code?: string; message?: string }
    if (code === '42P01' || /no such table/i.test(message ?? '')) return true
  }
  return false
}

async function readStore(store: Store, merchantId: string | undefined): Promise<Pick<StatusReport, 'store' | 'merchants'>> {
  const backend = store.backend
  let connections: Connection[]
  try {
    connections = await store.listConnections()
  } catch (err) {
    // No tables yet means never migrated, a normal answer; anything else is a failure.
    if (isMissingTable(err)) return { store: { backend, state: 'empty' }, merchants: [] }
    throw err
  }
  const chosen = connections.filter((c) => merchantId === undefined || c.merchantId === merchantId)
  const merchants = await Promise.all(chosen.map(async (c) => ({
    merchantId: c.merchantId,
    state: c.state,
    environment: c.environment,
    orgId: c.orgId,
    username: c.username,
    errors: await store.countErrors(c.merchantId),
  })))
  return { store: { backend, state: 'ready' }, merchants }
}

async function readKafka(config: Config, kafka: KafkaClient): Promise<StatusReport['kafka']> {
  const groups: LagStatus[] = [
    { groupId: `${config.kafka.groupPrefix}.export`, topic: config.kafka.topics.cohortEvents, lag: null },
    { groupId: `${config.kafka.groupPrefix}.import`, topic: config.kafka.topics.salesforceChanges, lag: null },
  ]
  try {
    await kafka.ping()
    await kafka.start()
    for (const group of groups) {
      const partitions = await kafka.groupLag(group.groupId, group.topic).catch(() => null)
      group.lag = partitions === null ? null : partitions.reduce((sum, p) => sum + p.lag, 0)
    }
    return { brokers: config.kafka.brokers, reachable: true, groups }
  } catch (err) {
    return { brokers: config.kafka.brokers, reachable: false, error: (err as Error).message, groups }
  }
}

export async function collectStatus(config: Config, options: StatusOptions): Promise<StatusReport> {
  const backend = config.databaseUrl.startsWith('sqlite:') ? 'sqlite' : 'postgres'
  // Opening a missing SQLite file would create it: say so instead.
  const missing = backend === 'sqlite' && !existsSync(resolve(config.databaseUrl.slice('sqlite:'.length)))
  const services = createServices(config, {
    logger: createLogger({ level: 'silent' }),
    clientId: 'salesforce-bridge-status',
    createTopics: false,
    // Nothing to read, and opening the file would create it: a throw-away store instead.
    ...(missing ? { store: createStore({ url: 'sqlite::memory:' }) } : {}),
  })
  try {
    // Both settle before anything is released: a store failure must not stop Kafka mid-read.
    const [storePart, kafka] = await Promise.allSettled([
      missing ? Promise.resolve({ store: { backend, state: 'missing' as const }, merchants: [] }) : readStore(services.store, options.merchantId),
      readKafka(config, services.kafka),
    ])
    if (storePart.status === 'rejected') throw storePart.reason
    if (kafka.status === 'rejected') throw kafka.reason
    return { ...storePart.value, kafka: kafka.value }
  } finally {
    await services.stop()
  }
}

export function formatStatus(report: StatusReport): string {
  const lines: string[] = []
  const { store } = report
  if (store.state === 'missing') lines.push(`store: ${store.backend}, no store file yet (run \`salesforce-bridge migrate\` or start the service)`)
  else if (store.state === 'empty') lines.push(`store: ${store.backend}, empty (run \`salesforce-bridge migrate\`)`)
  else lines.push(`store: ${store.backend}, ${report.merchants.length} merchant connection(s)`)
  for (const m of report.merchants) {
    lines.push(`  ${m.merchantId}  ${m.state}  ${m.environment}  org ${m.orgId}  ${m.username}  errors ${m.errors}`)
  }
  const { kafka } = report
  lines.push(kafka.reachable ? `kafka: ${kafka.brokers.join(',')} reachable` : `kafka: ${kafka.brokers.join(',')} unreachable (${kafka.error ?? 'unknown'})`)
  for (const g of kafka.groups) {
    lines.push(`  ${g.groupId} on ${g.topic}: ${g.lag === null ? 'no committed offsets' : `lag ${g.lag}`}`)
  }
  return `${lines.join('\n')}\n`
}

export async function runStatus(config: Config, options: StatusOptions, out: Writable): Promise<void> {
  const report = await collectStatus(config, options)
  out.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatStatus(report))
}

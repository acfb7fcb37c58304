/**
 * The composition root: builds the service's long-lived parts once, from the config, in
 * dependency order (store → Kafka → token cipher → Salesforce connections and describe →
 * Cohort client → merchant events → settings). `buildApp`, `server.ts`, the CLI and every
 * engine take what they need from the result; an engine is a {@link ComponentFactory}
 * taking services, never code inlined in `buildApp`.
 *
 * Lifetimes: `start()` starts Kafka, then the settings watcher; `stop()` undoes that in
 * reverse and closes the store last; it releases every part even when `start()` never ran.
 * Nothing connects before `start()` (the CLI builds services to read the store without
 * starting Kafka's consumers).
 */
import type { Registry } from 'prom-client'
import { createCohortClient, type CohortClient } from './cohort/index.ts'
import { createComponent, startAll, stopAll, type Component } from './component.ts'
import type { Config } from './config.ts'
import { createTokenCipher, type TokenCipher } from './crypto/index.ts'
import { createMetricsRegistry } from './http/index.ts'
import { createKafkaClient, type KafkaClient } from './kafka/index.ts'
import type { Logger } from './logger.ts'
import { createMerchantEvents, type MerchantEvents } from './merchant-events.ts'
import { createApiBudget, createDescribeService, createSalesforceConnections, type ApiBudget, type DescribeService, type SalesforceConnections } from './salesforce/index.ts'
import { createSettingsService, type SettingsService } from './settings/index.ts'
import { createStore, type Store } from './store/index.ts'

export interface Services extends Component {
  config: Config
  logger: Logger
  metrics: Registry
  store: Store
  kafka: KafkaClient
  cipher: TokenCipher
  connections: SalesforceConnections
  /** Every Salesforce API call of the process, counted per org (contracts §8 apiBudget). */
  budget: ApiBudget
  describe: DescribeService
  cohort: CohortClient
  events: MerchantEvents
  settings: SettingsService
}

/** How an engine (CDC subscriber, importer, exporter, scheduler…) is made from the services. */
export type ComponentFactory = (services: Services) => Component

export interface ServiceOptions {
  logger: Logger
  /** Kafka client id. Default `salesforce-bridge`. */
  clientId?: string
  /** Create the service's topics when Kafka starts. Default true; the CLI reads only. */
  createTopics?: boolean
  /** PostgreSQL schema (tests give each test its own). */
  schema?: string
  /** Ready-made parts instead of the defaults (tests). Whatever is given is still started and stopped. */
  metrics?: Registry
  store?: Store
  kafka?: KafkaClient
  cohort?: CohortClient
  connections?: SalesforceConnections
  events?: MerchantEvents
}

/** The topics the service creates at start when missing. */
export function topicsOf(config: Config): { topic: string; numPartitions: number }[] {
  const { topics, partitions } = config.kafka
  return [topics.cohortEvents, topics.salesforceChanges, topics.dlq, topics.status].map((topic) => ({ topic, numPartitions: partitions }))
}

export function createServices(config: Config, options: ServiceOptions): Services {
  const { logger } = options
  const metrics = options.metrics ?? createMetricsRegistry()
  const store = options.store ?? createStore({ url: config.databaseUrl, ...(options.schema === undefined ? {} : { schema: options.schema }) })
  const kafka = options.kafka ?? createKafkaClient({
    brokers: config.kafka.brokers,
    clientId: options.clientId ?? 'salesforce-bridge',
    logger,
    logLevel: config.logLevel,
    topics: options.createTopics === false ? [] : topicsOf(config),
    metrics,
  })
  const cipher = createTokenCipher(config.tokenEncryptionKeys)
  const events = options.events ?? createMerchantEvents(logger)
  const budget = createApiBudget({ store, logger })
  const connections = options.connections ?? createSalesforceConnections({ config, store, cipher, logger, events, budget })
  const describe = createDescribeService(connections)
  const cohort = options.cohort ?? createCohortClient({ baseUrl: config.cohort.apiUrl, token: config.cohort.apiToken, logger })
  const settings = createSettingsService({ store, events, logger, pollMs: config.settingsPollMs })

  const parts: Component[] = [kafka, settings, budget]
  const release = async () => {
    await stopAll(parts, logger)
    await store.close()
  }
  const lifecycle = createComponent('services', { start: () => startAll(parts, logger), stop: release })

  return {
    ...lifecycle,
    // Releases everything even when `start` never ran: the CLI uses parts without starting
    // the whole (the store, or Kafka alone), and must leave nothing open.
    async stop() {
      await lifecycle.stop()
      await release()
    },
    config, logger, metrics, store, kafka, cipher, connections, budget, describe, cohort, events, settings,
  }
}

/**
 * Helpers of the CDC tests: the full stack with the CDC engine (short lease, fast replay
 * polls), a merchant connected through the OAuth pop-up flow with import on, the stand-in's
 * admin API, and collectors of the stack's `salesforce.changes` and status topics through a
 * Kafka client of the test's own (so they keep reading across bridge restarts).
 */
import type { Test } from 'tap'
import { createCdcEngine, type CdcEngine, type CdcEngineOptions } from '../../src/cdc/index.ts'
import type { Env } from '../../src/config.ts'
import type { ChangeMessage } from '../../src/changes/index.ts'
import type { Services } from '../../src/services.ts'
import { waitFor } from '../helpers/index.ts'
import { connectMerchant } from '../helpers/merchant.ts'
import { startStack, type Stack } from '../helpers/stack.ts'
import { collect, startTestClient, type Received } from '../kafka/helpers.ts'
import { admin } from '../sandbox/salesforce/streaming-helpers.ts'

export const CONTACT_CHANNEL = '/data/ContactChangeEvent'

export interface CdcStack {
  stack: Stack
  /** The engine of the bridge running now (a restart builds a new one). */
  engine(): CdcEngine
  merchantId: string
  /** A call to the merchant's `/v1/merchants/M/salesforce…` routes. */
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>
  /** The stand-in's admin API. */
  sf(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>
  /** Create Contacts as the UI user; their ids. */
  createContacts(...lastNames: string[]): Promise<string[]>
  /** Every message on the stack's changes topic so far, parsed. */
  changes(): { key: string; message: ChangeMessage; partition: number }[]
  /** Wait until `n` change messages arrived. */
  waitForChanges(n: number, timeoutMs?: number): Promise<void>
  /** Every status message so far. */
  statuses(): Record<string, unknown>[]
  health(): Promise<{ cdc: string; cdcError: { code: string; message: string; action: string } | null }>
  waitForHealth(state: string, timeoutMs?: number): Promise<void>
  checkpoint(channel?: string): Promise<number | null>
}

export interface CdcStackOptions {
  env?: Env
  engine?: CdcEngineOptions
  /** Change what the engine gets (a Kafka client that fails, say). */
  wrap?: (services: Services) => Services
  /** Import settings saved after connecting; false leaves import off. Default Contact with Title. */
  importSettings?: Record<string, unknown> | false
  /** Called after connecting, before import is saved (select or remove CDC objects, say). */
  beforeImport?: (cdc: Omit<CdcStack, 'waitForHealth'>) => Promise<void>
}

export const CONTACT_IMPORT = { enabled: true, object: 'Contact', emailField: 'Email', mode: 'all', fields: [{ field: 'Title' }, { field: 'LastName' }] }

export async function startCdcStack(t: Test, options: CdcStackOptions = {}): Promise<CdcStack> {
  const testKafka = await startTestClient(t)
  let engine: CdcEngine | undefined
  const stack = await startStack(t, {
    env: { LEASE_TTL_MS: '3000', CDC_FAILED_RETRY_MS: '60000', ...options.env },
    components: [(s) => (engine = createCdcEngine(options.wrap ? options.wrap(s) : s, { replayPollMs: 300, ...options.engine }))],
  })
  const changes = collect(t, testKafka.kafka, stack.topics.salesforceChanges)
  const statuses = collect(t, testKafka.kafka, stack.topics.status)
  await Promise.all([changes.consumer.start(), statuses.consumer.start()])

  const { merchantId, api } = await connectMerchant(stack)

  const sf = (method: string, path: string, body?: unknown) => admin(stack.salesforce.url, method, path, body) as Promise<{ status: number; body: any }>
  const parse = (r: Received) => ({ key: r.key, message: JSON.parse(r.value) as ChangeMessage, partition: r.partition })
  const cdc: CdcStack = {
    stack,
    engine: () => engine!,
    merchantId,
    api,
    sf,
    async createContacts(...lastNames) {
      const res = await sf('POST', '/records/Contact', { records: lastNames.map((LastName, i) => ({ LastName, Email: `${LastName.toLowerCase().replace(/[^a-z0-9]/g, '')}.${i}.${merchantId}@example.com` })) })
      if (res.status !== 201) throw new Error(`create failed: ${JSON.stringify(res.body)}`)
      return res.body.ids as string[]
    },
    changes: () => changes.received.map(parse),
    waitForChanges: (n, timeoutMs = 20_000) => changes.waitForCount(n, timeoutMs),
    statuses: () => statuses.received.map((r) => JSON.parse(r.value) as Record<string, unknown>),
    health: async () => {
      const h = await stack.store.getSyncHealth(merchantId)
      return { cdc: h.cdc, cdcError: h.cdcError }
    },
    waitForHealth: (state, timeoutMs = 15_000) => waitFor(async () => (await stack.store.getSyncHealth(merchantId)).cdc === state, timeoutMs, `health.cdc ${state}`),
    checkpoint: (channel = CONTACT_CHANNEL) => stack.store.getReplayId(merchantId, channel),
  }
  await options.beforeImport?.(cdc)
  if (options.importSettings !== false) {
    const saved = await cdc.api('PUT', '/import', options.importSettings ?? CONTACT_IMPORT)
    if (saved.status !== 200) throw new Error(`import save failed: ${JSON.stringify(saved.body)}`)
  }
  return cdc
}

/** `salesforce-bridge migrate`: create or upgrade the state store. */
import type { Writable } from 'node:stream'
import type { Config } from '../config.ts'
import { createLogger } from '../logger.ts'
import { createServices } from '../services.ts'

export async function runMigrate(config: Config, out: Writable): Promise<void> {
  const { store, stop } = createServices(config, { logger: createLogger({ level: 'silent' }), clientId: 'salesforce-bridge-cli' })
  try {
    const { applied, current } = await store.migrate()
    const what = applied.length === 0 ? 'already up to date' : `applied ${applied.join(', ')}`
    out.write(`${store.backend} store at schema version ${current} (${what})\n`)
  } finally {
    await stop()
  }
}

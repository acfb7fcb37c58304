/** The numbered `NNN-name.sql` migration files of each backend. */
import { readdir, readFile } from 'node:fs/promises'
import { AppError } from '../../errors.ts'
import type { Backend } from '../types/index.ts'

export interface Migration {
  version: number
  name: string
  sql: string
}

/** The migrations of one backend, in order. */
export async function loadMigrations(backend: Backend): Promise<Migration[]> {
  const dir = new URL(`../migrations/${backend}/`, import.meta.url)
  const migrations: Migration[] = []
  for (const file of await readdir(dir)) {
    const match = /^(\d+)-(.+)\.sql$/.exec(file)
    if (!match) continue
    migrations.push({ version: Number(match[1]), name: match[2]!, sql: await readFile(new URL(file, dir), 'utf8') })
  }
  migrations.sort((a, b) => a.version - b.version)
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i]!.version === migrations[i - 1]!.version) {
      throw new AppError('store.migration-failed', `Two ${backend} migrations are numbered ${migrations[i]!.version}`)
    }
  }
  return migrations
}

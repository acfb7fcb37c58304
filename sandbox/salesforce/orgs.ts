/**
 * The seeded orgs and their users (contracts §7, §8 "Stand-in additions"). Org 1 and org 2
 * are the historical pair; a stand-in made with `orgs: n` (or `SANDBOX_SALESFORCE_ORGS=n`
 * standalone) serves orgs 1…n, org N ≥ 3 with the API user `integration@orgN.example.com`
 * and the UI user `admin@orgN.example.com`. Every org is derived from its number, so its ids
 * are the same in every stand-in and every run. Seed data never changes at run time: `reset`
 * empties records, not orgs or users.
 */
import { idChecksum } from './ids.ts'

/** 1, 2, … up to `MAX_ORGS`. */
export type OrgNumber = number

/** Org numbers go into 15-char ids as three digits. */
export const MAX_ORGS = 999

export interface SandboxUser {
  id: string
  username: string
  password: string
  firstName: string
  lastName: string
  email: string
  /** `api` users are the integration users; the `ui` user stands for a person in the UI. */
  role: 'api' | 'ui'
}

export interface Org {
  number: OrgNumber
  id: string
  name: string
  /** Two-char pod part of record ids, different per org so ids never collide across orgs. */
  pod: string
  users: SandboxUser[]
  /** The user admin-API changes are made as (the "UI" user; org 2 has only one user). */
  uiUser: SandboxUser
}

function id18(id15: string): string {
  return id15 + idChecksum(id15)
}

function user(id15: string, username: string, firstName: string, lastName: string, role: 'api' | 'ui'): SandboxUser {
  return { id: id18(id15), username, password: 'password', firstName, lastName, email: username, role }
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'

function seededOrg(number: OrgNumber): Org {
  if (number === 1) {
    const users = [
      user('0055g00000Int01', 'integration@example.com', 'Integration', 'User', 'api'),
      user('0055g00000Adm01', 'admin@example.com', 'Admin', 'User', 'ui'),
    ]
    return { number, id: id18('00D5g00000Org01'), name: 'Sandbox Org One', pod: '5g', users, uiUser: users[1]! }
  }
  if (number === 2) {
    const users = [user('0057h00000Int02', 'integration@other.example.com', 'Integration', 'Other', 'api')]
    return { number, id: id18('00D7h00000Org02'), name: 'Sandbox Org Two', pod: '7h', users, uiUser: users[0]! }
  }
  // Pods from `K0` upwards: never `5g` or `7h`, unique for every number up to MAX_ORGS.
  const index = 20 * 62 + number
  const pod = `${BASE62[Math.floor(index / 62)]}${BASE62[index % 62]}`
  const n = String(number).padStart(3, '0')
  const users = [
    user(`005${pod}0000Int${n}`, `integration@org${number}.example.com`, 'Integration', `Org${number}`, 'api'),
    user(`005${pod}0000Adm${n}`, `admin@org${number}.example.com`, 'Admin', `Org${number}`, 'ui'),
  ]
  return { number, id: id18(`00D${pod}0000Org${n}`), name: `Sandbox Org ${number}`, pod, users, uiUser: users[1]! }
}

const made = new Map<OrgNumber, Org>()

/** Org `number` (1 ≤ number ≤ MAX_ORGS), always the same object for the same number. */
export function orgNumbered(number: OrgNumber): Org {
  if (!Number.isInteger(number) || number < 1 || number > MAX_ORGS) throw new RangeError(`org number must be 1…${MAX_ORGS}`)
  let org = made.get(number)
  if (!org) made.set(number, (org = seededOrg(number)))
  return org
}

/** Org 1 and org 2, the pair every stand-in serves. */
export const ORGS: readonly Org[] = [orgNumbered(1), orgNumbered(2)]

export const CONNECTED_APP = { clientId: 'sandbox-client-id', clientSecret: 'sandbox-client-secret' } as const

/** The orgs one stand-in serves (1…count). */
export interface OrgDirectory {
  readonly list: readonly Org[]
  /** The org of that number, or undefined when this stand-in does not serve it. */
  byNumber(number: OrgNumber): Org | undefined
  findById(id: string): Org | undefined
  findUserByUsername(username: string): { org: Org; user: SandboxUser } | undefined
}

export function createOrgDirectory(count: number): OrgDirectory {
  if (!Number.isInteger(count) || count < 1 || count > MAX_ORGS) throw new RangeError(`orgs must be an integer from 1 to ${MAX_ORGS}, got ${count}`)
  const list = Array.from({ length: count }, (_, i) => orgNumbered(i + 1))
  const byId = new Map<string, Org>()
  const byUsername = new Map<string, { org: Org; user: SandboxUser }>()
  for (const org of list) {
    byId.set(org.id, org)
    byId.set(org.id.slice(0, 15), org)
    for (const u of org.users) byUsername.set(u.username, { org, user: u })
  }
  return {
    list,
    byNumber: (number) => (Number.isInteger(number) && number >= 1 && number <= count ? list[number - 1] : undefined),
    findById: (id) => byId.get(id),
    findUserByUsername: (username) => byUsername.get(username.trim().toLowerCase()),
  }
}

export function findUserById(org: Org, id: string): SandboxUser | undefined {
  return org.users.find((u) => u.id === id || u.id.slice(0, 15) === id)
}

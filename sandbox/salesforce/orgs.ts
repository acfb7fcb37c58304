/**
 * The two seeded orgs and their users (contracts §7). Seed data never changes at run time:
 * `reset` empties records, not orgs or users.
 */
import { idChecksum } from './ids.ts'

export type OrgNumber = 1 | 2

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

const org1Users = [
  user('0055g00000Int01', 'integration@example.com', 'Integration', 'User', 'api'),
  user('0055g00000Adm01', 'admin@example.com', 'Admin', 'User', 'ui'),
]
const org2Users = [user('0057h00000Int02', 'integration@other.example.com', 'Integration', 'Other', 'api')]

export const ORGS: readonly Org[] = [
  { number: 1, id: id18('00D5g00000Org01'), name: 'Sandbox Org One', pod: '5g', users: org1Users, uiUser: org1Users[1]! },
  { number: 2, id: id18('00D7h00000Org02'), name: 'Sandbox Org Two', pod: '7h', users: org2Users, uiUser: org2Users[0]! },
]

export const CONNECTED_APP = { clientId: 'sandbox-client-id', clientSecret: 'sandbox-client-secret' } as const

export function getOrg(number: OrgNumber): Org {
  return number === 1 ? ORGS[0]! : ORGS[1]!
}

export function findOrgById(id: string): Org | undefined {
  return ORGS.find((o) => o.id === id || o.id.slice(0, 15) === id)
}

export function findUserByUsername(username: string): { org: Org; user: SandboxUser } | undefined {
  const wanted = username.trim().toLowerCase()
  for (const org of ORGS) {
    const found = org.users.find((u) => u.username === wanted)
    if (found) return { org, user: found }
  }
  return undefined
}

export function findUserById(org: Org, id: string): SandboxUser | undefined {
  return org.users.find((u) => u.id === id || u.id.slice(0, 15) === id)
}

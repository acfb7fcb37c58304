/**
 * Several instances (issue #11): two service processes on one PostgreSQL schema and one set of
 * topics. Exactly one streams the merchant (it holds the lease `cdc:{m}`, the other waits in
 * standby, one CometD client); both share the importer's consumer group. The holder is
 * SIGKILLed while changes keep coming: the other holds the lease and streams within the lease
 * TTL of the kill (30 s with the default LEASE_TTL_MS), takes the dead one's partitions, and
 * afterwards Cohort equals Salesforce for every mapped field of every record, one user per
 * email, no per-record error.
 *
 * With `stall`, the holder is SIGSTOPped instead and SIGCONTed after the take-over: the stale
 * holder must stop by itself, and the stored replay id never moves back.
 *
 * Used by test/reliability/takeover.test.ts (a short TTL, in `npm test`),
 * test/reliability/takeover-full.ts (the default TTL) and stall.ts (`npm run test:crash`).
 */
import type { Test } from 'tap'
import { createStore } from '../../src/store/index.ts'
import { waitFor } from '../helpers/index.ts'
import { cohortUsers, salesforceRecords } from '../helpers/merchant.ts'
import { callJson } from '../helpers/stack.ts'
import { startProcessStack, type ServiceInstance, type ServiceLogs } from '../helpers/process-stack.ts'
import { differences, random, streamingMerchant, watchTopic } from './crash-scenario.ts'

export interface TakeoverOptions {
  /** LEASE_TTL_MS of both instances; undefined: the default (30 s). */
  leaseTtlMs?: number
  /** The survivor must stream within this long of the SIGKILL. */
  takeoverWithinMs: number
  records: number
  ratePerSecond: number
  seed?: number
  /**
   * SIGSTOP the holder instead (a process that stalls: a long pause, a frozen VM) and SIGCONT
   * it once the survivor streams and holds the import partitions: the stale holder must find
   * its lease gone and stop, and no checkpoint may move backwards meanwhile.
   */
  stall?: boolean
}

export interface TakeoverResult {
  seed: number
  leaseTtlMs: number | 'default'
  /** From the SIGKILL until the dead holder's lease ran out (its last renewal + TTL). */
  expiresInMs: number
  /** From the SIGKILL until the survivor held the lease. */
  leaseTakenMs: number
  /** From the SIGKILL until the survivor reported `streaming`. */
  streamingMs: number
  /** From the SIGKILL until the survivor held every partition of the import group. */
  partitionsMs: number
  changes: number
  records: number
  /** CDC events on the topic more than once (re-sent across the take-over). */
  resent: number
}

/** The partitions of `group` an instance holds, by its newest join line. */
function partitionsOf(logs: ServiceLogs, group: string): number[] | null {
  const joined = logs.lines().findLast((l) => l.msg === 'consumer joined the group' && l.groupId === group)
  return joined ? (joined.partitions as Array<{ partition: number }>).map((p) => p.partition).sort((a, b) => a - b) : null
}

async function metric(url: string, pattern: RegExp): Promise<number | null> {
  const text = await (await fetch(`${url}/metrics`)).text()
  const match = pattern.exec(text)
  return match ? Number(match[1]) : null
}

const streamsIn = (state: string) => new RegExp(`^bridge_cdc_streams\\{[^}]*state="${state}"[^}]*\\} (\\d+)`, 'm')

export async function runTakeoverScenario(t: Test, options: TakeoverOptions): Promise<TakeoverResult> {
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31)
  const rand = random(seed)
  t.comment(`take-over scenario seed ${seed}, LEASE_TTL_MS ${options.leaseTtlMs ?? 'default'}`)
  const env: Record<string, string> = { SETTINGS_POLL_MS: '500', CDC_FAILED_RETRY_MS: '2000' }
  if (options.leaseTtlMs !== undefined) env.LEASE_TTL_MS = String(options.leaseTtlMs)
  const stack = await startProcessStack(t, { backend: 'postgres', env })
  const a: ServiceInstance = stack.service
  const b = await stack.startInstance()
  const store = createStore({ url: stack.databaseUrl })
  t.teardown(() => store.close())
  const importGroup = `${stack.groupPrefix}.import`

  const merchant = await streamingMerchant(stack)
  const { merchantId } = merchant

  const leaseName = `cdc:${merchantId}`
  const holderPid = async () => Number(String((await store.getLease(leaseName))?.owner ?? '').split(':')[1])
  const holder = (await holderPid()) === a.pid ? a : b
  const survivor = holder === a ? b : a
  t.ok([a.pid, b.pid].includes(await holderPid()), 'one of the two instances holds the stream lease')
  // The other knows the merchant too (settings feed) and waits for the lease.
  await waitFor(async () => (await metric(survivor.url, streamsIn('standby'))) === 1, 30_000, 'the other instance in standby')
  t.equal(await metric(holder.url, streamsIn('streaming')), 1, 'the holder streams')
  t.equal(await metric(survivor.url, streamsIn('streaming')) ?? 0, 0, 'the other does not')
  const stats = async () => (await (await fetch(`${stack.salesforceUrl}/__sandbox/stats`)).json()) as { cometd: { clients: number } }
  t.equal((await stats()).cometd.clients, 1, 'one CometD client in all: one instance streams')
  // The importer scales with its group: both instances hold some of the partitions.
  await waitFor(() => {
    const pa = partitionsOf(a.logs, importGroup)
    const pb = partitionsOf(b.logs, importGroup)
    return pa !== null && pb !== null && pa.length > 0 && pb.length > 0 && pa.length + pb.length === Number(stack.env.KAFKA_PARTITIONS ?? 6)
  }, 60_000, 'both instances in the import group, sharing the partitions')
  t.pass(`the import group's partitions are shared: ${JSON.stringify(partitionsOf(a.logs, importGroup))} and ${JSON.stringify(partitionsOf(b.logs, importGroup))}`)

  const topic = await watchTopic(t, stack, merchantId)
  // Changes keep coming before, during and after the take-over.
  const contacts = salesforceRecords(stack, 'Contact')
  const ids = await contacts.create(Array.from({ length: options.records }, (_, i) => ({ LastName: `T${i}`, Email: `takeover-${i}-${seed}@example.com`, Title: 'start' })))
  let changes = ids.length
  let stopDriver = false
  const driver = (async () => {
    const started = Date.now()
    while (!stopDriver) {
      const due = started + (changes - ids.length) * (1000 / options.ratePerSecond)
      if (Date.now() < due) await new Promise((r) => setTimeout(r, due - Date.now()))
      const id = ids[Math.floor(rand() * ids.length)]!
      await contacts.update(id, { Title: `title-${changes}`, Cohort_Points__c: Math.floor(rand() * 1e6) })
      changes++
    }
  })()
  await waitFor(() => changes >= ids.length + options.ratePerSecond * 2, 30_000, 'changes flowing')

  // The stored replay id, sampled from before the kill to the end: it must never go back.
  const channel = '/data/ContactChangeEvent'
  const samples: number[] = []
  // Stopped on any way out, a failed wait included.
  t.teardown(() => {
    stopDriver = true
    sampling = false
  })
  let sampling = true
  const sampler = (async () => {
    while (sampling) {
      const id = await store.getReplayId(merchantId, channel)
      if (id !== null) samples.push(id)
      await new Promise((r) => setTimeout(r, 100))
    }
  })()
  const how = options.stall ? 'SIGSTOP' : 'SIGKILL'
  const killedAt = Date.now()
  if (options.stall) holder.signal('SIGSTOP')
  else t.same(await holder.kill('SIGKILL'), { code: null, signal: 'SIGKILL' }, 'the holder is SIGKILLed')
  // The dead holder's last renewal set this expiry (database clock, the same machine's).
  const expiresInMs = (await store.getLease(leaseName))!.expiresAt.getTime() - killedAt
  const ttl = options.leaseTtlMs ?? 30_000
  t.ok(expiresInMs <= ttl, `the holder's lease runs out ${expiresInMs} ms after the ${how} (renewed every TTL/3: between 2/3 TTL and a TTL)`)
  await waitFor(async () => (await holderPid()) === survivor.pid, ttl + 5000, 'the survivor to hold the lease')
  const leaseTakenMs = Date.now() - killedAt
  t.ok(leaseTakenMs <= Math.max(expiresInMs, 0) + 500, `the survivor holds the lease ${leaseTakenMs} ms after the ${how}: within half a second of its running out`)
  await waitFor(async () => (await metric(survivor.url, streamsIn('streaming'))) === 1, options.takeoverWithinMs, 'the survivor streaming')
  const streamingMs = Date.now() - killedAt
  t.ok(streamingMs <= options.takeoverWithinMs, `the survivor streams ${streamingMs} ms after the ${how} (within ${options.takeoverWithinMs} ms)`)
  await waitFor(() => partitionsOf(survivor.logs, importGroup)?.length === Number(stack.env.KAFKA_PARTITIONS ?? 6), 90_000, 'the survivor to hold every import partition')
  const partitionsMs = Date.now() - killedAt

  if (options.stall) {
    // The stale holder wakes up believing it streams: its renewal fails and it stops.
    const from = holder.logs.lines().length
    holder.signal('SIGCONT')
    await holder.logs.waitFor((l) => l.msg === 'lost the stream lease: stopping', { from, timeoutMs: ttl + 10_000 })
    t.pass('the stale holder found its lease gone and stopped streaming')
    await waitFor(async () => (await metric(holder.url, streamsIn('standby'))) === 1, ttl + 10_000, 'the stale holder in standby')
    t.pass('and waits in standby')
    await waitFor(async () => (await stats()).cometd.clients === 1, 30_000, 'one CometD client again')
    t.pass('one CometD client again: only the survivor streams')
  }

  // Some changes after the take-over, then everything must be in Cohort.
  const atTakeover = changes
  await waitFor(() => changes >= atTakeover + options.ratePerSecond * 2, 30_000, 'changes after the take-over')
  stopDriver = true
  await driver
  sampling = false
  await sampler
  const backwards = samples.findIndex((id, i) => i > 0 && id < samples[i - 1]!)
  t.equal(backwards, -1, `the stored replay id never moved back (${samples.length} samples${backwards >= 0 ? `: ${samples[backwards - 1]} then ${samples[backwards]}` : ''})`)
  let diff: string[] = []
  try {
    await waitFor(async () => {
      diff = await differences(stack, merchantId)
      return diff.length === 0
    }, 90_000, 'Cohort to match Salesforce')
  } catch (err) {
    t.comment(`still different (${diff.length}): ${diff.slice(0, 20).join('; ')}`)
    throw err
  }
  const events = await topic.check()
  t.equal(events.distinct.size, events.published, `every one of the ${events.published} events Salesforce published is on the topic (${events.onTopic - events.distinct.size} re-sent)`)
  t.equal(await store.getReplayId(merchantId, channel), Math.max(...events.distinct), 'the checkpoint is the newest event on the topic')
  // A stale importer's late Cohort write would show here as an older value that stays.
  const users = await cohortUsers(stack, merchantId).list()
  t.equal(users.length, ids.length, 'one user per record, none twice')
  t.same((await store.listErrors(merchantId)).data, [], 'no per-record error')
  t.equal((await store.getLease(leaseName))?.owner.split(':')[1], String(survivor.pid), 'the survivor still holds the stream')
  const status = await callJson(survivor.url, 'GET', `/v1/merchants/${merchantId}/salesforce`, { token: await stack.token({ merchantId }) })
  t.equal(status.body.health.cdc, 'streaming', 'the merchant shows streaming, asked through the survivor')

  return { seed, leaseTtlMs: options.leaseTtlMs ?? 'default', expiresInMs, leaseTakenMs, streamingMs, partitionsMs, changes, records: ids.length, resent: events.onTopic - events.distinct.size }
}

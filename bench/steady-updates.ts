/**
 * The load of the import benchmark's latency phase, on a worker thread so that making the
 * requests does not share the bridge's event loop (as the people editing records in
 * Salesforce do not): `rate` change events per second for `seconds`, in ticks of 20 ms, as
 * single-record updates of Cohort_Points__c through the Salesforce stand-in's admin API, the
 * orgs taking turns. An update in an org is one event for each merchant on it. Posts back
 * when each value was sent (the value is unique per update), how many events to expect, and
 * how long sending took.
 */
import { parentPort, workerData } from 'node:worker_threads'

export interface SteadyUpdates {
  salesforceUrl: string
  orgs: Array<{ number: number; ids: string[]; merchants: number }>
  rate: number
  seconds: number
  /** The first value; update n sets `firstValue + n`. */
  firstValue: number
}

export interface SteadyUpdatesDone {
  sentAt: Array<[value: number, at: number]>
  expected: number
  seconds: number
  failed: number
}

const { salesforceUrl, orgs, rate, seconds, firstValue } = workerData as SteadyUpdates
const sentAt: Array<[number, number]> = []
const calls: Array<Promise<void>> = []
let failed = 0
let updates = 0
let expected = 0
let owed = 0
const started = performance.now()
for (let tick = 0; tick < seconds * 50; tick++) {
  const wait = started + tick * 20 - performance.now()
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
  for (owed += rate / 50; owed > 0; updates++) {
    const org = orgs[updates % orgs.length]!
    const id = org.ids[Math.floor(updates / orgs.length) % org.ids.length]!
    const value = firstValue + updates
    sentAt.push([value, Date.now()])
    calls.push(fetch(`${salesforceUrl}/__sandbox/records/Contact/${id}${org.number === 1 ? '' : `?org=${org.number}`}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ fields: { Cohort_Points__c: value } }),
    }).then(async (res) => {
      await res.arrayBuffer()
      if (!res.ok) failed++
    }, () => void failed++))
    expected += org.merchants
    owed -= org.merchants
  }
}
await Promise.all(calls)
parentPort!.postMessage({ sentAt, expected, seconds: (performance.now() - started) / 1000, failed } satisfies SteadyUpdatesDone)

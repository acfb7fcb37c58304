/**
 * The export benchmark's watcher, on a worker thread: with the Salesforce stand-in in another
 * process, "the last value visible in Salesforce" is seen from outside as Salesforce shows it,
 * through a CometD subscriber (jsforce streaming, new events only) on the object's change
 * channel: a change event is published once the write is committed, and carries the changed
 * fields and the record ids. A worker so that decoding some 16,000 change events does not run
 * on the bridge's event loop.
 *
 * Messages to the parent: `{ ready }` once subscribed; `{ warm }` when the warm-up record shows
 * `warmValue`; `{ visible, lastVisibleAt }` every 500 ms while some are missing and once when
 * every record shows its final value (`lastVisibleAt`: `performance.timeOrigin + now()`, a
 * clock the parent shares). The parent terminates it.
 */
import { parentPort, workerData } from 'node:worker_threads'
import jsforce from 'jsforce'
import { StreamingExtension } from 'jsforce/lib/api/streaming.js'

export interface VisibilityJob {
  instanceUrl: string
  accessToken: string
  apiVersion: string
  channel: string
  field: string
  /** Record id → the value that marks it done. */
  finals: Array<[recordId: string, value: number]>
  warmId: string
  warmValue: number
}

interface ChangeMessage {
  payload: { ChangeEventHeader: { recordIds: string[] } } & Record<string, unknown>
}

const job = workerData as VisibilityJob
const finals = new Map(job.finals)
const done = new Set<string>()
let lastVisibleAt = 0
let warm = false
const now = () => performance.timeOrigin + performance.now()
const report = () => parentPort!.postMessage({ visible: done.size, lastVisibleAt })

const conn = new jsforce.Connection({ instanceUrl: job.instanceUrl, accessToken: job.accessToken, version: job.apiVersion })
// -1: only events published from now on (the backfill's and the seeding's are not wanted).
const client = conn.streaming.createClient([new StreamingExtension.Replay(job.channel, -1)])
await client.subscribe(job.channel, (message: ChangeMessage) => {
  const value = message.payload[job.field]
  if (typeof value !== 'number') return
  for (const id of message.payload.ChangeEventHeader.recordIds) {
    if (!warm && id === job.warmId && value === job.warmValue) {
      warm = true
      parentPort!.postMessage({ warm: true })
    }
    if (!done.has(id) && finals.get(id) === value) {
      done.add(id)
      lastVisibleAt = now()
      if (done.size === finals.size) report()
    }
  }
})
parentPort!.postMessage({ ready: true })
const timer = setInterval(() => {
  if (done.size < finals.size) report()
}, 500)
parentPort!.once('close', () => clearInterval(timer))

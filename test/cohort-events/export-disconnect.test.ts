/**
 * Review finding (a) of issue #12: a `salesforce.not-connected` error in the middle of a
 * flush (after the PATCH of updates, before the POST of creates: the merchant disconnected,
 * so jsforce's refresh finds no tokens) threw out of `exportChanges`, so the updates already
 * written were never stored (no export versions, field states, links) and the exporter
 * settled the events: the offsets moved on and the creates were lost. Now what was written is
 * committed and the rest comes back in `remaining` with `stopped`.
 */
import type { Connection } from 'jsforce'
import t from 'tap'
import { changeOf } from '../../src/cohort-events/exporter.ts'
import { exportChanges } from '../../src/cohort-events/export.ts'
import { AppError } from '../../src/errors.ts'
import { exportStack } from './helpers.ts'

t.test('a disconnect between the PATCH and the POST: the updates are stored, the creates handed back', async (t) => {
  const { stack, merchant, contacts, users, saveExport } = await exportStack(t)
  await saveExport({ mode: 'all' })
  const { merchantId } = merchant
  const [adaRecord] = await contacts.create([{ LastName: 'Lovelace', Email: 'ada@example.com' }], false)
  const [ada, bob] = await users.create([{ email: 'ada@example.com' }, { email: 'bob@example.com' }], false)
  const settings = await stack.services.settings.get(merchantId)
  const at = new Date().toISOString()
  const event = (userId: string, email: string) => ({ id: `evt_${userId}`, type: 'user.properties.updated' as const, merchantId, userId, email, occurredAt: at, version: 50, properties: { points: 7 }, source: 'dashboard' })
  const changes = [changeOf(event(ada!, 'ada@example.com'), settings)!, changeOf(event(bob!, 'bob@example.com'), settings)!]

  // The merchant's connection as jsforce has it, except that the create finds it gone.
  const real = await stack.services.connections.get(merchantId)
  const sent: string[] = []
  const conn = new Proxy(real, {
    get(target, prop) {
      if (prop === 'request') {
        return (request: { method: string; url: string }) => {
          if (String(request.url).includes('/composite/sobjects')) sent.push(request.method)
          if (request.method === 'POST' && String(request.url).includes('/composite/sobjects')) throw new AppError('salesforce.not-connected', `merchant ${merchantId} has no Salesforce connection`)
          return target.request(request as never)
        }
      }
      const value = Reflect.get(target, prop, target) as unknown
      return typeof value === 'function' ? value.bind(target) : value
    },
  }) as Connection
  const deps = { config: stack.config, store: stack.store, connections: { ...stack.services.connections, get: async () => conn }, describe: stack.services.describe, budget: stack.services.budget, logger: stack.services.logger }

  const outcome = await exportChanges(deps, settings, changes)
  t.same(sent, ['PATCH', 'POST'], 'the update was sent, then the create met the disconnect')
  t.equal(outcome.updated, 1)
  t.equal(outcome.stopped, 'salesforce.not-connected')
  t.same(outcome.remaining.map((c) => c.userId), [bob], 'the create comes back to the caller')
  t.notOk(outcome.pause, 'not a pause')
  // What was written is stored: the version (a replay writes nothing), the link, the field state.
  t.match(await stack.store.getExportVersions(merchantId, [ada!]), [{ userId: ada, property: 'points', version: 50, recordId: adaRecord }])
  t.match(await stack.store.findLinkByUser(merchantId, ada!), { recordId: adaRecord })
  t.match(await stack.store.getFieldStatesOf(merchantId, [adaRecord!]), [{ field: 'Cohort_Points__c', value: 7 }])
  t.equal(await stack.store.findLinkByUser(merchantId, bob!), null, 'nothing stored for the create that was not sent')
})

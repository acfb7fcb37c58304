/**
 * Contract: purge counts per kind. The database is shared with the other parts, so the rows
 * purged by date are made far in the past (2001), and the kinds whose time the store sets
 * (resolvedAt, audit at) are first purged clean, then counted exactly.
 */
import type { Test } from 'tap'
import { uid, type ContractContext } from './helpers.ts'

const Y2001 = Date.UTC(2001, 0, 1)
const Y2002 = new Date(Date.UTC(2002, 0, 1))

export async function housekeepingContract(t: Test, { store }: ContractContext): Promise<void> {
  await t.test('purge deletes what is older than each date and counts it', async (t) => {
    const merchantId = uid('m')
    const old = (ms: number) => new Date(Y2001 + ms)
    const none = { traces: 0, resolvedErrors: 0, webhookIds: 0, oauthStates: 0, runs: 0, audit: 0 }
    t.same(await store.purge({}), none, 'nothing asked, nothing purged')

    const future = new Date(Date.now() + 60_000)
    await store.purge({ resolvedErrorsBefore: future, auditBefore: future })

    for (let i = 0; i < 3; i++) await store.appendTrace({ merchantId, direction: 'import', recordId: `r${i}`, userId: null, email: null, outcome: 'x', details: null, at: old(i) })
    await store.appendTrace({ merchantId, direction: 'import', recordId: 'recent', userId: null, email: null, outcome: 'x', details: null })
    for (let i = 0; i < 2; i++) await store.rememberWebhookId(uid('msg'), old(i))
    await store.rememberWebhookId(uid('msg'), future)
    // saveOAuthState itself sweeps expired states, so only the last one saved waits for the purge.
    await store.saveOAuthState({ state: uid('state'), merchantId, environment: 'production', codeVerifierEnc: 'v', actor: 'a', expiresAt: old(0) })
    const finishedRuns: string[] = []
    for (const kind of ['reconcile', 'backfill']) {
      const claim = await store.claimJobRun(merchantId, kind, { dryRun: false })
      if (!claim.claimed) throw new Error('claim must succeed')
      await store.updateJobRun(claim.run.id, { status: 'completed', finishedAt: old(0) })
      finishedRuns.push(claim.run.id)
    }
    const live = await store.claimJobRun(merchantId, 'reconcile', { dryRun: false })
    for (let i = 0; i < 4; i++) await store.recordError({ merchantId, direction: 'import', recordId: `e${i}`, code: 'X', message: 'x' })
    await store.resolveErrors(merchantId, [0, 1, 2].map((i) => ({ direction: 'import' as const, recordId: `e${i}` })))
    for (let i = 0; i < 2; i++) await store.appendAudit({ merchantId, actor: 'a', action: 'x', details: null })

    const counts = await store.purge({
      tracesBefore: Y2002,
      webhookIdsExpiredBefore: Y2002,
      oauthStatesExpiredBefore: Y2002,
      runsBefore: Y2002,
      resolvedErrorsBefore: future,
      auditBefore: future,
    })
    t.same(counts, { traces: 3, resolvedErrors: 3, webhookIds: 2, oauthStates: 1, runs: 2, audit: 2 })
    t.same((await store.listTrace(merchantId, { recordId: 'recent' })).length, 1, 'newer traces stay')
    t.equal(await store.countErrors(merchantId), 1, 'open errors are never purged')
    for (const id of finishedRuns) t.equal(await store.getJobRun(merchantId, id), null)
    if (live.claimed) t.ok(await store.getJobRun(merchantId, live.run.id), 'live runs stay')
    t.same(await store.purge({ tracesBefore: Y2002 }), none, 'a second purge finds nothing')
  })
}

/**
 * The behaviour every Store backend must show. Each backend's test file calls
 * runStoreContract with a factory that opens a new store instance on the same, initially
 * empty database (file or schema); several instances at once stand in for several processes.
 * Subtests share that database, so each one works on merchants of its own.
 */
import { randomUUID } from 'node:crypto'
import type { Test } from 'tap'
import type { Connection, FieldState, OAuthState, Store } from '../../src/store/index.ts'

export type MakeStore = () => Promise<Store>

const uid = (prefix: string): string => `${prefix}-${randomUUID()}`

function connection(merchantId: string, overrides: Partial<Connection> = {}): Connection {
  return {
    merchantId,
    state: 'connected',
    environment: 'production',
    orgId: '00D000000000001',
    userId: '005000000000001',
    username: 'admin@example.com',
    instanceUrl: 'https://example.my.salesforce.com',
    accessTokenEnc: 'enc:access',
    refreshTokenEnc: 'enc:refresh',
    tokenKeyId: 'key-1',
    connectedAt: new Date(1_700_000_000_000),
    updatedAt: new Date(1_700_000_000_000),
    ...overrides,
  }
}

function fieldState(merchantId: string, recordId: string, field: string, value: unknown, changedAtMs: number, sequence: number): FieldState {
  return { merchantId, recordId, field, value, changedAt: new Date(changedAtMs), sequence, direction: 'import' }
}

export async function runStoreContract(t: Test, makeStore: MakeStore): Promise<void> {
  // One parent subtest: the root test may end (and run its teardowns) whenever it has no
  // subtest in flight, which would close the shared store between two subtests.
  await t.test('store contract', (t) => contract(t, makeStore))
}

async function contract(t: Test, makeStore: MakeStore): Promise<void> {
  /** A store instance closed when subtest `tt` ends. */
  const open = async (tt: Test): Promise<Store> => {
    const store = await makeStore()
    tt.teardown(() => store.close())
    return store
  }

  await t.test('migrate: concurrent first runs apply each migration exactly once', async (t) => {
    const a = await open(t)
    const b = await open(t)
    const [ra, rb] = await Promise.all([a.migrate(), b.migrate()])
    const applied = [...ra.applied, ...rb.applied].sort((x, y) => x - y)
    t.ok(applied.includes(1), 'the initial migration was applied')
    t.equal(new Set(applied).size, applied.length, 'no migration applied twice')
    t.equal(ra.current, rb.current)
    t.equal(ra.current, applied[applied.length - 1], 'current is the newest applied')
    const again = await a.migrate()
    t.same(again, { applied: [], current: ra.current }, 'a later run has nothing to do')
  })

  const store = await makeStore()
  t.teardown(() => store.close())
  await store.migrate()

  await t.test('two instances open at once see each other\'s writes', async (t) => {
    const other = await open(t)
    const merchantId = uid('m')
    await other.saveConnection(connection(merchantId))
    t.equal((await store.getConnection(merchantId))?.orgId, '00D000000000001')
    await store.saveReplayId(merchantId, '/data/ContactChangeEvent', 42)
    t.equal(await other.getReplayId(merchantId, '/data/ContactChangeEvent'), 42)
  })

  await t.test('ping, and a closed store is unavailable', async (t) => {
    await store.ping()
    const closed = await makeStore()
    await closed.close()
    await closed.close()
    await t.rejects(closed.ping(), { code: 'store.unavailable' })
    await t.rejects(closed.getConnection('m'), { code: 'store.unavailable' })
  })

  await t.test('connections', async (t) => {
    const merchantId = uid('m')
    const otherId = uid('m')
    t.equal(await store.getConnection(merchantId), null)

    await store.saveConnection(connection(merchantId))
    await store.saveConnection(connection(otherId, { environment: 'sandbox', accessTokenEnc: null, refreshTokenEnc: null, tokenKeyId: null }))
    t.same(await store.getConnection(merchantId), connection(merchantId))
    t.same(await store.getConnection(otherId), connection(otherId, { environment: 'sandbox', accessTokenEnc: null, refreshTokenEnc: null, tokenKeyId: null }))

    const resaved = connection(merchantId, { orgId: '00D000000000002', username: 'new@example.com', updatedAt: new Date(1_700_000_100_000) })
    await store.saveConnection(resaved)
    t.same(await store.getConnection(merchantId), resaved, 'saving again replaces the connection')

    const before = Date.now()
    await store.setConnectionState(merchantId, 'needs-reauth')
    let got = await store.getConnection(merchantId)
    t.equal(got?.state, 'needs-reauth')
    t.equal(got?.accessTokenEnc, 'enc:access', 'state change leaves tokens alone')
    t.ok(got!.updatedAt.getTime() >= before, 'updatedAt moves')

    await store.updateConnectionTokens(merchantId, { accessTokenEnc: 'enc:access2', refreshTokenEnc: null, tokenKeyId: 'key-2' })
    got = await store.getConnection(merchantId)
    t.match(got, { accessTokenEnc: 'enc:access2', refreshTokenEnc: null, tokenKeyId: 'key-2', state: 'needs-reauth' })

    await store.clearConnectionTokens(merchantId)
    got = await store.getConnection(merchantId)
    t.match(got, { state: 'disconnected', accessTokenEnc: null, refreshTokenEnc: null, tokenKeyId: null, orgId: '00D000000000002', username: 'new@example.com' })

    const listed = (await store.listConnections()).filter((c) => c.merchantId === merchantId || c.merchantId === otherId)
    t.equal(listed.length, 2)
    t.same(listed.find((c) => c.merchantId === otherId), await store.getConnection(otherId), 'the other merchant is untouched')

    // Changes to an unknown merchant are no-ops.
    await store.setConnectionState(uid('m'), 'connected')
    t.equal((await store.listConnections()).filter((c) => c.merchantId === merchantId || c.merchantId === otherId).length, 2)
  })

  await t.test('oauth states are one-time and expire', async (t) => {
    const base = Date.now()
    const state = (overrides: Partial<OAuthState> = {}): OAuthState => ({
      state: uid('state'),
      merchantId: uid('m'),
      environment: 'sandbox',
      codeVerifierEnc: 'enc:verifier',
      actor: 'user-1',
      expiresAt: new Date(base + 600_000),
      ...overrides,
    })

    const fresh = state()
    await store.saveOAuthState(fresh)
    t.same(await store.takeOAuthState(fresh.state, new Date(base)), fresh)
    t.equal(await store.takeOAuthState(fresh.state, new Date(base)), null, 'a state is taken once')
    t.equal(await store.takeOAuthState(uid('unknown'), new Date(base)), null)

    const expiring = state()
    await store.saveOAuthState(expiring)
    t.equal(await store.takeOAuthState(expiring.state, new Date(base + 600_000)), null, 'expired at expiresAt')
    t.equal(await store.takeOAuthState(expiring.state, new Date(base)), null, 'an expired state was deleted too')

    const defaultNow = state()
    await store.saveOAuthState(defaultNow)
    t.same(await store.takeOAuthState(defaultNow.state), defaultNow, 'now defaults to the clock')

    const raced = state()
    await store.saveOAuthState(raced)
    const other = await open(t)
    const taken = await Promise.all([store.takeOAuthState(raced.state, new Date(base)), other.takeOAuthState(raced.state, new Date(base))])
    t.equal(taken.filter((s) => s !== null).length, 1, 'two concurrent takes: one wins')
  })

  await t.test('settings are versioned', async (t) => {
    const merchantId = uid('m')
    t.equal(await store.getSettings(merchantId), null)

    const v1 = await store.saveSettings(merchantId, { import: { fields: ['Email'] }, export: { enabled: true } })
    t.match(v1, { merchantId, version: 1, import: { fields: ['Email'] }, export: { enabled: true } })
    t.same(await store.getSettings(merchantId), v1)

    const v2 = await store.saveSettings(merchantId, { import: { fields: ['Email', 'Phone'] }, export: {} }, 1)
    t.equal(v2.version, 2)
    t.same(v2.import, { fields: ['Email', 'Phone'] })

    await t.rejects(store.saveSettings(merchantId, { import: { stale: true }, export: {} }, 1), { code: 'store.conflict' })
    t.same(await store.getSettings(merchantId), v2, 'a refused save changes nothing')

    const v3 = await store.saveSettings(merchantId, { import: {}, export: { last: 'wins' } })
    t.equal(v3.version, 3, 'without expectedVersion the save always applies')

    const first = uid('m')
    t.equal((await store.saveSettings(first, { import: {}, export: {} }, 0)).version, 1, 'version 0 creates')
    await t.rejects(store.saveSettings(first, { import: {}, export: {} }, 0), { code: 'store.conflict' }, 'version 0 when settings exist')
    const missing = uid('m')
    await t.rejects(store.saveSettings(missing, { import: {}, export: {} }, 3), { code: 'store.conflict' })
    t.equal(await store.getSettings(missing), null)
  })

  await t.test('replay ids move forward unless forced', async (t) => {
    const merchantId = uid('m')
    const channel = '/data/ContactChangeEvent'
    t.equal(await store.getReplayId(merchantId, channel), null)
    await store.saveReplayId(merchantId, channel, 10)
    await store.saveReplayId(merchantId, channel, 5)
    t.equal(await store.getReplayId(merchantId, channel), 10, 'an older id is ignored')
    await store.saveReplayId(merchantId, channel, 5, { force: true })
    t.equal(await store.getReplayId(merchantId, channel), 5, 'force moves back')
    await store.saveReplayId(merchantId, channel, 2 ** 40)
    t.equal(await store.getReplayId(merchantId, channel), 2 ** 40, 'large ids survive')
    t.equal(await store.getReplayId(merchantId, '/data/LeadChangeEvent'), null, 'per channel')
    t.equal(await store.getReplayId(uid('m'), channel), null, 'per merchant')
  })

  await t.test('record links', async (t) => {
    const merchantId = uid('m')
    await store.linkRecord({ merchantId, sobject: 'Contact', recordId: 'r1', userId: 'u1', email: 'one@example.com' })
    await store.linkRecord({ merchantId, sobject: 'Lead', recordId: 'r2', userId: 'u2', email: null })
    await store.linkRecord({ merchantId: uid('m'), sobject: 'Contact', recordId: 'r1', userId: 'u9', email: null })

    t.match(await store.findLinkByRecord(merchantId, 'r1'), { merchantId, sobject: 'Contact', recordId: 'r1', userId: 'u1', email: 'one@example.com' })
    t.type((await store.findLinkByRecord(merchantId, 'r1'))?.updatedAt, Date)
    t.match(await store.findLinkByUser(merchantId, 'u2'), { recordId: 'r2', sobject: 'Lead', email: null })
    t.equal(await store.findLinkByRecord(merchantId, 'r3'), null)
    t.equal(await store.findLinkByUser(merchantId, 'u9'), null, 'links are per merchant')

    const many = await store.findLinksByUsers(merchantId, ['u2', 'u1', 'nobody'])
    t.same(many.map((l) => l.recordId).sort(), ['r1', 'r2'])
    t.same(await store.findLinksByUsers(merchantId, []), [])

    await store.linkRecord({ merchantId, sobject: 'Contact', recordId: 'r1', userId: 'u3', email: 'three@example.com' })
    t.equal(await store.findLinkByUser(merchantId, 'u1'), null, 'relinking moves the record')
    t.match(await store.findLinkByUser(merchantId, 'u3'), { recordId: 'r1', email: 'three@example.com' })
  })

  await t.test('field states: only strictly newer changes are written', async (t) => {
    const merchantId = uid('m')
    const at = 1_700_000_000_000
    t.same(await store.getFieldStates(merchantId, 'r1'), [])
    t.same(await store.saveFieldStates([]), [])

    const written = await store.saveFieldStates([
      fieldState(merchantId, 'r1', 'Email', 'a@example.com', at, 1),
      fieldState(merchantId, 'r1', 'Phone', null, at, 1),
      fieldState(merchantId, 'r1', 'Tags', ['x', 'y'], at, 1),
      fieldState(merchantId, 'r1', 'Address', { city: 'Oslo', zip: 150 }, at, 1),
      fieldState(merchantId, 'r2', 'Email', 'b@example.com', at, 1),
    ])
    t.same(written.sort(), ['Address', 'Email', 'Phone', 'Tags'])
    t.same(await store.getFieldStates(merchantId, 'r1'), [
      fieldState(merchantId, 'r1', 'Address', { city: 'Oslo', zip: 150 }, at, 1),
      fieldState(merchantId, 'r1', 'Email', 'a@example.com', at, 1),
      fieldState(merchantId, 'r1', 'Phone', null, at, 1),
      fieldState(merchantId, 'r1', 'Tags', ['x', 'y'], at, 1),
    ], 'values of every JSON kind round-trip')

    t.same(await store.saveFieldStates([fieldState(merchantId, 'r1', 'Email', 'same@example.com', at, 1)]), [], 'an equal (changedAt, sequence) is not newer')
    t.same(await store.saveFieldStates([fieldState(merchantId, 'r1', 'Email', 'old@example.com', at - 1, 99)]), [], 'an older changedAt loses whatever its sequence')
    t.same(await store.saveFieldStates([fieldState(merchantId, 'r1', 'Email', 'seq@example.com', at, 2)]), ['Email'], 'a higher sequence at the same time wins')
    const mixed = await store.saveFieldStates([
      { ...fieldState(merchantId, 'r1', 'Phone', '+47 123', at + 1, 0), direction: 'export' },
      fieldState(merchantId, 'r1', 'Tags', [], at - 5, 0),
    ])
    t.same(mixed, ['Phone'], 'only the fields written are returned')

    const states = await store.getFieldStates(merchantId, 'r1')
    t.same(states.find((s) => s.field === 'Email'), fieldState(merchantId, 'r1', 'Email', 'seq@example.com', at, 2))
    t.same(states.find((s) => s.field === 'Phone'), { ...fieldState(merchantId, 'r1', 'Phone', '+47 123', at + 1, 0), direction: 'export' })
    t.same(states.find((s) => s.field === 'Tags')?.value, ['x', 'y'])
    t.same(await store.getFieldStates(merchantId, 'r2'), [fieldState(merchantId, 'r2', 'Email', 'b@example.com', at, 1)])
  })

  await t.test('forgetUser removes the user\'s links, field states and traces', async (t) => {
    const merchantId = uid('m')
    const otherMerchant = uid('m')
    const at = 1_700_000_000_000
    for (const m of [merchantId, otherMerchant]) {
      await store.linkRecord({ merchantId: m, sobject: 'Contact', recordId: 'r1', userId: 'u1', email: 'one@example.com' })
      await store.linkRecord({ merchantId: m, sobject: 'Contact', recordId: 'r2', userId: 'u2', email: null })
      await store.saveFieldStates([fieldState(m, 'r1', 'Email', 'one@example.com', at, 1), fieldState(m, 'r2', 'Email', 'two@example.com', at, 1)])
      await store.appendTrace({ merchantId: m, direction: 'export', recordId: null, userId: 'u1', email: null, outcome: 'created', details: null })
      await store.appendTrace({ merchantId: m, direction: 'import', recordId: 'r1', userId: null, email: null, outcome: 'skipped', details: null })
      await store.appendTrace({ merchantId: m, direction: 'import', recordId: 'r2', userId: 'u2', email: null, outcome: 'updated', details: null })
    }

    await store.forgetUser(merchantId, 'u1')
    t.equal(await store.findLinkByUser(merchantId, 'u1'), null)
    t.equal(await store.findLinkByRecord(merchantId, 'r1'), null)
    t.same(await store.getFieldStates(merchantId, 'r1'), [])
    t.same(await store.listTrace(merchantId, { userId: 'u1', recordId: 'r1' }), [])

    t.ok(await store.findLinkByUser(merchantId, 'u2'), 'other users keep their links')
    t.equal((await store.getFieldStates(merchantId, 'r2')).length, 1)
    t.equal((await store.listTrace(merchantId, { userId: 'u2' })).length, 1)
    t.ok(await store.findLinkByUser(otherMerchant, 'u1'), 'other merchants are untouched')
    t.equal((await store.getFieldStates(otherMerchant, 'r1')).length, 1)
    t.equal((await store.listTrace(otherMerchant, { userId: 'u1', recordId: 'r1' })).length, 2)
  })

  await t.test('clearMerchantSyncState keeps settings, audit and job runs only', async (t) => {
    const merchantId = uid('m')
    const otherMerchant = uid('m')
    for (const m of [merchantId, otherMerchant]) {
      await store.linkRecord({ merchantId: m, sobject: 'Contact', recordId: 'r1', userId: 'u1', email: null })
      await store.saveFieldStates([fieldState(m, 'r1', 'Email', 'x@example.com', 1_700_000_000_000, 1)])
      await store.saveReplayId(m, '/data/ContactChangeEvent', 7)
      await store.appendTrace({ merchantId: m, direction: 'import', recordId: 'r1', userId: 'u1', email: null, outcome: 'updated', details: null })
      await store.recordError({ merchantId: m, direction: 'import', recordId: 'r1', code: 'INVALID_EMAIL', message: 'bad' })
      await store.saveSettings(m, { import: { a: 1 }, export: {} })
      await store.appendAudit({ merchantId: m, actor: 'user-1', action: 'connect', details: { orgId: 'x' } })
      await store.claimJobRun(m, 'reconcile', { dryRun: false })
    }

    await store.clearMerchantSyncState(merchantId)
    t.equal(await store.findLinkByRecord(merchantId, 'r1'), null)
    t.same(await store.getFieldStates(merchantId, 'r1'), [])
    t.equal(await store.getReplayId(merchantId, '/data/ContactChangeEvent'), null)
    t.same(await store.listTrace(merchantId, { userId: 'u1' }), [])
    t.equal(await store.countErrors(merchantId), 0)
    t.match(await store.getSettings(merchantId), { import: { a: 1 } }, 'settings stay')
    t.equal((await store.listAudit(merchantId)).data.length, 1, 'audit stays')
    t.ok(await store.getLatestJobRun(merchantId, 'reconcile'), 'job runs stay')

    t.ok(await store.findLinkByRecord(otherMerchant, 'r1'), 'other merchants are untouched')
    t.equal((await store.getFieldStates(otherMerchant, 'r1')).length, 1)
    t.equal(await store.getReplayId(otherMerchant, '/data/ContactChangeEvent'), 7)
    t.equal((await store.listTrace(otherMerchant, { userId: 'u1' })).length, 1)
    t.equal(await store.countErrors(otherMerchant), 1)
  })

  await t.test('record errors: the same refusal again bumps attempts', async (t) => {
    const merchantId = uid('m')
    const first = await store.recordError({ merchantId, direction: 'export', recordId: 'r1', userId: 'u1', email: 'a@example.com', code: 'DUPLICATE', message: 'first', payload: { attempt: 1 } })
    t.match(first, { merchantId, direction: 'export', recordId: 'r1', userId: 'u1', email: 'a@example.com', code: 'DUPLICATE', message: 'first', payload: { attempt: 1 }, attempts: 1 })
    t.equal(first.firstAt.getTime(), first.at.getTime())

    const again = await store.recordError({ merchantId, direction: 'export', recordId: 'r1', userId: 'u1', code: 'DUPLICATE', message: 'second', payload: [2] })
    t.equal(again.id, first.id, 'same row')
    t.equal(again.attempts, 2)
    t.equal(again.message, 'second')
    t.same(again.payload, [2])
    t.equal(again.email, 'a@example.com', 'a missing email keeps the known one')
    t.equal(again.firstAt.getTime(), first.firstAt.getTime())
    t.ok(again.at.getTime() >= first.at.getTime())
    t.same(await store.getError(merchantId, first.id), again)

    const otherCode = await store.recordError({ merchantId, direction: 'export', recordId: 'r1', userId: 'u1', code: 'REQUIRED_FIELD_MISSING', message: 'x' })
    const otherDirection = await store.recordError({ merchantId, direction: 'import', recordId: 'r1', userId: 'u1', code: 'DUPLICATE', message: 'x' })
    const noUser = await store.recordError({ merchantId, direction: 'export', recordId: 'r1', code: 'DUPLICATE', message: 'x' })
    t.equal(new Set([first.id, otherCode.id, otherDirection.id, noUser.id]).size, 4, 'code, direction and user are part of the key')
    t.equal(noUser.payload, null, 'a missing payload reads back as null')

    const anonymous = await store.recordError({ merchantId, direction: 'import', code: 'UNKNOWN', message: 'a' })
    const anonymousAgain = await store.recordError({ merchantId, direction: 'import', recordId: null, userId: null, code: 'UNKNOWN', message: 'b' })
    t.equal(anonymousAgain.id, anonymous.id, 'null record and user ids still match')
    t.equal(anonymousAgain.attempts, 2)

    t.equal(await store.countErrors(merchantId), 5)
    t.equal(await store.getError(uid('m'), first.id), null, 'errors are per merchant')
    t.equal(await store.deleteError(uid('m'), first.id), false)
    t.equal(await store.deleteError(merchantId, first.id), true)
    t.equal(await store.deleteError(merchantId, first.id), false)
    t.equal(await store.getError(merchantId, first.id), null)
    t.equal(await store.countErrors(merchantId), 4)
    t.equal(await store.getError(merchantId, 'not-an-id'), null)
  })

  await t.test('listErrors pages newest first with a stable cursor', async (t) => {
    const merchantId = uid('m')
    const made: string[] = []
    for (let i = 0; i < 7; i++) made.push((await store.recordError({ merchantId, direction: 'import', recordId: `r${i}`, code: 'X', message: `m${i}` })).id)
    await store.recordError({ merchantId: uid('m'), direction: 'import', recordId: 'r0', code: 'X', message: 'other merchant' })
    const newestFirst = [...made].reverse()

    const all = await store.listErrors(merchantId)
    t.same(all.data.map((e) => e.id), newestFirst, 'default limit, newest first')
    t.equal(all.nextCursor, null)

    const p1 = await store.listErrors(merchantId, { limit: 3 })
    t.same(p1.data.map((e) => e.id), newestFirst.slice(0, 3))
    t.type(p1.nextCursor, 'string')
    // A newer error arriving between pages must not shift the next page.
    await store.recordError({ merchantId, direction: 'import', recordId: 'late', code: 'X', message: 'late' })
    const p2 = await store.listErrors(merchantId, { limit: 3, cursor: p1.nextCursor })
    t.same(p2.data.map((e) => e.id), newestFirst.slice(3, 6))
    const p3 = await store.listErrors(merchantId, { limit: 3, cursor: p2.nextCursor })
    t.same(p3.data.map((e) => e.id), newestFirst.slice(6))
    t.equal(p3.nextCursor, null)

    t.equal((await store.listErrors(merchantId, { limit: 8 })).nextCursor, null, 'no cursor when the page holds the rest exactly')
    t.equal((await store.listErrors(merchantId, { limit: 0 })).data.length, 1, 'limit is at least 1')
    t.equal((await store.listErrors(merchantId, { limit: 5000 })).data.length, 8, 'limit is at most 1000')
    t.equal((await store.listErrors(merchantId, { cursor: null })).data.length, 8)
    await t.rejects(store.listErrors(merchantId, { cursor: 'not a cursor' }), { code: 'request.invalid' })
    await t.rejects(store.listErrors(merchantId, { cursor: Buffer.from('[1]').toString('base64url') }), { code: 'request.invalid' })
  })

  await t.test('job runs: claim, update, latest', async (t) => {
    const merchantId = uid('m')
    const claim = await store.claimJobRun(merchantId, 'reconcile', { dryRun: true })
    if (!claim.claimed) throw new Error('the first claim must succeed')
    const run = claim.run
    t.match(run, { merchantId, kind: 'reconcile', status: 'queued', dryRun: true, phase: null, progress: null, apiCalls: 0, error: null, startedAt: null, finishedAt: null })

    const blocked = await store.claimJobRun(merchantId, 'reconcile', { dryRun: false })
    t.equal(blocked.claimed, false)
    if (!blocked.claimed) t.equal(blocked.running.id, run.id, 'the live run is returned')
    t.equal((await store.claimJobRun(merchantId, 'backfill', { dryRun: false })).claimed, true, 'kinds are independent')
    t.equal((await store.claimJobRun(uid('m'), 'reconcile', { dryRun: false })).claimed, true, 'merchants are independent')

    const startedAt = new Date(1_700_000_000_000)
    const running = await store.updateJobRun(run.id, { status: 'running', startedAt, phase: 'scan', progress: { done: 1, total: 10 }, samples: [{ id: 'r1' }], apiCalls: 3 })
    t.match(running, { id: run.id, status: 'running', phase: 'scan', progress: { done: 1, total: 10 }, samples: [{ id: 'r1' }], apiCalls: 3, dryRun: true })
    t.equal(running.startedAt?.getTime(), startedAt.getTime())
    t.ok(running.updatedAt.getTime() >= run.updatedAt.getTime())
    t.equal((await store.claimJobRun(merchantId, 'reconcile', { dryRun: false })).claimed, false, 'a running run blocks too')

    const untouched = await store.updateJobRun(run.id, {})
    t.match(untouched, { status: 'running', phase: 'scan', apiCalls: 3 }, 'an empty patch changes nothing else')

    const finishedAt = new Date(1_700_000_060_000)
    const failed = await store.updateJobRun(run.id, { status: 'failed', finishedAt, error: 'boom', checkpoint: { after: 'r5' }, counts: { updated: 4 }, phase: null })
    t.match(failed, { status: 'failed', error: 'boom', checkpoint: { after: 'r5' }, counts: { updated: 4 }, phase: null, progress: { done: 1, total: 10 } })
    t.equal(failed.finishedAt?.getTime(), finishedAt.getTime())
    t.same(await store.getJobRun(merchantId, run.id), failed)
    t.equal(await store.getJobRun(uid('m'), run.id), null, 'runs are per merchant')
    t.equal(await store.getJobRun(merchantId, 'missing'), null)

    const next = await store.claimJobRun(merchantId, 'reconcile', { dryRun: false })
    t.equal(next.claimed, true, 'a finished run no longer blocks')
    if (next.claimed) {
      t.not(next.run.id, run.id)
      t.same(await store.getLatestJobRun(merchantId, 'reconcile'), next.run, 'latest is the newest')
    }
    t.equal(await store.getLatestJobRun(merchantId, 'nothing'), null)
    await t.rejects(store.updateJobRun('missing', { status: 'running' }), { code: 'not-found' })
  })

  await t.test('job runs: concurrent claims from two instances, one wins', async (t) => {
    const other = await open(t)
    const merchantId = uid('m')
    const results = await Promise.all([
      store.claimJobRun(merchantId, 'reconcile', { dryRun: false }),
      other.claimJobRun(merchantId, 'reconcile', { dryRun: false }),
      store.claimJobRun(merchantId, 'reconcile', { dryRun: false }),
      other.claimJobRun(merchantId, 'reconcile', { dryRun: false }),
    ])
    const winners = results.flatMap((r) => (r.claimed ? [r.run] : []))
    t.equal(winners.length, 1, 'exactly one claim succeeds')
    for (const r of results) if (!r.claimed) t.equal(r.running.id, winners[0]?.id, 'the others see the winner')
  })

  await t.test('leases: one holder at a time', async (t) => {
    const name = uid('lease')
    const at = 1_700_000_000_000
    const now = (ms: number) => new Date(at + ms)
    t.equal(await store.acquireLease(name, 'a', 1000, now(0)), true, 'free lease')
    t.equal(await store.acquireLease(name, 'b', 1000, now(10)), false, 'held by a')
    t.equal(await store.acquireLease(name, 'a', 1000, now(500)), true, 'a renews')
    t.equal(await store.acquireLease(name, 'b', 1000, now(1499)), false, 'the renewal extended the lease')
    t.equal(await store.acquireLease(name, 'b', 1000, now(1500)), true, 'expired: b takes it')
    t.equal(await store.acquireLease(name, 'a', 1000, now(1600)), false, 'now a is refused')

    await store.releaseLease(name, 'a')
    t.equal(await store.acquireLease(name, 'a', 1000, now(1700)), false, 'only the holder can release')
    await store.releaseLease(name, 'b')
    t.equal(await store.acquireLease(name, 'a', 1000, now(1700)), true, 'released: free again')

    const other = await open(t)
    const raced = uid('lease')
    const wins = await Promise.all([store.acquireLease(raced, 'x', 1000, now(0)), other.acquireLease(raced, 'y', 1000, now(0))])
    t.equal(wins.filter(Boolean).length, 1, 'two concurrent takers: one wins')
  })

  await t.test('audit log', async (t) => {
    const merchantId = uid('m')
    const before = Date.now()
    const first = await store.appendAudit({ merchantId, actor: 'user-1', action: 'settings.update', details: { version: 2 } })
    t.match(first, { merchantId, actor: 'user-1', action: 'settings.update', details: { version: 2 } })
    t.type(first.id, 'string')
    t.ok(first.at.getTime() >= before)
    const made = [first.id]
    for (let i = 0; i < 4; i++) made.push((await store.appendAudit({ merchantId, actor: 'user-1', action: `a${i}`, details: null })).id)
    await store.appendAudit({ merchantId: uid('m'), actor: 'x', action: 'other', details: null })

    const p1 = await store.listAudit(merchantId, { limit: 2 })
    const p2 = await store.listAudit(merchantId, { limit: 2, cursor: p1.nextCursor })
    const p3 = await store.listAudit(merchantId, { limit: 2, cursor: p2.nextCursor })
    t.same([...p1.data, ...p2.data, ...p3.data].map((e) => e.id), [...made].reverse(), 'newest first across pages')
    t.equal(p3.nextCursor, null)
    t.same(p3.data[0], first)
  })

  await t.test('traces', async (t) => {
    const merchantId = uid('m')
    const at = (ms: number) => new Date(1_700_000_000_000 + ms)
    await store.appendTrace({ merchantId, direction: 'import', recordId: 'r1', userId: null, email: 'a@example.com', outcome: 'skipped', details: { why: 'no email' }, at: at(2) })
    await store.appendTrace({ merchantId, direction: 'export', recordId: null, userId: 'u1', email: null, outcome: 'created', details: null, at: at(3) })
    await store.appendTrace({ merchantId, direction: 'import', recordId: 'r1', userId: 'u1', email: 'a@example.com', outcome: 'updated', details: [1], at: at(1) })
    await store.appendTrace({ merchantId, direction: 'import', recordId: 'r2', userId: 'u2', email: 'b@example.com', outcome: 'updated', details: null, at: at(4) })
    await store.appendTrace({ merchantId: uid('m'), direction: 'import', recordId: 'r1', userId: 'u1', email: 'a@example.com', outcome: 'other', details: null })

    const byUser = await store.listTrace(merchantId, { userId: 'u1' })
    t.same(byUser.map((e) => e.outcome), ['created', 'updated'], 'newest first')
    t.match(byUser[1], { merchantId, direction: 'import', recordId: 'r1', userId: 'u1', email: 'a@example.com', details: [1] })
    t.equal(byUser[1]?.at.getTime(), at(1).getTime())
    t.same((await store.listTrace(merchantId, { recordId: 'r1' })).map((e) => e.outcome), ['skipped', 'updated'])
    t.same((await store.listTrace(merchantId, { email: 'a@example.com' })).map((e) => e.outcome), ['skipped', 'updated'])
    t.same((await store.listTrace(merchantId, { userId: 'u1', recordId: 'r1' })).map((e) => e.outcome), ['created', 'skipped', 'updated'], 'any key matches')
    t.same((await store.listTrace(merchantId, { userId: 'u1', recordId: 'r1' }, 1)).map((e) => e.outcome), ['created'], 'limit')
    t.same(await store.listTrace(merchantId, {}), [], 'no key, no entries')

    const before = Date.now()
    await store.appendTrace({ merchantId, direction: 'export', recordId: null, userId: 'u3', email: null, outcome: 'now', details: null })
    t.ok((await store.listTrace(merchantId, { userId: 'u3' }))[0]!.at.getTime() >= before, 'at defaults to now')
  })
}

/** Remembers every store a test file opens, so its teardown closes them all. */
export function createStoreTracker(): { track: (store: Store) => Store; closeAll: () => Promise<void> } {
  const opened: Store[] = []
  return {
    track(store) {
      opened.push(store)
      return store
    },
    closeAll: async () => {
      await Promise.all(opened.map((store) => store.close()))
    },
  }
}

/** Contract: connections and OAuth states. */
import type { Test } from 'tap'
import type { OAuthState } from '../../../src/store/index.ts'
import { connection, uid, type ContractContext } from './helpers.ts'

export async function connectionsContract(t: Test, { store, open }: ContractContext): Promise<void> {
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
}

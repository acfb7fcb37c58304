/**
 * Disconnecting a merchant (contracts §2): tell the merchant's work to stop, delete the
 * tokens, then ask Salesforce to revoke the one we held. Settings, links and history stay,
 * so reconnecting to the same org resumes.
 */
import type { TokenCipher } from '../crypto/index.ts'
import { AppError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import type { MerchantEvents } from '../merchant-events.ts'
import { withTimeout } from '../retry.ts'
import type { Store } from '../store/index.ts'
import { tokenContext, type SalesforceConnections } from './connections.ts'

/** Longest wait for Salesforce's token and revoke endpoints. */
export const OAUTH_CALL_TIMEOUT_MS = 20_000

export interface DisconnectDeps {
  store: Store
  cipher: TokenCipher
  connections: SalesforceConnections
  events: MerchantEvents
}

/** `not-found` when the merchant holds no tokens. Revocation failures are logged, not thrown. */
export async function disconnectMerchant(deps: DisconnectDeps, merchantId: string, actor: string, log: Pick<Logger, 'warn'>): Promise<void> {
  const { store, cipher, connections } = deps
  const stored = await store.getConnection(merchantId)
  if (!stored || (!stored.refreshTokenEnc && !stored.accessTokenEnc)) throw new AppError('not-found', `merchant ${merchantId} has no Salesforce connection`)
  await deps.events.emit('disconnected', merchantId)
  connections.evict(merchantId)
  const kind = stored.refreshTokenEnc ? 'refresh' : 'access'
  const token = cipher.decrypt((stored.refreshTokenEnc ?? stored.accessTokenEnc)!, tokenContext(merchantId, kind))
  // The tokens go first: whatever Salesforce does with the revocation, the bridge holds none.
  await store.clearConnectionTokens(merchantId)
  let revoked = false
  try {
    await withTimeout(connections.oauth2(stored.environment).revokeToken(token), OAUTH_CALL_TIMEOUT_MS, () => new AppError('salesforce.unavailable', 'Salesforce did not answer the revocation in time'))
    revoked = true
  } catch (err) {
    // An unrevoked token dies at its own expiry.
    log.warn({ merchantId, reason: (err as Error).message }, 'revocation at Salesforce failed')
  }
  await store.appendAudit({ merchantId, actor, action: 'connection.disconnected', details: { orgId: stored.orgId, revoked } })
}

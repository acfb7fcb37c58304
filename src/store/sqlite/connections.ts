/** SQLite: Salesforce connections and pending OAuth flows. */
import { toConnection, toOAuthState } from '../shared/rows.ts'
import type { ConnectionStore, OAuthStateStore } from '../types/index.ts'
import { codec, ms, nullable, type SqliteContext } from './db.ts'

export function sqliteConnections({ sql }: SqliteContext): ConnectionStore & OAuthStateStore {
  return {
    async getConnection(merchantId) {
      const row = sql.get`SELECT * FROM connections WHERE merchant_id = ${merchantId}`
      return row ? toConnection(row, codec) : null
    },

    async saveConnection(c) {
      sql.run`INSERT INTO connections (merchant_id, state, environment, org_id, user_id, username, instance_url,
          access_token_enc, refresh_token_enc, token_key_id, connected_at, updated_at)
        VALUES (${c.merchantId}, ${c.state}, ${c.environment}, ${c.orgId}, ${c.userId}, ${c.username}, ${c.instanceUrl},
          ${nullable(c.accessTokenEnc)}, ${nullable(c.refreshTokenEnc)}, ${nullable(c.tokenKeyId)}, ${ms(c.connectedAt)}, ${ms(c.updatedAt)})
        ON CONFLICT (merchant_id) DO UPDATE SET state = excluded.state, environment = excluded.environment,
          org_id = excluded.org_id, user_id = excluded.user_id, username = excluded.username, instance_url = excluded.instance_url,
          access_token_enc = excluded.access_token_enc, refresh_token_enc = excluded.refresh_token_enc,
          token_key_id = excluded.token_key_id, connected_at = excluded.connected_at, updated_at = excluded.updated_at`
    },

    async setConnectionState(merchantId, state) {
      sql.run`UPDATE connections SET state = ${state}, updated_at = ${Date.now()} WHERE merchant_id = ${merchantId}`
    },

    async updateConnectionTokens(merchantId, tokens) {
      sql.run`UPDATE connections SET access_token_enc = ${tokens.accessTokenEnc}, refresh_token_enc = ${nullable(tokens.refreshTokenEnc)},
          token_key_id = ${tokens.tokenKeyId}, updated_at = ${Date.now()}
        WHERE merchant_id = ${merchantId}`
    },

    async clearConnectionTokens(merchantId) {
      sql.run`UPDATE connections SET state = 'disconnected', access_token_enc = NULL, refresh_token_enc = NULL,
          token_key_id = NULL, updated_at = ${Date.now()}
        WHERE merchant_id = ${merchantId}`
    },

    async listConnections() {
      return sql.all`SELECT * FROM connections ORDER BY merchant_id`.map((row) => toConnection(row, codec))
    },

    async saveOAuthState(s) {
      // Flows that were started and never finished would otherwise stay forever.
      sql.run`DELETE FROM oauth_states WHERE expires_at <= ${Date.now()}`
      sql.run`INSERT INTO oauth_states (state, merchant_id, environment, code_verifier_enc, actor, expires_at)
        VALUES (${s.state}, ${s.merchantId}, ${s.environment}, ${s.codeVerifierEnc}, ${s.actor}, ${ms(s.expiresAt)})`
    },

    async takeOAuthState(state, now = new Date()) {
      const row = sql.get`DELETE FROM oauth_states WHERE state = ${state} RETURNING *`
      if (!row) return null
      const taken = toOAuthState(row, codec)
      return taken.expiresAt.getTime() > now.getTime() ? taken : null
    },
  }
}

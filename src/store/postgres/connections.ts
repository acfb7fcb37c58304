/** PostgreSQL: Salesforce connections and pending OAuth flows. */
import { toConnection, toOAuthState } from '../shared/rows.ts'
import type { ConnectionStore, OAuthStateStore } from '../types/index.ts'
import { codec, one, rows, type PostgresContext } from './db.ts'

export function postgresConnections({ pool }: PostgresContext): ConnectionStore & OAuthStateStore {
  return {
    async getConnection(merchantId) {
      const row = await one(pool, 'SELECT * FROM connections WHERE merchant_id = $1', [merchantId])
      return row ? toConnection(row, codec) : null
    },

    async saveConnection(c) {
      await pool.query(
        `INSERT INTO connections (merchant_id, state, environment, org_id, user_id, username, instance_url,
            access_token_enc, refresh_token_enc, token_key_id, connected_at, updated_at)
          VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
          ON CONFLICT (merchant_id) DO UPDATE SET state = excluded.state, environment = excluded.environment,
            org_id = excluded.org_id, user_id = excluded.user_id, username = excluded.username, instance_url = excluded.instance_url,
            access_token_enc = excluded.access_token_enc, refresh_token_enc = excluded.refresh_token_enc,
            token_key_id = excluded.token_key_id, connected_at = excluded.connected_at, updated_at = excluded.updated_at`,
        [c.merchantId, c.state, c.environment, c.orgId, c.userId, c.username, c.instanceUrl,
          c.accessTokenEnc ?? null, c.refreshTokenEnc ?? null, c.tokenKeyId ?? null, c.connectedAt, c.updatedAt],
      )
    },

    async setConnectionState(merchantId, state) {
      await pool.query('UPDATE connections SET state = $2, updated_at = $3 WHERE merchant_id = $1', [merchantId, state, new Date()])
    },

    async updateConnectionTokens(merchantId, tokens) {
      await pool.query(
        'UPDATE connections SET access_token_enc = $2, refresh_token_enc = $3, token_key_id = $4, updated_at = $5 WHERE merchant_id = $1',
        [merchantId, tokens.accessTokenEnc, tokens.refreshTokenEnc ?? null, tokens.tokenKeyId, new Date()],
      )
    },

    async clearConnectionTokens(merchantId) {
      await pool.query(
        `UPDATE connections SET state = 'disconnected', access_token_enc = NULL, refresh_token_enc = NULL, token_key_id = NULL,
          updated_at = $2 WHERE merchant_id = $1`,
        [merchantId, new Date()],
      )
    },

    async listConnections() {
      return (await rows(pool, 'SELECT * FROM connections ORDER BY merchant_id')).map((row) => toConnection(row, codec))
    },

    async saveOAuthState(s) {
      // Flows that were started and never finished would otherwise stay forever.
      await pool.query('DELETE FROM oauth_states WHERE expires_at <= $1', [new Date()])
      await pool.query(
        'INSERT INTO oauth_states (state, merchant_id, environment, code_verifier_enc, actor, expires_at) VALUES ($1, $2, $3, $4, $5, $6)',
        [s.state, s.merchantId, s.environment, s.codeVerifierEnc, s.actor, s.expiresAt],
      )
    },

    async takeOAuthState(state, now = new Date()) {
      const row = await one(pool, 'DELETE FROM oauth_states WHERE state = $1 RETURNING *', [state])
      if (!row) return null
      const taken = toOAuthState(row, codec)
      return taken.expiresAt.getTime() > now.getTime() ? taken : null
    },
  }
}

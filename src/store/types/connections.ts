/** Salesforce connections and pending OAuth flows. */

export type ConnectionState = 'connected' | 'needs-reauth' | 'disconnected'
export type SalesforceEnvironment = 'production' | 'sandbox'

/** A merchant's Salesforce connection. Token fields are ciphertext (with their key id). */
export interface Connection {
  merchantId: string
  state: ConnectionState
  environment: SalesforceEnvironment
  orgId: string
  userId: string
  username: string
  instanceUrl: string
  /** Encrypted access token, or null once deleted (disconnect). */
  accessTokenEnc: string | null
  /** Encrypted refresh token, or null once deleted (disconnect). */
  refreshTokenEnc: string | null
  /** Id of the encryption key that produced the two ciphertexts. */
  tokenKeyId: string | null
  connectedAt: Date
  updatedAt: Date
}

/** A pending OAuth web-server flow: one-time, bound to a merchant, short-lived. */
export interface OAuthState {
  state: string
  merchantId: string
  environment: SalesforceEnvironment
  /** PKCE code verifier, encrypted by the caller. */
  codeVerifierEnc: string
  /** Who started the flow (the dashboard JWT subject), for the audit log. */
  actor: string
  expiresAt: Date
}

export interface ConnectionStore {
  getConnection(merchantId: string): Promise<Connection | null>
  saveConnection(connection: Connection): Promise<void>
  /** Change the state only (needs-reauth after invalid_grant, say). */
  setConnectionState(merchantId: string, state: ConnectionState): Promise<void>
  /** Replace the encrypted tokens (refresh, key rotation). */
  updateConnectionTokens(merchantId: string, tokens: { accessTokenEnc: string; refreshTokenEnc: string | null; tokenKeyId: string }): Promise<void>
  /** Disconnect: drop tokens, keep the rest so a reconnect to the same org resumes. */
  clearConnectionTokens(merchantId: string): Promise<void>
  listConnections(): Promise<Connection[]>
}

export interface OAuthStateStore {
  saveOAuthState(state: OAuthState): Promise<void>
  /** Return and delete the state in one step; null when unknown, already used or expired. */
  takeOAuthState(state: string, now?: Date): Promise<OAuthState | null>
}

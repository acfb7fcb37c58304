export { disconnectMerchant, registerOAuthRoutes } from './routes.ts'
export type { OAuthRouteDeps } from './routes.ts'
export { createTokenCipher } from './token-cipher.ts'
export type { TokenCipher } from './token-cipher.ts'

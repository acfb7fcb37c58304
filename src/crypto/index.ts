export { createTokenCipher } from './token-cipher.ts'
export type { TokenCipher } from './token-cipher.ts'

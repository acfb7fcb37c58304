/**
 * Encryption of stored OAuth secrets (access and refresh tokens, PKCE verifiers) with
 * AES-256-GCM under TOKEN_ENCRYPTION_KEYS. The first key encrypts; every key decrypts, so
 * keys rotate: add the new key first, keep the old one until nothing uses it.
 *
 * Format: `v1.<keyId>.<iv>.<ciphertext>.<tag>` (base64url parts). The caller's `context`
 * (e.g. `m_123:refresh`) is authenticated data: a ciphertext copied to another merchant's
 * row, or from the access to the refresh column, does not decrypt.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import type { EncryptionKey } from '../config.ts'
import { AppError } from '../errors.ts'

export interface TokenCipher {
  /** Id of the key new ciphertexts use. */
  readonly currentKeyId: string
  encrypt(plain: string, context: string): string
  decrypt(ciphertext: string, context: string): string
  /** The key id a ciphertext was made with (to find rows that need re-encryption). */
  keyIdOf(ciphertext: string): string
}

const VERSION = 'v1'

export function createTokenCipher(keys: readonly EncryptionKey[]): TokenCipher {
  const first = keys[0]
  if (!first) throw new AppError('config.invalid', 'TOKEN_ENCRYPTION_KEYS has no key')
  const byId = new Map(keys.map((k) => [k.id, Buffer.from(k.key.reveal(), 'base64')]))

  const parse = (ciphertext: string) => {
    const parts = ciphertext.split('.')
    if (parts.length !== 5 || parts[0] !== VERSION) throw new AppError('crypto.invalid-ciphertext', 'not a token ciphertext')
    const [, keyId, iv, data, tag] = parts as [string, string, string, string, string]
    return { keyId, iv: Buffer.from(iv, 'base64url'), data: Buffer.from(data, 'base64url'), tag: Buffer.from(tag, 'base64url') }
  }

  return {
    currentKeyId: first.id,

    encrypt(plain, context) {
      const iv = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', byId.get(first.id)!, iv)
      cipher.setAAD(Buffer.from(context, 'utf8'))
      const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()])
      return [VERSION, first.id, iv.toString('base64url'), data.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.')
    },

    decrypt(ciphertext, context) {
      const { keyId, iv, data, tag } = parse(ciphertext)
      const key = byId.get(keyId)
      if (!key) throw new AppError('crypto.unknown-key', `token was encrypted with key "${keyId}", which TOKEN_ENCRYPTION_KEYS no longer has`)
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, iv)
        decipher.setAAD(Buffer.from(context, 'utf8'))
        decipher.setAuthTag(tag)
        return Buffer.concat([decipher.update(data), decipher.final()]).toString('utf8')
      } catch (err) {
        throw new AppError('crypto.invalid-ciphertext', 'token ciphertext does not authenticate (tampered, or another context)', { cause: err })
      }
    },

    keyIdOf: (ciphertext) => parse(ciphertext).keyId,
  }
}

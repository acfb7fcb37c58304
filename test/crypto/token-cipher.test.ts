import t from 'tap'
import { Secret } from '../../src/config.ts'
import { createTokenCipher } from '../../src/crypto/index.ts'

const key = (id: string, fill: number) => ({ id, key: new Secret(Buffer.alloc(32, fill).toString('base64')) })
const TOKEN = '00Dxx0000001gPL!AR8AQJXg5oj8jXSgxJfA0lBog'

t.test('round trip; the ciphertext holds nothing of the token', async (t) => {
  const cipher = createTokenCipher([key('k1', 1)])
  const enc = cipher.encrypt(TOKEN, 'm_1:access')
  t.match(enc, /^v1\.k1\./)
  t.notOk(enc.includes(TOKEN))
  t.notOk(enc.includes(Buffer.from(TOKEN).toString('base64')))
  t.equal(cipher.decrypt(enc, 'm_1:access'), TOKEN)
  t.not(cipher.encrypt(TOKEN, 'm_1:access'), enc, 'a fresh IV every time')
  t.equal(cipher.keyIdOf(enc), 'k1')
})

t.test('bound to its context and tamper-evident', async (t) => {
  const cipher = createTokenCipher([key('k1', 1)])
  const enc = cipher.encrypt(TOKEN, 'm_1:refresh')
  t.throws(() => cipher.decrypt(enc, 'm_2:refresh'), { code: 'crypto.invalid-ciphertext' })
  t.throws(() => cipher.decrypt(enc, 'm_1:access'), { code: 'crypto.invalid-ciphertext' })
  const parts = enc.split('.')
  parts[3] = Buffer.from('x' + Buffer.from(parts[3]!, 'base64url').toString('latin1').slice(1), 'latin1').toString('base64url')
  t.throws(() => cipher.decrypt(parts.join('.'), 'm_1:refresh'), { code: 'crypto.invalid-ciphertext' })
  t.throws(() => cipher.decrypt('plain-token', 'm_1:refresh'), { code: 'crypto.invalid-ciphertext' })
})

t.test('key rotation: old ciphertexts still decrypt, new ones use the new key', async (t) => {
  const before = createTokenCipher([key('old', 1)])
  const oldEnc = before.encrypt(TOKEN, 'm_1:access')
  const rotated = createTokenCipher([key('new', 2), key('old', 1)])
  t.equal(rotated.currentKeyId, 'new')
  t.equal(rotated.decrypt(oldEnc, 'm_1:access'), TOKEN)
  t.equal(rotated.keyIdOf(rotated.encrypt(TOKEN, 'm_1:access')), 'new')
  const dropped = createTokenCipher([key('new', 2)])
  t.throws(() => dropped.decrypt(oldEnc, 'm_1:access'), { code: 'crypto.unknown-key', message: /"old"/ })
})

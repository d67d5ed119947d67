import { createHmac, randomInt } from 'node:crypto'
import { deriveKey } from '../crypto/aead.js'

// RFC 8628 §6.1: a user code is typed by a person on a second device. The RFC's suggested
// 20 consonants (no vowels, so no accidental words; no digits to confuse with letters):
// 20^8 ≈ 2.6e10 codes, and rate limits stop guessing long before a brute force gets anywhere.
const ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ'
const LENGTH = 8

/** A new user code, normalised (no dash): display it with {@link formatUserCode}. */
export function generateUserCode(): string {
  let code = ''
  for (let i = 0; i < LENGTH; i++) code += ALPHABET[randomInt(ALPHABET.length)]
  return code
}

/** `WDJBMJHT` → `WDJB-MJHT`. */
export function formatUserCode(code: string): string {
  return `${code.slice(0, 4)}-${code.slice(4)}`
}

/**
 * What a person typed → the stored form: case-insensitive, dashes and spaces ignored. Undefined
 * when it cannot be a user code, so a typo gets a clear message without a lookup.
 */
export function normaliseUserCode(input: string): string | undefined {
  const code = input.toUpperCase().replace(/[\s-]/g, '')
  if (code.length !== LENGTH) return undefined
  for (const ch of code) if (!ALPHABET.includes(ch)) return undefined
  return code
}

/**
 * The stored form of a normalised user code: an HMAC under a key derived from the service
 * secret, so a database dump holds no code that could approve a pending device. Keyed, because
 * 20^8 codes are too few for a plain hash: an offline search of SHA-256 over all of them takes
 * seconds. Deterministic, so the unique index and the lookup by code work as before.
 *
 * @param pageKey the service's page key (`deps.pageKey`, derived from EVERGREEN_SECRET)
 * @example
 * await store.getDeviceCodeByUserCode(userCodeDigest(deps.pageKey, normaliseUserCode(typed)!))
 * @see https://www.rfc-editor.org/rfc/rfc8628#section-5.1
 */
export function userCodeDigest(pageKey: Uint8Array, code: string): string {
  return createHmac('sha256', deriveKey(pageKey, 'evergreen/user-code/v1')).update(code, 'utf8').digest('hex')
}

import { encodeBase64url } from './base64url.js'
import { crc32 } from './crc32.js'

/** The prefix every Evergreen refresh token starts with, so secret scanners can match it. */
export const REFRESH_TOKEN_PREFIX = 'egr_'

/** Bytes of randomness in a refresh token: 256 bits (docs/architecture.md "The session model"). */
export const REFRESH_TOKEN_ENTROPY_BYTES = 32

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
const CHECKSUM_LENGTH = 6
// egr_ + 43 base64url chars (32 bytes) + 6 base62 checksum chars.
const PATTERN = /^egr_([A-Za-z0-9_-]{43})([0-9A-Za-z]{6})$/

function base62(n: number): string {
  let out = ''
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = BASE62[n % 62]! + out
    n = Math.floor(n / 62)
  }
  return out
}

/**
 * Formats 32 random bytes as a refresh token: `egr_<base64url body><base62 crc32 checksum>`.
 * The checksum lets a client reject a truncated or mangled paste without a network call,
 * the way GitHub's token format does.
 *
 * @param random exactly {@link REFRESH_TOKEN_ENTROPY_BYTES} bytes from a CSPRNG
 * @example formatRefreshToken(crypto.getRandomValues(new Uint8Array(32)))
 */
export function formatRefreshToken(random: Uint8Array): string {
  if (random.length !== REFRESH_TOKEN_ENTROPY_BYTES) {
    throw Object.assign(new TypeError(`refresh token needs ${REFRESH_TOKEN_ENTROPY_BYTES} random bytes`), {
      code: 'ERR_INVALID_ARG_VALUE',
    })
  }
  const body = REFRESH_TOKEN_PREFIX + encodeBase64url(random)
  return body + base62(crc32(body))
}

/**
 * True when `value` has the refresh-token shape and its checksum matches. Says nothing about
 * whether the server still accepts it.
 *
 * @example isWellFormedRefreshToken('egr_…') // false for a paste that lost its last characters
 */
export function isWellFormedRefreshToken(value: string): boolean {
  const m = PATTERN.exec(value)
  if (!m) return false
  return base62(crc32(REFRESH_TOKEN_PREFIX + m[1]!)) === m[2]
}

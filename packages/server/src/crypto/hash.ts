import { createHash, timingSafeEqual } from 'node:crypto'

/**
 * SHA-256 hex of a high-entropy secret (refresh token, client secret, admin key). A slow
 * password hash buys nothing for 256 random bits and would cost the refresh path ~50 ms.
 */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex')
}

/** Constant-time check that `secret` hashes to `expectedHash`. */
export function secretMatches(secret: string, expectedHash: string): boolean {
  const a = Buffer.from(hashSecret(secret), 'hex')
  const b = Buffer.from(expectedHash, 'hex')
  return a.length === b.length && timingSafeEqual(a, b)
}

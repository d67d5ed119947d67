import { randomBytes } from 'node:crypto'
import { formatRefreshToken, REFRESH_TOKEN_ENTROPY_BYTES } from '@evergreen/core'

/** Randomness the service uses, injectable so tests control ids and tokens. */
export interface Random {
  /** A new unique id with a readable prefix, e.g. `ses_…`. */
  id(prefix: string): string
  /** A new refresh token in the `egr_` format. */
  refreshToken(): string
  /** A new opaque secret with a prefix (client secrets, admin keys). */
  secret(prefix: string): string
  /** `n` fresh random bytes (the salt a refresh token's successor is derived with). */
  bytes(n: number): Buffer
}

// Pooling randomBytes: one 4 KiB call serves ~100 refreshes (the successor's salt, two ids),
// where a crypto.randomBytes call of its own costs ≈ 5 µs (bench/RESULTS.md).
function createPool(size = 4096) {
  let pool = randomBytes(size)
  let offset = 0
  return (n: number): Buffer => {
    if (offset + n > pool.length) {
      pool = randomBytes(size)
      offset = 0
    }
    const out = Buffer.from(pool.subarray(offset, offset + n))
    pool.fill(0, offset, offset + n)
    offset += n
    return out
  }
}

/**
 * Production randomness from node:crypto. Ids sort by creation (ULID-style: milliseconds, then a
 * counter within the millisecond, then 64 random bits), so lists and audit trails keyed on
 * (time, id) keep insertion order for events within the same second.
 */
export function createRandom(clockMs: () => number = Date.now): Random {
  const take = createPool()
  let lastMs = 0
  let counter = 0
  return {
    id: (prefix) => {
      const ms = Math.max(clockMs(), lastMs)
      counter = ms === lastMs ? counter + 1 : 0
      lastMs = ms
      const time = ms.toString(36).padStart(9, '0') + counter.toString(36).padStart(4, '0')
      return `${prefix}_${time}${take(8).toString('hex')}`
    },
    refreshToken: () => formatRefreshToken(take(REFRESH_TOKEN_ENTROPY_BYTES)),
    secret: (prefix) => `${prefix}_${take(32).toString('base64url')}`,
    bytes: take,
  }
}

import { createHmac } from 'node:crypto'
import { formatRefreshToken } from '@evergreen/core'
import { expandKey, open } from '../crypto/aead.js'
import type { Random } from '../crypto/random.js'

// docs/architecture.md "Refresh rotation" (rule 5, idempotent grace): whoever presents a spent
// token again within the grace window gets its successor back, and nobody else can recover it,
// a reader of the database included. The successor is derived from the spent token and a random
// salt, HMAC-SHA256(key = spent token, INFO | salt), in the refresh-token format; the spent row
// keeps only the salt. The store holds the spent token as its hash alone, so the salt derives
// nothing without the token, and the token derives nothing without the salt. One HMAC per
// rotation, where sealing a random successor took a derived key and AES-256-GCM (≈ 12 µs of CPU
// per rotation; bench/RESULTS.md).

const INFO = 'evergreen/refresh-successor/v2'
/** Marks a stored salt; a legacy sealed value (base64url) never contains a '.'. */
const DERIVED = 'd2.'
/** The label of the sealed successors written before derivation (see {@link recoverSuccessor}). */
const SEALED_INFO = 'evergreen/refresh-successor/v1'
/** 128 bits: the salt is all that stands between a database reader holding the row and the token. */
const SALT_BYTES = 16

export interface Successor {
  /** The new refresh token, handed to the client once and stored only as its hash. */
  token: string
  /** What the spent token's row keeps so a replay can recover `token` (its `successor_sealed`). */
  stored: string
}

/** The successor of `spentToken`, derived with a fresh salt from `random`. */
export function deriveSuccessor(spentToken: string, random: Pick<Random, 'bytes'>): Successor {
  const salt = random.bytes(SALT_BYTES)
  return { token: derive(spentToken, salt), stored: DERIVED + salt.toString('base64url') }
}

/**
 * The successor recorded for a spent token, recovered with the presented token, which must be the
 * spent token itself (the caller found the row by its hash). Rows spent before successors were
 * derived hold the successor sealed under a key derived from the spent token and bound to its
 * hash: those open as before (only during the first grace window after an upgrade do any remain
 * replayable). Undefined when a sealed value does not open.
 */
export function recoverSuccessor(presentedToken: string, spentHash: string, stored: string): string | undefined {
  if (stored.startsWith(DERIVED)) return derive(presentedToken, Buffer.from(stored.slice(DERIVED.length), 'base64url'))
  return open(expandKey(presentedToken, SEALED_INFO), stored, spentHash)
}

function derive(spentToken: string, salt: Buffer): string {
  return formatRefreshToken(createHmac('sha256', spentToken).update(INFO).update(salt).digest())
}

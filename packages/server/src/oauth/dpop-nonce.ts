import { createHmac, timingSafeEqual } from 'node:crypto'
import { deriveKey } from '../crypto/aead.js'

/** A nonce names a 5-minute bucket of the clock; the current and the previous one are accepted. */
export const DPOP_NONCE_BUCKET_SECONDS = 300

const keys = new WeakMap<Buffer, Buffer>()

// Derived from the page key (itself from EVERGREEN_SECRET), so every node of a deployment mints
// and accepts the same nonces without sharing state (RFC 9449 §8: the server decides what a nonce
// is). HKDF once per process, not per request.
function nonceKey(pageKey: Buffer): Buffer {
  let key = keys.get(pageKey)
  if (!key) keys.set(pageKey, (key = deriveKey(pageKey, 'evergreen/dpop-nonce/v1')))
  return key
}

function nonceFor(pageKey: Buffer, bucket: number): string {
  return createHmac('sha256', nonceKey(pageKey)).update(`dpop-nonce:${bucket}`).digest('base64url')
}

/**
 * The server's current DPoP nonce (RFC 9449 §8): HMAC of the current 5-minute bucket, so it
 * rotates by itself and any node can check it. Sent in `DPoP-Nonce`.
 *
 * @example currentDpopNonce(deps.pageKey, deps.now())
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-8
 */
export function currentDpopNonce(pageKey: Buffer, now: number): string {
  return nonceFor(pageKey, Math.floor(now / DPOP_NONCE_BUCKET_SECONDS))
}

/**
 * True when `presented` is the nonce of the current or the previous bucket: a nonce lives 5 to 10
 * minutes, so a client that fetched one just before a bucket turned is not bounced at once.
 * Constant-time comparison.
 */
export function isValidDpopNonce(pageKey: Buffer, now: number, presented: string | undefined): boolean {
  if (presented === undefined || presented.length !== 43) return false
  const bucket = Math.floor(now / DPOP_NONCE_BUCKET_SECONDS)
  const given = Buffer.from(presented)
  let ok = false
  for (const b of [bucket, bucket - 1]) {
    const expected = Buffer.from(nonceFor(pageKey, b))
    // Both checked every time, so timing does not tell which bucket matched.
    if (expected.length === given.length && timingSafeEqual(expected, given)) ok = true
  }
  return ok
}

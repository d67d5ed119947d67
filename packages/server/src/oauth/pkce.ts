import { createHash, timingSafeEqual } from 'node:crypto'

// RFC 7636 §4.1: 43–128 characters from the unreserved set.
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/

/** True when `challenge` is a well-formed S256 challenge (base64url of a SHA-256). */
export function isS256Challenge(challenge: string): boolean {
  return CHALLENGE.test(challenge)
}

/**
 * Checks a code_verifier against an S256 challenge in constant time. `plain` is never accepted:
 * it protects nothing against an attacker who saw the authorization request.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7636#section-4.6
 */
export function verifyS256(verifier: string, challenge: string): boolean {
  if (!VERIFIER.test(verifier)) return false
  const computed = Buffer.from(createHash('sha256').update(verifier, 'ascii').digest('base64url'))
  const expected = Buffer.from(challenge)
  return computed.length === expected.length && timingSafeEqual(computed, expected)
}

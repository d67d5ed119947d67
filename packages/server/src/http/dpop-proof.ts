import { DpopProofError, OAuthError, verifyDpopProof, type VerifiedDpopProof } from '@evergreen/core'
import { currentDpopNonce, isValidDpopNonce } from '../oauth/dpop-nonce.js'
import type { Settings } from '../settings.js'
import type { Store } from '../store/types.js'
import type { RequestHead } from './oauth-endpoint.js'

/** What checking a DPoP proof needs from the service. */
export interface DpopDeps {
  now(): number
  store: Pick<Store, 'useClientAssertion'>
  settings: Pick<Settings, 'issuer' | 'dpopNonce' | 'dpopIatWindowSeconds'>
  /** The nonce key is derived from it (oauth/dpop-nonce.ts). */
  pageKey: Buffer
}

/** Where a proof is checked: the method, the published URL, the presented access token (RFC 9449 §7). */
export interface DpopTarget {
  method: 'GET' | 'POST'
  /** Path under the issuer, e.g. `/oauth/token`: htu is built from settings, never the Host header. */
  path: string
  accessToken?: string
  /** Ask for the server nonce (RFC 9449 §8) when the nonce setting is on. */
  nonce: boolean
}

/**
 * The jti replay cache's namespace in the `client_assertions` table (migration 11), which it shares
 * with private_key_jwt: one atomic "first use of this id, until then" mechanism, pruned by
 * maintenance. Keyed per key thumbprint, so nobody can burn another key's ids.
 */
export const DPOP_JTI_NAMESPACE = 'dpop:'

/**
 * Reads the `DPoP` header of `req` and verifies it (core's verifyDpopProof), then records its
 * `jti` in the store, shared by every node, so each proof is accepted once (RFC 9449 §11.1).
 * Undefined when the request has no DPoP header: costs nothing on a plain Bearer request.
 *
 * @throws OAuthError `invalid_dpop_proof` (400), or `use_dpop_nonce` (400) with a fresh
 *   `DPoP-Nonce` header; nothing is written for a refused proof.
 * @example const proof = await checkDpopProof(deps, request.req, { method: 'POST', path: '/oauth/token', nonce: true })
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 */
export async function checkDpopProof(deps: DpopDeps, req: RequestHead, target: DpopTarget): Promise<VerifiedDpopProof | undefined> {
  const header = req.headers.get('dpop')
  if (header === null) return undefined
  // Headers joins repeated fields with ", "; a compact JWS has no comma. RFC 9449 §4.3 check 1:
  // exactly one DPoP header.
  if (header.includes(',')) throw invalidProof('exactly one DPoP header is allowed')
  const now = deps.now()
  const window = deps.settings.dpopIatWindowSeconds
  let proof: VerifiedDpopProof
  try {
    proof = await verifyDpopProof({
      proof: header.trim(),
      method: target.method,
      url: `${deps.settings.issuer}${target.path}`,
      now,
      iatWindowSeconds: window,
      ...(target.accessToken === undefined ? {} : { accessToken: target.accessToken }),
      ...(target.nonce && deps.settings.dpopNonce ? { nonce: (n: string | undefined) => isValidDpopNonce(deps.pageKey, now, n) } : {}),
    })
  } catch (err) {
    if (!(err instanceof DpopProofError)) throw err
    if (err.isNonceError) {
      throw new OAuthError('use_dpop_nonce', 'Authorization server requires nonce in DPoP proof', {
        headers: { 'dpop-nonce': currentDpopNonce(deps.pageKey, now) },
        detail: err.code,
      })
    }
    throw invalidProof(err.message, err.code)
  }
  // After the signature: only a valid proof can write a row. Kept until the proof's iat leaves the
  // window, after which the iat check refuses it by itself.
  if (!(await deps.store.useClientAssertion(`${DPOP_JTI_NAMESPACE}${proof.jkt}`, proof.jti, proof.iat + window + 1))) {
    throw invalidProof('DPoP proof was already used', 'DPOP_REPLAYED')
  }
  return proof
}

/** The `DPoP-Nonce` header to send with a success, so a client holds a fresh nonce before the old one lapses. */
export function dpopNonceHeader(deps: DpopDeps): Record<string, string> {
  return deps.settings.dpopNonce ? { 'dpop-nonce': currentDpopNonce(deps.pageKey, deps.now()) } : {}
}

function invalidProof(description: string, detail?: string): OAuthError {
  return new OAuthError('invalid_dpop_proof', description, detail === undefined ? {} : { detail })
}

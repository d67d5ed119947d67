import { OAuthError } from '@evergreen/core'
import type { ClientRecord } from '../store/types.js'

/**
 * The key a new session is bound to (RFC 9449 §5): a public client that presents a valid proof
 * gets a key-bound refresh token. A confidential client's refresh token is already bound to its
 * client authentication (RFC 9449 §5, last paragraph), so its session stays unbound and each
 * refresh may present whatever key its access token should carry.
 *
 * @example prepareSession(deps, { ..., dpopJkt: sessionDpopJkt(client, proof?.jkt) })
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5
 */
export function sessionDpopJkt(client: ClientRecord, proofJkt: string | undefined): string | null {
  return proofJkt !== undefined && client.token_endpoint_auth_method === 'none' ? proofJkt : null
}

/**
 * The `cnf` of an access token issued now: bound to the proof's key when the client asked for
 * DPoP-bound access tokens (`dpop_bound_access_tokens`), else a Bearer token even if the refresh
 * token is bound, for resource servers that do not check DPoP yet.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-6.1
 */
export function accessTokenCnf(client: ClientRecord, proofJkt: string | undefined): { jkt: string } | undefined {
  return proofJkt !== undefined && client.dpop_bound_access_tokens === true ? { jkt: proofJkt } : undefined
}

/**
 * Refuses a code (authorization or device) bound to a DPoP key unless the request's proof is made
 * with that key (RFC 9449 §10). No proof: `invalid_dpop_proof`; another key: `invalid_grant`,
 * since the proof is valid but the grant is not this presenter's.
 *
 * @example requireBoundKey(record.dpop_jkt, ctx.dpop?.jkt, 'authorization code')
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-10
 */
export function requireBoundKey(bound: string | null | undefined, proofJkt: string | undefined, what: string): void {
  if (bound == null || bound === proofJkt) return
  if (proofJkt === undefined) throw new OAuthError('invalid_dpop_proof', `this ${what} is bound to a DPoP key; send a DPoP proof made with it`)
  throw new OAuthError('invalid_grant', `${what} is bound to another DPoP key`)
}

/** The `cnf.jkt` of a verified access token's claims (RFC 9449 §6.1), if it is DPoP-bound. */
export function boundJkt(payload: Record<string, unknown>): string | undefined {
  const cnf = payload.cnf
  if (cnf === null || typeof cnf !== 'object') return undefined
  const jkt = (cnf as Record<string, unknown>).jkt
  return typeof jkt === 'string' ? jkt : undefined
}

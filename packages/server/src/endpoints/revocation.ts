import { isWellFormedRefreshToken, OAuthError } from '@evergreen/core'
import { auditEvent, type Requester } from '../audit.js'
import { hashSecret } from '../crypto/hash.js'
import type { Deps } from '../deps.js'
import { authenticateClient } from '../http/client-auth.js'
import { checkDpopProof, dpopNonceHeader } from '../http/dpop-proof.js'
import { oauthEndpoint, type RequestHead } from '../http/oauth-endpoint.js'
import type { RateLimit } from '../http/rate-limit.js'
import type { ClientRecord } from '../store/types.js'
import { boundJkt } from '../sessions/dpop-binding.js'
import { revokeSession } from '../sessions/revoke.js'

/** The revocation endpoint's path under the issuer, as discovery publishes it (and DPoP's `htu` names). */
export const REVOCATION_PATH = '/oauth/revoke'

/**
 * RFC 7009 revocation. A refresh token revokes its whole session (and what was delegated from
 * it); an access token revokes the session it belongs to, or, when it has none
 * (client_credentials), is denied by its `jti` until it expires. Unknown, expired or garbage
 * tokens get 200 as §2.2 requires, so the endpoint says nothing about which tokens exist.
 *
 * A token bound to a DPoP key (any token of a bound session, an access token with `cnf.jkt`)
 * presented by a public client is revoked only with a proof of that key (docs/architecture.md
 * "DPoP binding"): otherwise anyone who copied the token could log its owner out.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7009#section-2
 */
export function revocationEndpoint(deps: Deps, rateLimit: RateLimit) {
  return oauthEndpoint(deps, rateLimit, 'revocationEndpoint', async ({ req, form, client: presented, requester }) => {
    const client = await authenticateClient(deps.store, presented)
    const token = form.get('token')
    if (token === undefined) throw new OAuthError('invalid_request', 'token is required')
    const target = await targetOf(deps, token)
    let proved = false
    if (target?.kind === 'session') {
      const session = await deps.store.getSession(target.sessionId)
      if (session && session.client_id !== client.client_id) {
        throw new OAuthError('unauthorized_client', 'token was issued to another client')
      }
      // Before the revoked check, as at the token endpoint: a presenter without the key learns
      // nothing about the session's state. The session's key governs, not the token's: a Bearer
      // access token of a bound session would otherwise let whoever copied it end the session.
      if (session) proved = await requireHolderProof(deps, req, client, session.dpop_jkt ?? target.jkt)
      if (session && session.revoked_at === null) {
        await revokeSession(deps, session, 'revoked_by_client', requester)
      }
    } else if (target?.kind === 'access_token') {
      // §2.1: the server verifies that the token was issued to the client making the request.
      if (target.clientId !== client.client_id) throw new OAuthError('unauthorized_client', 'token was issued to another client')
      proved = await requireHolderProof(deps, req, client, target.jkt)
      await denyAccessToken(deps, client, target, requester)
    }
    // As at the token endpoint: a response to a proof carries the current nonce (RFC 9449 §8.2).
    return new Response(null, { status: 200, headers: { 'cache-control': 'no-store', ...(proved ? dpopNonceHeader(deps) : {}) } })
  })
}

/**
 * A public client revokes a DPoP-bound token only with a proof of its key, checked exactly as at
 * the token endpoint (`checkDpopProof`: the shared jti replay cache, the nonce when it is on),
 * with `htu` this endpoint's published URL. No proof is `invalid_dpop_proof`; a valid proof of
 * another key is `invalid_grant` / `dpop_key_mismatch`, as a refresh would get. Either way nothing
 * is revoked, so a copy of the token without the key cannot log the owner out. A confidential
 * client's authentication already proves the caller, and an unbound token needs nothing: for
 * both nothing is read or checked here, as before. True when a proof was checked.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5
 */
async function requireHolderProof(deps: Deps, req: RequestHead, client: ClientRecord, jkt: string | undefined): Promise<boolean> {
  if (jkt === undefined || client.token_endpoint_auth_method !== 'none') return false
  const proof = await checkDpopProof(deps, req, { method: 'POST', path: REVOCATION_PATH, nonce: true })
  if (proof === undefined) {
    throw new OAuthError('invalid_dpop_proof', 'this token is bound to a DPoP key; to revoke it, send a DPoP proof made with that key', {
      headers: dpopNonceHeader(deps),
    })
  }
  if (proof.jkt !== jkt) throw new OAuthError('invalid_grant', 'token is bound to another DPoP key', { reason: 'dpop_key_mismatch' })
  return true
}

/** `jkt`: the DPoP key the token is bound to, if any. */
type Target =
  | { kind: 'session'; sessionId: string; jkt: string | undefined }
  | { kind: 'access_token'; jti: string; clientId: unknown; exp: number; jkt: string | undefined }

/** What a token revokes, or undefined for anything we did not issue or cannot verify. */
async function targetOf(deps: Deps, token: string): Promise<Target | undefined> {
  if (isWellFormedRefreshToken(token)) {
    const view = await deps.store.findRefreshToken(hashSecret(token))
    return view && { kind: 'session', sessionId: view.session.id, jkt: view.session.dpop_jkt ?? undefined }
  }
  try {
    // Only refresh and access tokens are revocable (RFC 7009 §2.1). An ID token carries the same
    // `sid`, but it is handed to relying parties and front ends, so it must not end a session.
    const { payload } = await deps.keys.verify(token, { issuer: deps.settings.issuer, typ: 'at+jwt' })
    // `cnf.jkt` binds the token itself; a session target also needs its session's key, checked
    // by the caller once the session is read (docs/architecture.md "DPoP binding").
    const jkt = boundJkt(payload)
    if (typeof payload.sid === 'string') return { kind: 'session', sessionId: payload.sid, jkt }
    if (typeof payload.jti === 'string' && typeof payload.exp === 'number') {
      return { kind: 'access_token', jti: payload.jti, clientId: payload.client_id, exp: payload.exp, jkt }
    }
    return undefined
  } catch {
    return undefined
  }
}

/**
 * A session-less access token has nothing in the store to revoke, so its `jti` goes on a
 * deny-list that introspection and userinfo consult, kept until the token's own `exp` (after
 * which the signature check refuses it anyway) and then pruned.
 */
async function denyAccessToken(deps: Deps, client: ClientRecord, target: Extract<Target, { kind: 'access_token' }>, requester: Requester) {
  await deps.store.denyAccessToken(target.jti, target.exp, auditEvent(deps, 'access_token.revoked', {
    client_id: client.client_id,
    ...requester,
    data: { jti: target.jti, exp: target.exp },
  }))
}

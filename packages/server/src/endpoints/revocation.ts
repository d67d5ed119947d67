import { isWellFormedRefreshToken, OAuthError } from '@evergreen/core'
import { auditEvent, type Requester } from '../audit.js'
import { hashSecret } from '../crypto/hash.js'
import type { Deps } from '../deps.js'
import { authenticateClient } from '../http/client-auth.js'
import { oauthEndpoint } from '../http/oauth-endpoint.js'
import type { RateLimit } from '../http/rate-limit.js'
import type { ClientRecord } from '../store/types.js'
import { revokeSession } from '../sessions/revoke.js'

/**
 * RFC 7009 revocation. A refresh token revokes its whole session (and what was delegated from
 * it); an access token revokes the session it belongs to, or, when it has none
 * (client_credentials), is denied by its `jti` until it expires. Unknown, expired or garbage
 * tokens get 200 as §2.2 requires, so the endpoint says nothing about which tokens exist.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7009#section-2
 */
export function revocationEndpoint(deps: Deps, rateLimit: RateLimit) {
  return oauthEndpoint(deps, rateLimit, 'revocationEndpoint', async ({ form, client: presented, requester }) => {
    const client = await authenticateClient(deps.store, presented)
    const token = form.get('token')
    if (token === undefined) throw new OAuthError('invalid_request', 'token is required')
    const target = await targetOf(deps, token)
    if (target?.kind === 'session') {
      const session = await deps.store.getSession(target.sessionId)
      if (session && session.client_id !== client.client_id) {
        throw new OAuthError('unauthorized_client', 'token was issued to another client')
      }
      if (session && session.revoked_at === null) {
        await revokeSession(deps, session, 'revoked_by_client', requester)
      }
    } else if (target?.kind === 'access_token') {
      await denyAccessToken(deps, client, target, requester)
    }
    return new Response(null, { status: 200, headers: { 'cache-control': 'no-store' } })
  })
}

type Target = { kind: 'session'; sessionId: string } | { kind: 'access_token'; jti: string; clientId: unknown; exp: number }

/** What a token revokes, or undefined for anything we did not issue or cannot verify. */
async function targetOf(deps: Deps, token: string): Promise<Target | undefined> {
  if (isWellFormedRefreshToken(token)) {
    const view = await deps.store.findRefreshToken(hashSecret(token))
    return view && { kind: 'session', sessionId: view.session.id }
  }
  try {
    // Only refresh and access tokens are revocable (RFC 7009 §2.1). An ID token carries the same
    // `sid`, but it is handed to relying parties and front ends, so it must not end a session.
    const { payload } = await deps.keys.verify(token, { issuer: deps.settings.issuer, typ: 'at+jwt' })
    if (typeof payload.sid === 'string') return { kind: 'session', sessionId: payload.sid }
    if (typeof payload.jti === 'string' && typeof payload.exp === 'number') {
      return { kind: 'access_token', jti: payload.jti, clientId: payload.client_id, exp: payload.exp }
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
  // §2.1: the server verifies that the token was issued to the client making the request.
  if (target.clientId !== client.client_id) throw new OAuthError('unauthorized_client', 'token was issued to another client')
  await deps.store.denyAccessToken(target.jti, target.exp, auditEvent(deps, 'access_token.revoked', {
    client_id: client.client_id,
    ...requester,
    data: { jti: target.jti, exp: target.exp },
  }))
}

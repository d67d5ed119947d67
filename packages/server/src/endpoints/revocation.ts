import { isWellFormedRefreshToken, OAuthError } from '@evergreen/core'
import { auditEvent } from '../audit.js'
import { hashSecret } from '../crypto/hash.js'
import type { Deps } from '../deps.js'
import { authenticateClient } from '../http/client-auth.js'
import { oauthEndpoint } from '../http/oauth-endpoint.js'
import type { RateLimit } from '../http/rate-limit.js'

/**
 * RFC 7009 revocation. A refresh token revokes its whole session (and what was delegated from
 * it); an access token revokes the session it belongs to. Unknown, expired or garbage tokens get
 * 200 as §2.2 requires, so the endpoint says nothing about which tokens exist.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7009#section-2
 */
export function revocationEndpoint(deps: Deps, rateLimit: RateLimit) {
  return oauthEndpoint(deps, rateLimit, 'revocationEndpoint', async ({ form, client: presented, requester }) => {
    const client = await authenticateClient(deps.store, presented)
    const token = form.get('token')
    if (token === undefined) throw new OAuthError('invalid_request', 'token is required')
    const sessionId = await sessionOf(deps, token)
    if (sessionId) {
      const session = await deps.store.getSession(sessionId)
      if (session && session.client_id !== client.client_id) {
        throw new OAuthError('unauthorized_client', 'token was issued to another client')
      }
      if (session && session.revoked_at === null) {
        await deps.store.revokeSession(
          session.id,
          deps.now(),
          'revoked_by_client',
          auditEvent(deps, 'session.revoked', {
            session_id: session.id,
            user_id: session.user_id,
            client_id: client.client_id,
            ...requester,
            data: { reason: 'revoked_by_client' },
          }),
        )
      }
    }
    return new Response(null, { status: 200, headers: { 'cache-control': 'no-store' } })
  })
}

/** The session a token belongs to, or undefined for anything we did not issue or cannot verify. */
async function sessionOf(deps: Deps, token: string): Promise<string | undefined> {
  if (isWellFormedRefreshToken(token)) return (await deps.store.findRefreshToken(hashSecret(token)))?.session.id
  try {
    // Only refresh and access tokens are revocable (RFC 7009 §2.1). An ID token carries the same
    // `sid`, but it is handed to relying parties and front ends, so it must not end a session.
    const { payload } = await deps.keys.verify(token, { issuer: deps.settings.issuer, typ: 'at+jwt' })
    return typeof payload.sid === 'string' ? payload.sid : undefined
  } catch {
    return undefined
  }
}

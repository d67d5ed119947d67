import { isWellFormedRefreshToken, OAuthError } from '@evergreen/core'
import { hashSecret } from '../crypto/hash.js'
import type { Deps } from '../deps.js'
import { authenticateClient } from '../http/client-auth.js'
import { noStoreJson } from '../http/errors.js'
import { oauthEndpoint } from '../http/oauth-endpoint.js'
import type { RateLimit } from '../http/rate-limit.js'
import { sessionScopeNow } from '../oauth/scope.js'
import { accessTokenState, sessionLive } from '../sessions/access-token-state.js'
import { boundJkt } from '../sessions/dpop-binding.js'
import type { SessionRecord } from '../store/types.js'

const INACTIVE = { active: false } as const

/**
 * RFC 7662 introspection for resource servers. Callers authenticate as a confidential client
 * (a public client's id proves nothing). Access tokens are verified from local keys, then checked
 * against the store (client not deleted, session live and matching `sub`, `jti` not revoked), so
 * a revocation shows at once rather than when the JWT expires.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7662#section-2
 */
export function introspectionEndpoint(deps: Deps, rateLimit: RateLimit) {
  return oauthEndpoint(deps, rateLimit, 'introspectionEndpoint', async ({ form, client: presented }) => {
    if (presented.method === 'none') {
      throw new OAuthError('invalid_client', 'introspection requires client authentication', { status: 401 })
    }
    await authenticateClient(deps.store, presented)
    const token = form.get('token')
    if (token === undefined) throw new OAuthError('invalid_request', 'token is required')
    return noStoreJson(await introspect(deps, token))
  })
}

async function introspect(deps: Deps, token: string): Promise<Record<string, unknown>> {
  const now = deps.now()
  if (isWellFormedRefreshToken(token)) {
    const view = await deps.store.findRefreshToken(hashSecret(token))
    if (!view || view.token.spent_at !== null || view.token.expires_at <= now || !sessionLive(view.session, now)) return INACTIVE
    return {
      active: true,
      token_type: 'refresh_token',
      scope: sessionScopeNow(view.session, view.client),
      client_id: view.session.client_id,
      sub: view.session.user_id ?? view.session.client_id,
      iss: deps.settings.issuer,
      iat: view.token.created_at,
      exp: view.token.expires_at,
      sid: view.session.id,
      ...delegation(view.session),
      // RFC 9449 §6.2: the key a bound session's refresh token must be presented with.
      ...(view.session.dpop_jkt == null ? {} : { cnf: { jkt: view.session.dpop_jkt } }),
    }
  }
  let payload: Record<string, unknown>
  try {
    payload = (await deps.keys.verify(token, { issuer: deps.settings.issuer, typ: 'at+jwt' })).payload
  } catch {
    return INACTIVE
  }
  const state = await accessTokenState(deps, payload)
  if (!state.live) {
    deps.logger.debug({ reason: state.reason }, 'introspection: access token no longer active')
    return INACTIVE
  }
  const { iss, sub, aud, exp, iat, jti, client_id, scope, sid } = payload
  const jkt = boundJkt(payload)
  return {
    // RFC 9449 §6.2: a bound token is a DPoP token, and its cnf tells the resource server the key.
    active: true, token_type: jkt === undefined ? 'Bearer' : 'DPoP', iss, sub, aud, exp, iat, jti, client_id, scope, sid,
    ...(state.session ? delegation(state.session) : {}),
    ...(jkt === undefined ? {} : { cnf: { jkt } }),
  }
}

/**
 * RFC 8693 §4.1 `act` (who acts for `sub`) and Evergreen's `parent_sid` (the session it was
 * delegated from), so a resource server can tell an agent from the person and see the chain.
 */
function delegation(session: SessionRecord): { act?: Record<string, unknown>; parent_sid?: string } {
  return {
    ...(session.act === null ? {} : { act: JSON.parse(session.act) as Record<string, unknown> }),
    ...(session.parent_id === null ? {} : { parent_sid: session.parent_id }),
  }
}

import type { Context } from 'hono'
import type { Deps } from '../deps.js'
import { accessTokenState } from '../sessions/access-token-state.js'
import { userinfoClaims } from '../sessions/id-token.js'

/**
 * OIDC userinfo (Core §5.3) for a Bearer access token. Failures follow RFC 6750 §3: 401 with a
 * WWW-Authenticate that names the error.
 */
export function userinfoEndpoint(deps: Deps) {
  return async function userinfoEndpoint(c: Context): Promise<Response> {
    const m = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')
    if (!m) return unauthorized('invalid_request', 'Bearer access token required')
    let payload: Record<string, unknown>
    try {
      payload = (await deps.keys.verify(m[1]!, { issuer: deps.settings.issuer, typ: 'at+jwt' })).payload
    } catch {
      return unauthorized('invalid_token', 'access token is invalid or expired')
    }
    const scope = typeof payload.scope === 'string' ? payload.scope : ''
    if (!scope.split(' ').includes('openid')) return unauthorized('insufficient_scope', 'the openid scope is required', 403)
    const state = await accessTokenState(deps, payload)
    const session = state.live ? state.session : undefined
    if (!session) return unauthorized('invalid_token', 'session has ended')
    const user = session.user_id === null ? undefined : await deps.store.getUser(session.user_id)
    if (!user || user.disabled_at !== null) return unauthorized('invalid_token', 'user is no longer active')
    return c.json(userinfoClaims(user, scope), 200, { 'cache-control': 'no-store' })
  }
}

function unauthorized(error: string, description: string, status = 401): Response {
  return Response.json(
    { error, error_description: description },
    { status, headers: { 'www-authenticate': `Bearer error="${error}", error_description="${description}"`, 'cache-control': 'no-store' } },
  )
}

import { DPOP_SIGNING_ALGS, OAuthError } from '@evergreen/core'
import type { Context } from 'hono'
import type { Deps } from '../deps.js'
import { checkDpopProof } from '../http/dpop-proof.js'
import { accessTokenState } from '../sessions/access-token-state.js'
import { boundJkt } from '../sessions/dpop-binding.js'
import { userinfoClaims } from '../sessions/id-token.js'

/** The endpoint's path under the issuer, as discovery publishes it (a proof's `htu`). */
export const USERINFO_PATH = '/userinfo'

/**
 * OIDC userinfo (Core §5.3) for a Bearer access token, or a DPoP-bound one presented as
 * `Authorization: DPoP <token>` with a proof of its key (RFC 9449 §7). Failures follow RFC 6750 §3
 * (and RFC 9449 §7.1): 401 with a WWW-Authenticate that names the error.
 */
export function userinfoEndpoint(deps: Deps) {
  return async function userinfoEndpoint(c: Context): Promise<Response> {
    const m = /^(Bearer|DPoP)\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')
    if (!m) return unauthorized('invalid_request', 'Bearer access token required')
    const scheme = m[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer'
    const token = m[2]!
    let payload: Record<string, unknown>
    try {
      payload = (await deps.keys.verify(token, { issuer: deps.settings.issuer, typ: 'at+jwt' })).payload
    } catch {
      return unauthorized('invalid_token', 'access token is invalid or expired', 401, scheme)
    }
    const jkt = boundJkt(payload)
    if (jkt !== undefined || scheme === 'DPoP') {
      const refused = await dpopRefusal(deps, c, token, jkt, scheme)
      if (refused) return refused
    }
    const scope = typeof payload.scope === 'string' ? payload.scope : ''
    if (!scope.split(' ').includes('openid')) return unauthorized('insufficient_scope', 'the openid scope is required', 403, scheme)
    const state = await accessTokenState(deps, payload)
    const session = state.live ? state.session : undefined
    if (!session) return unauthorized('invalid_token', 'session has ended', 401, scheme)
    const user = session.user_id === null ? undefined : await deps.store.getUser(session.user_id)
    if (!user || user.disabled_at !== null) return unauthorized('invalid_token', 'user is no longer active', 401, scheme)
    return c.json(userinfoClaims(user, scope), 200, { 'cache-control': 'no-store' })
  }
}

/**
 * RFC 9449 §7.1: a bound token only as `DPoP` with a proof of its key over this request, `ath`
 * included; the DPoP scheme only with a bound token. Undefined when the request passes.
 */
async function dpopRefusal(deps: Deps, c: Context, token: string, jkt: string | undefined, scheme: 'Bearer' | 'DPoP'): Promise<Response | undefined> {
  if (jkt === undefined) return unauthorized('invalid_token', 'access token is not DPoP-bound; send it as Bearer', 401, scheme)
  if (scheme !== 'DPoP') return unauthorized('invalid_token', 'access token is DPoP-bound; send it as DPoP with a proof', 401, 'DPoP')
  const method = c.req.method === 'POST' ? 'POST' : 'GET'
  try {
    const proof = await checkDpopProof(deps, c.req.raw, { method, path: USERINFO_PATH, accessToken: token, nonce: false })
    if (!proof) return unauthorized('invalid_dpop_proof', 'DPoP proof required', 401, 'DPoP')
    if (proof.jkt !== jkt) return unauthorized('invalid_dpop_proof', 'DPoP proof key does not match the access token', 401, 'DPoP')
  } catch (err) {
    if (err instanceof OAuthError) return unauthorized('invalid_dpop_proof', err.description, 401, 'DPoP')
    throw err
  }
  return undefined
}

function unauthorized(error: string, description: string, status = 401, scheme: 'Bearer' | 'DPoP' = 'Bearer'): Response {
  // RFC 9449 §7.1: a DPoP challenge names the algorithms a proof may use.
  const algs = scheme === 'DPoP' ? `, algs="${DPOP_SIGNING_ALGS.join(' ')}"` : ''
  return Response.json(
    { error, error_description: description },
    { status, headers: { 'www-authenticate': `${scheme} error="${error}", error_description="${description}"${algs}`, 'cache-control': 'no-store' } },
  )
}

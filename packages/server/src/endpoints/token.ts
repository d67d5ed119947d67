import { OAuthError } from '@evergreen/core'
import type { Deps } from '../deps.js'
import { authenticateClient } from '../http/client-auth.js'
import { checkDpopProof, dpopNonceHeader } from '../http/dpop-proof.js'
import { noStoreReply, type Reply } from '../http/errors.js'
import { oauthEndpoint, type OAuthRequest } from '../http/oauth-endpoint.js'
import type { RateLimit } from '../http/rate-limit.js'
import { GRANTS } from '../grants/registry.js'

/** The token endpoint's path under the issuer, as discovery publishes it (and DPoP's `htu` names). */
export const TOKEN_PATH = '/oauth/token'

/**
 * The token endpoint (RFC 6749 §3.2) as a Hono route; its logic is {@link tokenHandler}, which the
 * Node entry's fast path (node/token-route.ts) calls too.
 */
export function tokenEndpoint(deps: Deps, rateLimit: RateLimit) {
  return oauthEndpoint(deps, rateLimit, 'tokenEndpoint', tokenHandler(deps))
}

/**
 * The token endpoint's protocol logic: dispatches on grant_type, authenticates the client and
 * checks it may use the grant, once for every grant. A grant's `prepare` runs first when its read
 * also finds the client, so the refresh hot path stays one joined read.
 */
export function tokenHandler(deps: Deps): (request: OAuthRequest) => Promise<Reply> {
  return async function token(request) {
    const grantType = request.form.get('grant_type')
    if (grantType === undefined) throw new OAuthError('invalid_request', 'grant_type is required')
    const grant = GRANTS.get(grantType)
    if (!grant) throw new OAuthError('unsupported_grant_type', 'grant_type is not supported')
    const prepared = await grant.prepare?.(request, deps)
    const client = await authenticateClient(deps.store, request.client, prepared?.client)
    if (!client.grant_types.includes(grant.grantType)) {
      throw new OAuthError('unauthorized_client', `client may not use the ${grant.grantType} grant`)
    }
    // After client authentication, before the grant: a refused proof stops the request before
    // anything is spent, and a request without a DPoP header pays nothing here.
    const dpop = await checkDpopProof(deps, request.req, { method: 'POST', path: TOKEN_PATH, nonce: true })
    if (dpop === undefined && client.require_dpop === true) {
      throw new OAuthError('invalid_dpop_proof', 'this client must send a DPoP proof', { headers: dpopNonceHeader(deps) })
    }
    const reply = noStoreReply(await grant.handle({ req: request.req, form: request.form, requester: request.requester, client, dpop }, deps, prepared?.value))
    if (dpop !== undefined) Object.assign(reply.headers, dpopNonceHeader(deps))
    return reply
  }
}

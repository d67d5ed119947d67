import { OAuthError } from '@evergreen/core'
import type { Deps } from '../deps.js'
import { authenticateClient } from '../http/client-auth.js'
import { noStoreReply, type Reply } from '../http/errors.js'
import { oauthEndpoint, type OAuthRequest } from '../http/oauth-endpoint.js'
import type { RateLimit } from '../http/rate-limit.js'
import { GRANTS } from '../grants/registry.js'

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
    return noStoreReply(await grant.handle({ req: request.req, form: request.form, requester: request.requester, client }, deps, prepared?.value))
  }
}

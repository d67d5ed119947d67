import { OAuthError } from '@evergreen/core'
import type { Deps } from '../deps.js'
import { noStoreJson } from '../http/errors.js'
import { oauthEndpoint } from '../http/oauth-endpoint.js'
import type { RateLimit } from '../http/rate-limit.js'
import { GRANTS } from '../grants/registry.js'

/**
 * The token endpoint (RFC 6749 §3.2): dispatches on grant_type. Grants authenticate the client themselves so the refresh grant can reuse its one
 * joined read.
 */
export function tokenEndpoint(deps: Deps, rateLimit: RateLimit) {
  return oauthEndpoint(deps, rateLimit, 'tokenEndpoint', async (request) => {
    const grantType = request.form.get('grant_type')
    if (grantType === undefined) throw new OAuthError('invalid_request', 'grant_type is required')
    const grant = GRANTS.get(grantType)
    if (!grant) throw new OAuthError('unsupported_grant_type', 'grant_type is not supported')
    return noStoreJson(await grant.handle(request, deps))
  })
}

import { OAuthError } from '@evergreen/core'
import type { Context } from 'hono'
import type { Deps } from '../deps.js'
import { presentedClient } from '../http/client-auth.js'
import { errorResponse, noStoreJson } from '../http/errors.js'
import { readForm } from '../http/form.js'
import type { RateLimit } from '../http/rate-limit.js'
import { requesterOf } from '../http/requester.js'
import { GRANTS } from '../grants/registry.js'

/**
 * The token endpoint (RFC 6749 §3.2): parses the form, identifies the client, dispatches on
 * grant_type. Grants authenticate the client themselves so the refresh grant can reuse its one
 * joined read.
 */
export function tokenEndpoint(deps: Deps, rateLimit: RateLimit) {
  return async function tokenEndpoint(c: Context): Promise<Response> {
    try {
      const requester = requesterOf(c, deps.settings.trustProxy)
      await rateLimit(requester.ip ?? 'unknown')
      const form = await readForm(c.req.raw, deps.settings.maxBodyBytes)
      const grantType = form.get('grant_type')
      if (grantType === undefined) throw new OAuthError('invalid_request', 'grant_type is required')
      const grant = GRANTS.get(grantType)
      if (!grant) throw new OAuthError('unsupported_grant_type', 'grant_type is not supported')
      const client = presentedClient(c.req.raw, form)
      return noStoreJson(await grant.handle({ req: c.req.raw, form, client, requester }, deps))
    } catch (err) {
      return errorResponse(err, deps.logger)
    }
  }
}

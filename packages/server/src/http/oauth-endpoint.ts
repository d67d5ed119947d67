import type { Context } from 'hono'
import type { Requester } from '../audit.js'
import type { Deps } from '../deps.js'
import { presentedClient, type PresentedClient } from './client-auth.js'
import { errorResponse } from './errors.js'
import { readForm } from './form.js'
import type { RateLimit } from './rate-limit.js'
import { requesterOf } from './requester.js'

/** A form POST to an OAuth endpoint, read and checked the same way everywhere. */
export interface OAuthRequest {
  req: Request
  form: Map<string, string>
  /** The client credentials as presented; not yet checked against the store. */
  client: PresentedClient
  requester: Requester
}

/**
 * Wraps an OAuth endpoint (token, revocation, introspection, device authorization): rate limit
 * per address, the form body, the presented client credentials, and any failure turned into
 * OAuth error JSON — so each endpoint holds only its own protocol logic.
 */
export function oauthEndpoint(deps: Deps, rateLimit: RateLimit, name: string, handle: (request: OAuthRequest) => Promise<Response>) {
  const endpoint = async (c: Context): Promise<Response> => {
    try {
      const requester = requesterOf(c, deps.settings)
      await rateLimit(requester.ip ?? 'unknown')
      const form = await readForm(c.req.raw, deps.settings.maxBodyBytes)
      let client: PresentedClient | undefined
      // Lazy, so each endpoint validates its own parameters (e.g. grant_type) before the client.
      return await handle({
        req: c.req.raw,
        form,
        get client() {
          return (client ??= presentedClient(c.req.raw, form, deps))
        },
        requester,
      })
    } catch (err) {
      return errorResponse(err, deps.logger)
    }
  }
  // Named after the endpoint for readable stack traces.
  Object.defineProperty(endpoint, 'name', { value: name })
  return endpoint
}

import type { Context } from 'hono'
import type { Requester } from '../audit.js'
import type { Deps } from '../deps.js'
import { presentedClient, type PresentedClient } from './client-auth.js'
import { errorReply, errorResponse, replyResponse, type Reply } from './errors.js'
import { readForm } from './form.js'
import type { RateLimit } from './rate-limit.js'
import { requesterOf } from './requester.js'

/**
 * The parts of the HTTP request an OAuth endpoint may read besides the form: a Web `Request`
 * satisfies it, and so does the Node fast path's view of an `IncomingMessage`
 * (node/token-route.ts), which never builds a `Request`. `headers.get` has Web semantics: names
 * are case-insensitive and repeated fields are joined with ", ".
 */
export interface RequestHead {
  readonly method: string
  /** The absolute URL as the server saw it. */
  readonly url: string
  readonly headers: { get(name: string): string | null }
}

/** A form POST to an OAuth endpoint, read and checked the same way everywhere. */
export interface OAuthRequest {
  req: RequestHead
  form: Map<string, string>
  /** The client credentials as presented; not yet checked against the store. */
  client: PresentedClient
  requester: Requester
}

/** Where an OAuth request comes from: a Hono route, or the Node fast path for the token endpoint. */
export interface OAuthSource {
  req: RequestHead
  requester: Requester
  /** The form body within `maxBytes`, checked as {@link readForm} checks it. */
  readForm(maxBytes: number): Promise<Map<string, string>>
}

/**
 * The steps every OAuth endpoint shares, in this order: the rate limit per address (counted
 * before anything is checked), the form body within the size limit, then the presented client
 * credentials, read lazily so each endpoint validates its own parameters (e.g. grant_type) first.
 */
export async function oauthRequest(deps: Deps, rateLimit: RateLimit, source: OAuthSource): Promise<OAuthRequest> {
  await rateLimit(source.requester.ip ?? 'unknown')
  const form = await source.readForm(deps.settings.maxBodyBytes)
  let client: PresentedClient | undefined
  return {
    req: source.req,
    form,
    get client() {
      return (client ??= presentedClient(source.req, form, deps))
    },
    requester: source.requester,
  }
}

/**
 * {@link oauthRequest}, then `handle`, with any failure turned into OAuth error JSON: the whole
 * of an OAuth endpoint without a Web `Response`, for the Node fast path.
 */
export async function oauthReply(deps: Deps, rateLimit: RateLimit, source: OAuthSource, handle: (request: OAuthRequest) => Promise<Reply>): Promise<Reply> {
  try {
    return await handle(await oauthRequest(deps, rateLimit, source))
  } catch (err) {
    return errorReply(err, deps.logger)
  }
}

/**
 * Wraps an OAuth endpoint (token, revocation, introspection, device authorization) as a Hono
 * handler: {@link oauthRequest}, the endpoint's own protocol logic, and any failure turned into
 * OAuth error JSON — so each endpoint holds only its own protocol logic.
 */
export function oauthEndpoint(deps: Deps, rateLimit: RateLimit, name: string, handle: (request: OAuthRequest) => Promise<Response | Reply>) {
  const endpoint = async (c: Context): Promise<Response> => {
    try {
      const req = c.req.raw
      const answer = await handle(
        await oauthRequest(deps, rateLimit, { req, requester: requesterOf(c, deps.settings), readForm: (maxBytes) => readForm(req, maxBytes) }),
      )
      return answer instanceof Response ? answer : replyResponse(answer)
    } catch (err) {
      return errorResponse(err, deps.logger)
    }
  }
  // Named after the endpoint for readable stack traces.
  Object.defineProperty(endpoint, 'name', { value: name })
  return endpoint
}

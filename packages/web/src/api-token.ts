import { createResourceServer, ResourceError, type ResourceServer, type VerifiedToken } from '@evergreen/resource'
import type { WebConfig } from './config.js'

/** What the middleware decided for a request that presented an access token. */
export type ApiTokenOutcome = { ok: true; token: VerifiedToken } | { ok: false; response: Response }

/** The dashboard API's side of `@evergreen/resource`: metadata, and presented-token verification. */
export interface ApiTokenVerifier {
  /** The RFC 9728 metadata answer when `request` asks for this API's document, else undefined. */
  metadataResponse(request: Request): Response | undefined
  /** Verifies the presented token (and DPoP proof); a refusal comes with the helper's 4xx/503 answer. */
  verify(request: Request): Promise<ApiTokenOutcome>
  /** The 401 `invalid_token` answer for a valid token whose session was revoked (back-channel logout). */
  refuseRevoked(request: Request): Response
}

// RFC 6750 §2.1 / RFC 9449 §7.1: the schemes of a presented access token. Any other scheme (Basic
// from a proxy in front of the dashboard, say) is not a token for this API and is left alone.
const PRESENTED = /^(bearer|dpop)(\s|$)/i

/**
 * Whether `request` presents an access token. Such a request is decided by the token alone: it
 * is never answered from cookies, so a caller that sent a token learns that its token failed.
 *
 * @example if (presentsAccessToken(request)) return verifier.verify(request)
 */
export function presentsAccessToken(request: Request): boolean {
  return PRESENTED.test(request.headers.get('authorization') ?? '')
}

/**
 * Builds the verifier for `config.apiTokens` on `@evergreen/resource`: the one verifier for
 * presented tokens in Evergreen (audience = the API's resource, `typ: at+jwt`, DPoP proof with
 * `ath` and `cnf.jkt`, replay cache). It shares the middleware's clock, fetch and leeway.
 *
 * @example const verifier = createApiTokenVerifier(config)
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export function createApiTokenVerifier(config: WebConfig): ApiTokenVerifier | undefined {
  const options = config.apiTokens
  if (!options) return undefined
  const rs: ResourceServer = createResourceServer({
    resource: options.resource,
    issuer: options.issuer,
    ...(options.scopes ? { scopes: options.scopes } : {}),
    ...(options.replayCache ? { replayCache: options.replayCache } : {}),
    clockTolerance: config.clockTolerance,
    now: config.now,
    fetch: config.fetch,
  })
  return {
    metadataResponse: (request) => rs.metadataResponse(request),
    async verify(request) {
      const auth = await rs.authenticate(request)
      return auth.ok ? { ok: true, token: auth.token } : { ok: false, response: auth.response }
    },
    refuseRevoked: (request) => rs.refusal(new ResourceError('INVALID_TOKEN', 'the session of this access token was ended'), request),
  }
}

/**
 * Why the helper refused a request. Stable: tests and apps switch on `code`, never on the message.
 *
 * - `MISSING_TOKEN`: no access token (RFC 6750 §3.1: the challenge then carries no error code).
 * - `INVALID_REQUEST`: a malformed Authorization header, two credentials, a token in the query.
 * - `INVALID_TOKEN`: bad signature, wrong `iss`, wrong `aud` (another resource's token), expired,
 *   not yet valid, not an access token, or a DPoP-bound token presented as Bearer.
 * - `INVALID_DPOP_PROOF`: the DPoP proof is missing, malformed, for another request, or replayed.
 * - `INSUFFICIENT_SCOPE`: a valid token lacking a scope the route requires (403).
 * - `ISSUER_UNAVAILABLE`: the issuer's metadata or JWKS could not be fetched: not the token's fault (503).
 * - `REPLAY_CACHE_FULL`: the DPoP replay cache is full of live entries; refusing keeps replays out (503).
 */
export type ResourceErrorCode =
  | 'MISSING_TOKEN'
  | 'INVALID_REQUEST'
  | 'INVALID_TOKEN'
  | 'INVALID_DPOP_PROOF'
  | 'INSUFFICIENT_SCOPE'
  | 'ISSUER_UNAVAILABLE'
  | 'REPLAY_CACHE_FULL'

/**
 * A refused request. `description` is safe to send as `error_description`; `cause` is for logs
 * and never serialised. Neither ever holds the token or the proof.
 */
export class ResourceError extends Error {
  readonly code: ResourceErrorCode
  readonly description: string

  constructor(code: ResourceErrorCode, description: string, options?: { cause?: unknown }) {
    super(description, options)
    this.name = 'ResourceError'
    this.code = code
    this.description = description
  }
}

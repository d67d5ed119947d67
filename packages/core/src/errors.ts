/**
 * Error codes on the wire: RFC 6749 §5.2, RFC 7009, RFC 8628 §3.5, RFC 8693, RFC 6750, and
 * RFC 9449 §5/§8 (`invalid_dpop_proof`, `use_dpop_nonce`), RFC 7591 §3.2.2 for client registration.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'unsupported_token_type'
  | 'invalid_scope'
  | 'invalid_target'
  | 'invalid_token'
  | 'access_denied'
  | 'authorization_pending'
  | 'slow_down'
  | 'expired_token'
  | 'temporarily_unavailable'
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce'
  | 'server_error'
  | 'invalid_redirect_uri'
  | 'invalid_client_metadata'

/**
 * Every `error_reason`: why a refresh token was refused, beyond `invalid_grant`, stable and
 * machine-readable so a client can tell the user what happened and never loop on a dead token.
 *
 * `superseded` is a token spent within the grace window whose successor has itself been spent:
 * an older copy of the session's token, refused without revoking the session. A client that
 * shares its session store should re-read the store, where a newer token is likely waiting, and
 * retry once; it must not treat this as a logout.
 *
 * `dpop_key_mismatch` is a DPoP-bound token (RFC 9449) presented with a proof of another key: the
 * presenter does not hold the session's key. The session is not revoked (the owner keeps it);
 * for the presenter it is as dead as an unknown token.
 */
export const REFRESH_FAILURE_REASONS = [
  'expired_idle',
  'expired_absolute',
  'reused',
  'revoked',
  'not_found',
  'client_mismatch',
  'malformed',
  'superseded',
  'dpop_key_mismatch',
] as const

/** One of {@link REFRESH_FAILURE_REASONS}. */
export type RefreshFailureReason = (typeof REFRESH_FAILURE_REASONS)[number]

/** The JSON body of an OAuth error response, plus Evergreen's optional `error_reason`. */
export interface OAuthErrorBody {
  error: OAuthErrorCode | (string & {})
  error_description?: string
  error_reason?: RefreshFailureReason | (string & {})
}

/**
 * A protocol failure. `description` is safe to send to the caller; `detail` goes to logs only.
 * Never put a token, secret or password in either.
 *
 * @example throw new OAuthError('invalid_grant', 'refresh token expired', { reason: 'expired_idle' })
 */
export class OAuthError extends Error {
  readonly code: OAuthErrorCode
  readonly description: string
  readonly status: number
  readonly reason: RefreshFailureReason | undefined
  readonly detail: string | undefined
  readonly headers: Record<string, string> | undefined

  constructor(
    code: OAuthErrorCode,
    description: string,
    options: {
      status?: number
      reason?: RefreshFailureReason
      detail?: string
      headers?: Record<string, string>
      cause?: unknown
    } = {},
  ) {
    super(description, { cause: options.cause })
    this.name = 'OAuthError'
    this.code = code
    this.description = description
    this.status = options.status ?? defaultStatus(code)
    this.reason = options.reason
    this.detail = options.detail
    this.headers = options.headers
  }

  /** The body sent on the wire: never includes `detail`. */
  toJSON(): OAuthErrorBody {
    const body: OAuthErrorBody = { error: this.code, error_description: this.description }
    if (this.reason) body.error_reason = this.reason
    return body
  }
}

function defaultStatus(code: OAuthErrorCode): number {
  switch (code) {
    case 'invalid_client':
    case 'invalid_token':
      return 401
    case 'access_denied':
      return 403
    case 'server_error':
      return 500
    case 'temporarily_unavailable':
      return 503
    default:
      return 400
  }
}

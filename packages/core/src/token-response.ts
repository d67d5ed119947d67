/**
 * A successful token response (RFC 6749 §5.1) with Evergreen's `refresh_token_expires_in`.
 * Field names are the wire names, not translated.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1
 */
export interface TokenResponse {
  access_token: string
  /** `DPoP` when the access token is bound to a DPoP key (RFC 9449 §5, its `cnf.jkt`). */
  token_type: 'Bearer' | 'DPoP'
  /** Seconds until the access token expires, relative to the moment of the response. */
  expires_in: number
  refresh_token?: string
  /** Seconds until the refresh token (and so the session, unless renewed) expires. */
  refresh_token_expires_in?: number
  scope?: string
  id_token?: string
  /** RFC 8693 §2.2.1, present on token-exchange responses. */
  issued_token_type?: string
}

/** The grant types Evergreen's token endpoint knows. */
export const GRANT_TYPES = {
  authorizationCode: 'authorization_code',
  refreshToken: 'refresh_token',
  clientCredentials: 'client_credentials',
  deviceCode: 'urn:ietf:params:oauth:grant-type:device_code',
  tokenExchange: 'urn:ietf:params:oauth:grant-type:token-exchange',
} as const

export type GrantType = (typeof GRANT_TYPES)[keyof typeof GRANT_TYPES]

/**
 * Token type identifiers for token exchange (`subject_token_type`, `requested_token_type`,
 * `issued_token_type`).
 *
 * @see https://www.rfc-editor.org/rfc/rfc8693#section-3
 */
export const TOKEN_TYPE_URIS = {
  accessToken: 'urn:ietf:params:oauth:token-type:access_token',
  refreshToken: 'urn:ietf:params:oauth:token-type:refresh_token',
} as const

/** The header a proxy can redact; the server accepts the refresh token there as well as in the body. */
export const REFRESH_TOKEN_HEADER = 'evergreen-refresh-token'

/** The longest refresh-token lifetime anyone may ask for: 90 days, whatever the caller asks. */
export const MAX_REFRESH_TOKEN_TTL_SECONDS = 7_776_000

/**
 * The scopes the service itself gives meaning to (discovery's `scopes_supported`), and all a
 * client registered without `allowed_scopes` may ask for.
 *
 * @see https://openid.net/specs/openid-connect-core-1_0.html#ScopeClaims
 */
export const STANDARD_SCOPES = ['openid', 'profile', 'email', 'offline_access'] as const

/** One of {@link STANDARD_SCOPES}. */
export type StandardScope = (typeof STANDARD_SCOPES)[number]

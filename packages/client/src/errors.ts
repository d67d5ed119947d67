import type { OAuthErrorBody } from '@evergreen/core'

/**
 * Every error the SDK throws on purpose has a stable `code` from one of these literal unions, so a
 * CLI can switch on it (jose's `JOSEErrorCode`). Renaming a code is a breaking change.
 */
export type AuthErrorReason = 'not_logged_in' | 'session_expired' | 'revoked' | 'reused' | 'superseded' | 'access_only_expired' | 'unauthorized'

export type AuthErrorCode =
  | 'AUTH_NOT_LOGGED_IN'
  | 'AUTH_SESSION_EXPIRED'
  | 'AUTH_REVOKED'
  | 'AUTH_REUSED'
  | 'AUTH_SUPERSEDED'
  | 'AUTH_ACCESS_ONLY_EXPIRED'
  | 'AUTH_UNAUTHORIZED'

export type ProviderErrorCode = 'PROVIDER_UNAVAILABLE' | 'PROVIDER_INVALID_RESPONSE'

export type StorageErrorCode = 'STORAGE_UNAVAILABLE' | 'STORAGE_CORRUPT' | 'STORAGE_LOCK_TIMEOUT'

export type CredentialErrorCode = 'CREDENTIAL_UNRECOGNIZED' | 'CREDENTIAL_MALFORMED' | 'CREDENTIAL_UNSUPPORTED_VERSION'

export type ConfigErrorCode =
  | 'CONFIG_ISSUER_REQUIRED'
  | 'CONFIG_CLIENT_ID_REQUIRED'
  | 'CONFIG_AMBIGUOUS_ISSUER'
  | 'CONFIG_ISSUER_MISMATCH'
  | 'CONFIG_INVALID'

export type DeviceLoginErrorCode = 'DEVICE_ACCESS_DENIED' | 'DEVICE_CODE_EXPIRED' | 'DEVICE_LOGIN_CANCELLED'

/**
 * Why the token service would not delegate: it does not do token exchange at all, the session or
 * its client may not delegate what was asked (scope, audience, resource, lifetime), or the
 * request itself was malformed.
 */
export type DelegationErrorCode = 'DELEGATION_UNSUPPORTED' | 'DELEGATION_NOT_ALLOWED' | 'DELEGATION_INVALID_REQUEST'

/**
 * DPoP (RFC 9449) failures: the server does not take proofs when a login demanded them
 * (`DPOP_UNSUPPORTED`), it refused the proof of a bound session — the session is kept
 * (`DPOP_PROOF_REJECTED`) — or it demands a proof from a session that has no key
 * (`DPOP_REQUIRED`).
 */
export type DpopErrorCode = 'DPOP_UNSUPPORTED' | 'DPOP_PROOF_REJECTED' | 'DPOP_REQUIRED'

export type ClientErrorCode =
  | AuthErrorCode
  | ProviderErrorCode
  | StorageErrorCode
  | CredentialErrorCode
  | ConfigErrorCode
  | DeviceLoginErrorCode
  | DelegationErrorCode
  | DpopErrorCode
  | 'OAUTH_RESPONSE_ERROR'

/**
 * What it takes to get past an error, as a code. The SDK never words the instruction — which
 * command, flag or page a person should use is the caller's (the CLI renders each kind); the
 * fields on the error (`issuer`, `profile`, `expiresAt`, `location`) are what that wording needs.
 *
 * - `login`: log in again to the same issuer and profile.
 * - `login_with_issuer`: log in, naming an issuer (none is known for the profile).
 * - `retry_or_login`: try again (a newer token may yet be stored), else log in again.
 * - `mint_credential`: get a renewable login credential from the issuer and log in with it.
 * - `retry_later`: the token service could not be reached or answered badly; check the network and
 *   the issuer, then try again.
 * - `check_store`: the session store (keyring, directory, lock) could not be used.
 * - `clear_session`: the stored entry is damaged; log out (which deletes it) and log in again.
 * - `choose_issuer`: several issuers have a session under the profile; name one.
 * - `give_issuer` / `give_client_id`: the credential does not carry it; supply it.
 * - `drop_issuer`: the credential names its own issuer, which differs from the one given.
 * - `update_client`: the credential is from a newer version of Evergreen.
 * - `check_clock`: the token service refused a proof of possession, whose time comes from this
 *   machine's clock; check the clock, then try again (the session was kept).
 */
export type Remedy =
  | 'login'
  | 'login_with_issuer'
  | 'retry_or_login'
  | 'mint_credential'
  | 'retry_later'
  | 'check_store'
  | 'clear_session'
  | 'choose_issuer'
  | 'give_issuer'
  | 'give_client_id'
  | 'drop_issuer'
  | 'update_client'
  | 'check_clock'

/** The structured fields every SDK error may carry, beside its `code`. */
export interface ErrorDetails {
  cause?: unknown
  remedy?: Remedy | undefined
  /** The issuer the failure is about (normalised, as in the session key). */
  issuer?: string | undefined
  /** The profile the failure is about. */
  profile?: string | undefined
  /** Epoch ms: when the token involved expires or expired. */
  expiresAt?: number | undefined
  /** Where the stored entry lives: a file path or a keyring entry. */
  location?: string | undefined
  /** The issuers stored for the profile (`CONFIG_AMBIGUOUS_ISSUER`). */
  issuers?: readonly string[] | undefined
}

/**
 * Base class of the SDK's errors. The message states what happened, for people, and never contains
 * a token or an instruction naming a command, flag or page; `code` and `remedy` are for programs,
 * which word the instruction themselves.
 */
export class EvergreenClientError extends Error {
  readonly code: ClientErrorCode
  readonly remedy: Remedy | undefined
  readonly issuer: string | undefined
  readonly profile: string | undefined
  readonly expiresAt: number | undefined
  readonly location: string | undefined
  readonly issuers: readonly string[] | undefined
  constructor(code: ClientErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause !== undefined ? { cause: details.cause } : undefined)
    this.name = 'EvergreenClientError'
    this.code = code
    this.remedy = details.remedy
    this.issuer = details.issuer
    this.profile = details.profile
    this.expiresAt = details.expiresAt
    this.location = details.location
    this.issuers = details.issuers
  }
}

// The default remedy per reason; `unauthorized` (the API refused the token) has none: only the
// caller knows whether the API or the session is at fault.
const AUTH_REMEDIES: Record<AuthErrorReason, Remedy | undefined> = {
  not_logged_in: 'login_with_issuer',
  session_expired: 'login',
  revoked: 'login',
  reused: 'login',
  superseded: 'retry_or_login',
  access_only_expired: 'mint_credential',
  unauthorized: undefined,
}

const AUTH_CODES: Record<AuthErrorReason, AuthErrorCode> = {
  not_logged_in: 'AUTH_NOT_LOGGED_IN',
  session_expired: 'AUTH_SESSION_EXPIRED',
  revoked: 'AUTH_REVOKED',
  reused: 'AUTH_REUSED',
  superseded: 'AUTH_SUPERSEDED',
  access_only_expired: 'AUTH_ACCESS_ONLY_EXPIRED',
  unauthorized: 'AUTH_UNAUTHORIZED',
}

/**
 * The session is gone or was never there: the user has to log in (again). Thrown only when the
 * token service said so (`invalid_grant`) or when nothing is stored — never for a network or
 * storage failure, which would make a healthy session look dead.
 *
 * @example if (err instanceof AuthError && err.reason === 'reused') warn('your credential may have leaked')
 */
export class AuthError extends EvergreenClientError {
  declare readonly code: AuthErrorCode
  readonly reason: AuthErrorReason
  /** The server's `error_reason` (RefreshFailureReason) when the server refused a refresh. */
  readonly serverReason: string | undefined
  constructor(reason: AuthErrorReason, message: string, options: ErrorDetails & { serverReason?: string | undefined } = {}) {
    super(AUTH_CODES[reason], message, { remedy: AUTH_REMEDIES[reason], ...options })
    this.name = 'AuthError'
    this.reason = reason
    this.serverReason = options.serverReason
  }
}

/**
 * The token service could not be asked: connection refused, timeout, 5xx, 429, or an answer that
 * is not OAuth. The stored session is kept: it is probably still good.
 */
export class ProviderError extends EvergreenClientError {
  declare readonly code: ProviderErrorCode
  /** HTTP status when there was a response. */
  readonly status: number | undefined
  constructor(code: ProviderErrorCode, message: string, options: ErrorDetails & { status?: number } = {}) {
    super(code, message, { remedy: 'retry_later', ...options })
    this.name = 'ProviderError'
    this.status = options.status
  }
}

/** The keyring or the session file could not be read or written. Never means "token invalid". */
export class StorageError extends EvergreenClientError {
  declare readonly code: StorageErrorCode
  constructor(code: StorageErrorCode, message: string, options?: ErrorDetails) {
    super(code, message, options)
    this.name = 'StorageError'
  }
}

/**
 * The token service refused a delegation (RFC 8693 token exchange). `error` is the server's
 * OAuth error code (`invalid_scope`, `invalid_target`, ...), so a caller can say which part of
 * the request to change.
 */
export class DelegationError extends EvergreenClientError {
  declare readonly code: DelegationErrorCode
  /** The OAuth error the token service answered. */
  readonly error: string
  constructor(code: DelegationErrorCode, error: string, message: string, options?: ErrorDetails) {
    super(code, message, options)
    this.name = 'DelegationError'
    this.error = error
  }
}

/**
 * A DPoP problem (RFC 9449). Nothing stored was deleted: a refused proof is never a logout.
 *
 * @example if (err instanceof DpopError && err.code === 'DPOP_UNSUPPORTED') retryWithout()
 * @see https://www.rfc-editor.org/rfc/rfc9449
 */
export class DpopError extends EvergreenClientError {
  declare readonly code: DpopErrorCode
  constructor(code: DpopErrorCode, message: string, options?: ErrorDetails) {
    super(code, message, options)
    this.name = 'DpopError'
  }
}

/** A pasted login credential is not one the SDK understands. */
export class CredentialError extends EvergreenClientError {
  declare readonly code: CredentialErrorCode
  constructor(code: CredentialErrorCode, message: string, options?: ErrorDetails) {
    super(code, message, options)
    this.name = 'CredentialError'
  }
}

/** Something the caller has to supply (issuer, client id, a valid setting) is missing or wrong. */
export class ConfigError extends EvergreenClientError {
  declare readonly code: ConfigErrorCode
  constructor(code: ConfigErrorCode, message: string, options?: ErrorDetails) {
    super(code, message, options)
    this.name = 'ConfigError'
  }
}

/**
 * The token service answered with an OAuth error (RFC 6749 §5.2). Carries the wire fields as-is
 * and the `Response` (its body already read) for callers that need headers.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 */
export class OAuthResponseError extends EvergreenClientError {
  declare readonly code: 'OAUTH_RESPONSE_ERROR'
  readonly error: string
  readonly error_description: string | undefined
  readonly error_reason: string | undefined
  readonly status: number
  readonly response: Response
  constructor(body: OAuthErrorBody, response: Response) {
    // error_description is the server's public text; it never carries a token.
    super('OAUTH_RESPONSE_ERROR', `token service refused: ${body.error}${body.error_description ? ` (${body.error_description})` : ''}`)
    this.name = 'OAuthResponseError'
    this.error = body.error
    this.error_description = body.error_description
    this.error_reason = body.error_reason
    this.status = response.status
    this.response = response
  }
}

/**
 * True for an {@link AuthError} and for a `Response` (or anything with a numeric `status`) of 401
 * or 403, so one check covers "the SDK says log in again" and "the API said no".
 *
 * @example if (isAuthError(err)) process.exitCode = 4
 */
export function isAuthError(value: unknown): boolean {
  if (value instanceof AuthError) return true
  if (typeof value !== 'object' || value === null || !('status' in value)) return false
  const status = (value as { status: unknown }).status
  return status === 401 || status === 403
}

/**
 * Maps a refused refresh (`invalid_grant` + `error_reason`) to the AuthError the caller sees.
 * `key` names the session, so a caller can word the remedy after the session was deleted.
 */
export function authErrorFromRefusal(err: OAuthResponseError, key?: { issuer: string; profile: string }): AuthError {
  const serverReason = err.error_reason
  const details = { cause: err, serverReason, ...(key ? { issuer: key.issuer, profile: key.profile } : {}) }
  if (serverReason === 'revoked') return new AuthError('revoked', 'the session was revoked', details)
  if (serverReason === 'reused') {
    return new AuthError(
      'reused',
      'the refresh token was used twice, so the token service revoked the session (a copy of the credential may exist elsewhere)',
      details,
    )
  }
  if (serverReason === 'superseded') {
    // The stored session is kept: the server did not revoke it, and a newer token may yet be
    // written by the process that holds it.
    return new AuthError('superseded', 'another copy of this session has refreshed it, so the stored refresh token is out of date (the session was not revoked)', details)
  }
  const why = serverReason === 'expired_idle' ? ' (unused for too long)' : serverReason === 'expired_absolute' ? ' (reached its maximum lifetime)' : ''
  return new AuthError('session_expired', `the session has expired${why}`, details)
}

/** How a device login ended without tokens: the RFC 8628 §3.5 error, or the caller's abort. */
export type DeviceLoginErrorReason = 'access_denied' | 'expired_token' | 'cancelled'

const DEVICE_CODES: Record<DeviceLoginErrorReason, DeviceLoginErrorCode> = {
  access_denied: 'DEVICE_ACCESS_DENIED',
  expired_token: 'DEVICE_CODE_EXPIRED',
  cancelled: 'DEVICE_LOGIN_CANCELLED',
}

/**
 * A device login that ended without tokens: the person denied it, the code expired before anyone
 * approved it, or the caller aborted the wait. Nothing stored was touched.
 *
 * @example if (err instanceof DeviceLoginError && err.reason === 'access_denied') exit(1)
 * @see https://www.rfc-editor.org/rfc/rfc8628#section-3.5
 */
export class DeviceLoginError extends EvergreenClientError {
  declare readonly code: DeviceLoginErrorCode
  readonly reason: DeviceLoginErrorReason
  constructor(reason: DeviceLoginErrorReason, message: string, options?: ErrorDetails) {
    super(DEVICE_CODES[reason], message, options)
    this.name = 'DeviceLoginError'
    this.reason = reason
  }
}

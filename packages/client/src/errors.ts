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

export type ClientErrorCode =
  | AuthErrorCode
  | ProviderErrorCode
  | StorageErrorCode
  | CredentialErrorCode
  | ConfigErrorCode
  | DeviceLoginErrorCode
  | 'OAUTH_RESPONSE_ERROR'

/**
 * Base class of the SDK's errors. Messages are for people and never contain a token; `code` is
 * for programs.
 */
export class EvergreenClientError extends Error {
  readonly code: ClientErrorCode
  constructor(code: ClientErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'EvergreenClientError'
    this.code = code
  }
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
  constructor(reason: AuthErrorReason, message: string, options: { cause?: unknown; serverReason?: string } = {}) {
    super(AUTH_CODES[reason], message, { cause: options.cause })
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
  constructor(code: ProviderErrorCode, message: string, options: { cause?: unknown; status?: number } = {}) {
    super(code, message, { cause: options.cause })
    this.name = 'ProviderError'
    this.status = options.status
  }
}

/** The keyring or the session file could not be read or written. Never means "token invalid". */
export class StorageError extends EvergreenClientError {
  declare readonly code: StorageErrorCode
  constructor(code: StorageErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options)
    this.name = 'StorageError'
  }
}

/** A pasted login credential is not one the SDK understands. */
export class CredentialError extends EvergreenClientError {
  declare readonly code: CredentialErrorCode
  constructor(code: CredentialErrorCode, message: string) {
    super(code, message)
    this.name = 'CredentialError'
  }
}

/** Something the caller has to supply (issuer, client id, a valid setting) is missing or wrong. */
export class ConfigError extends EvergreenClientError {
  declare readonly code: ConfigErrorCode
  constructor(code: ConfigErrorCode, message: string) {
    super(code, message)
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

/** Maps a refused refresh (`invalid_grant` + `error_reason`) to the AuthError the caller sees. */
export function authErrorFromRefusal(err: OAuthResponseError): AuthError {
  const serverReason = err.error_reason
  if (serverReason === 'revoked') {
    return new AuthError('revoked', 'the session was revoked; log in again', { cause: err, serverReason })
  }
  if (serverReason === 'reused') {
    return new AuthError(
      'reused',
      'the refresh token was used twice, so the token service revoked the session (a copy of the credential may exist elsewhere); log in again',
      { cause: err, serverReason },
    )
  }
  if (serverReason === 'superseded') {
    // The stored session is kept: the server did not revoke it, and a newer token may yet be
    // written by the process that holds it.
    return new AuthError(
      'superseded',
      'another copy of this session has refreshed it, so the stored refresh token is out of date (the session was not revoked); log in again',
      { cause: err, serverReason },
    )
  }
  const why = serverReason === 'expired_idle' ? ' (unused for too long)' : serverReason === 'expired_absolute' ? ' (reached its maximum lifetime)' : ''
  return new AuthError('session_expired', `the session has expired${why}; log in again`, { cause: err, serverReason })
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
  constructor(reason: DeviceLoginErrorReason, message: string, options?: { cause?: unknown }) {
    super(DEVICE_CODES[reason], message, options)
    this.name = 'DeviceLoginError'
    this.reason = reason
  }
}

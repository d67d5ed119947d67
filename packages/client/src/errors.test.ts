import { describe, expect, test } from 'vitest'
import { AuthError, authErrorFromRefusal, EvergreenClientError, isAuthError, OAuthResponseError, ProviderError, StorageError } from './errors.js'

describe('isAuthError', () => {
  test('true for AuthError and for 401/403 responses or status objects', () => {
    expect(isAuthError(new AuthError('not_logged_in', 'x'))).toBe(true)
    expect(isAuthError(new Response(null, { status: 401 }))).toBe(true)
    expect(isAuthError(new Response(null, { status: 403 }))).toBe(true)
    expect(isAuthError({ status: 401 })).toBe(true)
  })

  test('false for provider and storage failures and other statuses', () => {
    expect(isAuthError(new ProviderError('PROVIDER_UNAVAILABLE', 'x'))).toBe(false)
    expect(isAuthError(new StorageError('STORAGE_UNAVAILABLE', 'x'))).toBe(false)
    expect(isAuthError(new Response(null, { status: 500 }))).toBe(false)
    expect(isAuthError({ status: '401' })).toBe(false)
    expect(isAuthError(null)).toBe(false)
    expect(isAuthError(new Error('401'))).toBe(false)
  })
})

describe('AuthError codes', () => {
  test.each([
    ['not_logged_in', 'AUTH_NOT_LOGGED_IN'],
    ['session_expired', 'AUTH_SESSION_EXPIRED'],
    ['revoked', 'AUTH_REVOKED'],
    ['reused', 'AUTH_REUSED'],
    ['access_only_expired', 'AUTH_ACCESS_ONLY_EXPIRED'],
    ['unauthorized', 'AUTH_UNAUTHORIZED'],
  ] as const)('%s → %s', (reason, code) => {
    const err = new AuthError(reason, 'm')
    expect(err.code).toBe(code)
    expect(err).toBeInstanceOf(EvergreenClientError)
  })

  test.each([
    ['revoked', 'revoked'],
    ['reused', 'reused'],
    ['expired_idle', 'session_expired'],
    ['expired_absolute', 'session_expired'],
    ['not_found', 'session_expired'],
    ['client_mismatch', 'session_expired'],
    ['malformed', 'session_expired'],
  ])('refusal with error_reason %s → %s', (serverReason, reason) => {
    const refusal = new OAuthResponseError({ error: 'invalid_grant', error_reason: serverReason }, new Response(null, { status: 400 }))
    expect(authErrorFromRefusal(refusal)).toMatchObject({ reason, serverReason })
  })
})

import { AuthError, ConfigError, DeviceLoginError, DpopError, ProviderError, StorageError } from '@evergreen/client'
import { expect, test } from 'vitest'
import { CliError } from './io.js'
import { toCliError } from './session-errors.js'

const ctx = { profile: 'default', issuer: 'https://auth.example.com' }
const mapped = (err: unknown, c: { profile: string; issuer?: string } = ctx) => {
  const e = toCliError(err, c) as CliError
  return [e.exitCode, e.message]
}

test('log in again → 4, and the remedy names the issuer and profile', () => {
  expect(mapped(new AuthError('not_logged_in', 'x'), { profile: 'default' })).toEqual([4, 'not logged in\nrun `evergreen login --issuer <url>` to log in'])
  expect(mapped(new AuthError('not_logged_in', 'x'), { profile: 'work', issuer: 'https://a.test' })).toEqual([
    4,
    'not logged in to https://a.test (profile work)\nrun `evergreen login --issuer https://a.test --profile work` to log in',
  ])
  expect(mapped(new AuthError('session_expired', 'the session has expired (unused for too long)'))).toEqual([
    4,
    'the session has expired (unused for too long)\nrun `evergreen login --issuer https://auth.example.com` to log in again',
  ])
  expect(mapped(new AuthError('not_logged_in', 'x', { remedy: 'login', issuer: 'https://stored.test', profile: 'default' }), { profile: 'default' })).toEqual([
    4,
    'not logged in to https://stored.test\nrun `evergreen login --issuer https://stored.test` to log in',
  ])
  expect(mapped(new AuthError('access_only_expired', 'the stored access token expired', { issuer: 'https://a.test', expiresAt: 0 }), { profile: 'work' })).toEqual([
    4,
    'the stored access token expired\nget a renewable credential at https://a.test/settings/cli and run `evergreen login --profile work --token <credential>`',
  ])
})

test('the remedy is chosen by code: the SDK message is used as the statement of fact, never parsed', () => {
  const corrupt = new StorageError('STORAGE_CORRUPT', 'the session file /x.json is damaged and cannot be read', { remedy: 'clear_session', location: '/x.json' })
  expect(mapped(corrupt)).toEqual([1, 'the session file /x.json is damaged and cannot be read\nrun `evergreen logout --issuer https://auth.example.com` (it deletes the damaged entry) and log in again'])
  const ambiguous = new ConfigError('CONFIG_AMBIGUOUS_ISSUER', 'profile "default" has sessions with 2 issuers (https://a.test, https://b.test)', { remedy: 'choose_issuer' })
  expect(mapped(ambiguous, { profile: 'default' })[1]).toBe('profile "default" has sessions with 2 issuers (https://a.test, https://b.test)\nchoose one with --issuer or EVERGREEN_ISSUER')
})

test('superseded → 4, says the stored session was kept and that trying again may work', () => {
  const [code, message] = mapped(new AuthError('superseded', 'the stored refresh token is out of date (the session was not revoked)'))
  expect(code).toBe(4)
  expect(message).toBe(
    'the stored refresh token is out of date (the session was not revoked)\nthe stored session was kept; try again, or run `evergreen login --issuer https://auth.example.com` to log in again',
  )
})

test('device login: denied and expired → 1, cancelled → 130', () => {
  expect(mapped(new DeviceLoginError('access_denied', 'x'))).toEqual([1, 'the login was denied in the browser; nothing was stored'])
  expect(mapped(new DeviceLoginError('expired_token', 'the code expired', { remedy: 'login' }))).toEqual([1, 'the code expired\nrun `evergreen login --issuer https://auth.example.com` for a new code'])
  expect(mapped(new DeviceLoginError('cancelled', 'x'))).toEqual([130, 'login cancelled; nothing was stored'])
})

test('provider, storage and config failures → 1; a provider failure says nothing stored changed', () => {
  const [code, message] = mapped(new ProviderError('PROVIDER_UNAVAILABLE', 'token service unreachable at https://auth.example.com: could not connect'))
  expect(code).toBe(1)
  expect(message).toMatch(/^token service unreachable at https:\/\/auth\.example\.com: could not connect\n.*nothing stored was changed/)
  expect(mapped(new StorageError('STORAGE_CORRUPT', 'damaged'))).toEqual([1, 'damaged'])
  expect(mapped(new ConfigError('CONFIG_AMBIGUOUS_ISSUER', 'choose one'))).toEqual([1, 'choose one'])
  const bad = Object.assign(new TypeError('issuer must be an http(s) URL'), { code: 'ERR_INVALID_ARG_VALUE' })
  expect(mapped(bad)).toEqual([1, 'issuer must be an http(s) URL'])
  const unexpected = new Error('bug')
  expect(toCliError(unexpected, ctx)).toBe(unexpected)
})

test('DPoP: an unsupported server names --no-dpop (1); a refused proof keeps the session and points at the clock (1); a required proof → log in (4)', () => {
  expect(mapped(new DpopError('DPOP_UNSUPPORTED', 'https://auth.example.com does not accept ES256 DPoP proofs'))).toEqual([
    1,
    'https://auth.example.com does not accept ES256 DPoP proofs\nrun `evergreen login --issuer https://auth.example.com --no-dpop` for a session without a bound key',
  ])
  const [code, message] = mapped(new DpopError('DPOP_PROOF_REJECTED', 'the token service refused the session\'s proof of possession', { remedy: 'check_clock' }))
  expect(code).toBe(1)
  expect(message).toMatch(/^the token service refused the session's proof of possession\nthe stored session was kept; check this computer's clock/)
  expect(mapped(new DpopError('DPOP_REQUIRED', 'this session is not bound to a key', { remedy: 'login' }))[0]).toBe(4)
})

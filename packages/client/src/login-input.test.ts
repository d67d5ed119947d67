import { encodeCredential, formatRefreshToken } from '@evergreen/core'
import { describe, expect, test } from 'vitest'
import { parseLoginInput } from './login-input.js'

const RT = formatRefreshToken(new Uint8Array(32).fill(7))
const jwt = (claims: Record<string, unknown>) => `${b64({ alg: 'none' })}.${b64(claims)}.sig`
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')

describe('parseLoginInput recognises a paste offline', () => {
  test('an egc1_ credential carries issuer, client id and refresh token', () => {
    const text = encodeCredential({ v: 1, iss: 'https://a.test', client_id: 'cli', refresh_token: RT })
    expect(parseLoginInput(`  ${text}\n`)).toEqual({ kind: 'credential', issuer: 'https://a.test', client_id: 'cli', refresh_token: RT })
  })

  test('a bare egr_ refresh token with a good checksum', () => {
    expect(parseLoginInput(RT)).toEqual({ kind: 'refresh_token', refresh_token: RT })
  })

  test('a damaged paste, a failed checksum, a JWT without exp and garbage each have their code', () => {
    const text = encodeCredential({ v: 1, iss: 'https://a.test', client_id: 'cli', refresh_token: RT })
    expect(() => parseLoginInput(text.slice(0, -4))).toThrow(expect.objectContaining({ code: 'CREDENTIAL_MALFORMED' }))
    expect(() => parseLoginInput('egr_notarealtoken')).toThrow(expect.objectContaining({ code: 'CREDENTIAL_MALFORMED' }))
    expect(() => parseLoginInput(jwt({ iss: 'https://a.test' }))).toThrow(expect.objectContaining({ code: 'CREDENTIAL_MALFORMED' }))
    expect(() => parseLoginInput('hello')).toThrow(expect.objectContaining({ code: 'CREDENTIAL_UNRECOGNIZED' }))
    expect(() => parseLoginInput('egc9_abc')).toThrow(expect.objectContaining({ code: 'CREDENTIAL_UNSUPPORTED_VERSION', remedy: 'update_client' }))
  })

  test('a JWT with exp is an access token, its claims read but not trusted', () => {
    const token = jwt({ iss: 'https://a.test', exp: 2_000_000_000 })
    expect(parseLoginInput(token)).toMatchObject({ kind: 'access_token', access_token: token, claims: { exp: 2_000_000_000 } })
  })
})

import { describe, expect, test } from 'vitest'
import { decodeCredential, encodeCredential } from './credential.js'
import { formatRefreshToken, isWellFormedRefreshToken } from './refresh-token.js'

const bytes = (seed: number) => Uint8Array.from({ length: 32 }, (_, i) => (i * 31 + seed) & 0xff)

describe('refresh-token format', () => {
  test('has the egr_ prefix, 256 bits of body and a checksum that catches one changed character', () => {
    const token = formatRefreshToken(bytes(7))
    expect(token).toMatch(/^egr_[A-Za-z0-9_-]{43}[0-9A-Za-z]{6}$/)
    expect(isWellFormedRefreshToken(token)).toBe(true)
    for (let i = 4; i < token.length; i++) {
      const swapped = token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1)
      expect(isWellFormedRefreshToken(swapped), `position ${i}`).toBe(false)
    }
    expect(isWellFormedRefreshToken(token.slice(0, -1))).toBe(false)
  })

  test('refuses anything but 32 random bytes', () => {
    expect(() => formatRefreshToken(new Uint8Array(16))).toThrow(TypeError)
  })
})

describe('login credential envelope', () => {
  const credential = { v: 1 as const, iss: 'https://auth.example.com', client_id: 'cli_1', refresh_token: formatRefreshToken(bytes(1)), exp: 1_900_000_000 }

  test('round-trips and is recognisable by its prefix', () => {
    const text = encodeCredential(credential)
    expect(text).toMatch(/^egc1_/)
    expect(decodeCredential(`  ${text}\n`)).toEqual({ ok: true, value: credential })
  })

  test('tells a raw JWT, a future version and a mangled paste apart', () => {
    expect(decodeCredential('eyJhbGciOiJFUzI1NiJ9.e30.sig')).toEqual({ ok: false, error: 'not_a_credential' })
    expect(decodeCredential('egc2_abc')).toEqual({ ok: false, error: 'unsupported_version' })
    expect(decodeCredential(encodeCredential(credential).slice(0, -5))).toEqual({ ok: false, error: 'malformed' })
    const badToken = encodeCredential({ ...credential, refresh_token: 'egr_nope' })
    expect(decodeCredential(badToken)).toEqual({ ok: false, error: 'malformed' })
  })

  test('carries a P-256 private DPoP key when given one, and refuses anything else in its place', () => {
    const coord = (c: string) => c.repeat(43)
    const dpop_key = { kty: 'EC' as const, crv: 'P-256' as const, x: coord('x'), y: coord('y'), d: coord('d') }
    expect(decodeCredential(encodeCredential({ ...credential, dpop_key }))).toEqual({ ok: true, value: { ...credential, dpop_key } })
    for (const bad of [
      { ...dpop_key, crv: 'P-384' },
      { ...dpop_key, kty: 'RSA' },
      { ...dpop_key, d: undefined },
      { ...dpop_key, x: coord('x').slice(1) },
      { ...dpop_key, y: `${coord('y').slice(1)}+` },
      { ...dpop_key, alg: 'none' },
      'a key',
    ]) {
      expect(decodeCredential(encodeCredential({ ...credential, dpop_key: bad as never })), JSON.stringify(bad)).toEqual({ ok: false, error: 'malformed' })
    }
  })
})

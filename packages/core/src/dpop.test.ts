import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose'
import { beforeAll, describe, expect, test } from 'vitest'
import { DpopProofError, hashAccessToken, isDpopJkt, verifyDpopProof } from './dpop.js'

const URL_ = 'https://id.example/oauth/token'
const NOW = 1_800_000_000

let keys: { privateKey: CryptoKey; publicKey: CryptoKey }
let jwk: JWK

beforeAll(async () => {
  keys = await generateKeyPair('ES256', { extractable: true })
  jwk = await exportJWK(keys.publicKey)
})

async function proof(
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
  key: CryptoKey = keys.privateKey,
): Promise<string> {
  return new SignJWT({ htm: 'POST', htu: URL_, iat: NOW, jti: crypto.randomUUID(), ...claims })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk, ...header } as never)
    .sign(key)
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (err) {
    expect(err).toBeInstanceOf(DpopProofError)
    return (err as DpopProofError).code
  }
  return 'accepted'
}

describe('verifyDpopProof', () => {
  test('a valid proof yields the RFC 7638 thumbprint of its key, its jti and iat', async () => {
    const result = await verifyDpopProof({ proof: await proof({ jti: 'j-1' }), method: 'POST', url: URL_, now: NOW })
    expect(result).toEqual({ jkt: await calculateJwkThumbprint(jwk, 'sha256'), jti: 'j-1', iat: NOW, nonce: undefined })
    expect(isDpopJkt(result.jkt)).toBe(true)
  })

  test('htu ignores query and fragment but not path, host or scheme', async () => {
    const ok = await proof({ htu: `${URL_}?x=1#f` })
    await expect(verifyDpopProof({ proof: ok, method: 'POST', url: URL_, now: NOW })).resolves.toBeTruthy()
    for (const htu of ['https://id.example/oauth/token2', 'https://evil.example/oauth/token', 'http://id.example/oauth/token', 'not a url']) {
      expect(await codeOf(verifyDpopProof({ proof: await proof({ htu }), method: 'POST', url: URL_, now: NOW }))).toBe('DPOP_HTU_MISMATCH')
    }
  })

  test('refuses wrong htm, stale or future iat, a missing jti', async () => {
    const v = async (p: Promise<string>) => codeOf(verifyDpopProof({ proof: await p, method: 'POST', url: URL_, now: NOW }))
    expect(await v(proof({ htm: 'GET' }))).toBe('DPOP_HTM_MISMATCH')
    expect(await v(proof({ iat: NOW - 61 }))).toBe('DPOP_IAT_OUT_OF_WINDOW')
    expect(await v(proof({ iat: NOW + 61 }))).toBe('DPOP_IAT_OUT_OF_WINDOW')
    expect(await v(proof({ iat: NOW - 60 }))).toBe('accepted')
    expect(await v(proof({ jti: undefined }))).toBe('DPOP_MALFORMED')
    expect(await v(proof({ jti: 'x'.repeat(300) }))).toBe('DPOP_MALFORMED')
  })

  test('refuses a wrong typ, a symmetric or none alg, a private key in the header, a bad signature', async () => {
    const v = async (p: string) => codeOf(verifyDpopProof({ proof: p, method: 'POST', url: URL_, now: NOW }))
    expect(await v(await proof({}, { typ: 'JWT' }))).toBe('DPOP_BAD_TYP')
    const hs = await new SignJWT({ htm: 'POST', htu: URL_, iat: NOW, jti: 'a' })
      .setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt' })
      .sign(new Uint8Array(32))
    expect(await v(hs)).toBe('DPOP_BAD_ALG')
    const none = `${btoa(JSON.stringify({ alg: 'none', typ: 'dpop+jwt', jwk }))}.${btoa('{}')}.`
    expect(await v(none.replace(/=/g, ''))).toBe('DPOP_BAD_ALG')
    const privateJwk = await exportJWK(keys.privateKey)
    expect(await v(await proof({}, { jwk: privateJwk }))).toBe('DPOP_BAD_KEY')
    const other = await generateKeyPair('ES256')
    expect(await v(await proof({}, {}, other.privateKey))).toBe('DPOP_BAD_SIGNATURE')
    expect(await v('a.b.c')).toBe('DPOP_MALFORMED')
    expect(await v('')).toBe('DPOP_MALFORMED')
  })

  test('accepts Ed25519 keys under both the fully-specified Ed25519 alg and EdDSA, and an RSA key under PS256', async () => {
    for (const [generate, alg] of [['Ed25519', 'Ed25519'], ['EdDSA', 'EdDSA'], ['PS256', 'PS256']] as const) {
      const pair = await generateKeyPair(generate, { extractable: true })
      const pub = await exportJWK(pair.publicKey)
      const p = await new SignJWT({ htm: 'POST', htu: URL_, iat: NOW, jti: `j-${alg}` })
        .setProtectedHeader({ alg, typ: 'dpop+jwt', jwk: pub })
        .sign(pair.privateKey)
      const result = await verifyDpopProof({ proof: p, method: 'POST', url: URL_, now: NOW })
      expect(result.jkt, alg).toBe(await calculateJwkThumbprint(pub, 'sha256'))
    }
  })

  test('checks ath against the presented access token', async () => {
    const ath = await hashAccessToken('at-1')
    const p = await proof({ htm: 'GET', ath })
    await expect(verifyDpopProof({ proof: p, method: 'GET', url: URL_, now: NOW, accessToken: 'at-1' })).resolves.toBeTruthy()
    expect(await codeOf(verifyDpopProof({ proof: p, method: 'GET', url: URL_, now: NOW, accessToken: 'at-2' }))).toBe('DPOP_ATH_MISMATCH')
    const noAth = await proof({ htm: 'GET' })
    expect(await codeOf(verifyDpopProof({ proof: noAth, method: 'GET', url: URL_, now: NOW, accessToken: 'at-1' }))).toBe('DPOP_ATH_MISMATCH')
  })

  test('checks the nonce as a value or a predicate', async () => {
    const withNonce = await proof({ nonce: 'n1' })
    const without = await proof()
    const base = { method: 'POST', url: URL_, now: NOW }
    await expect(verifyDpopProof({ ...base, proof: withNonce, nonce: 'n1' })).resolves.toMatchObject({ nonce: 'n1' })
    expect(await codeOf(verifyDpopProof({ ...base, proof: withNonce, nonce: 'n2' }))).toBe('DPOP_NONCE_INVALID')
    expect(await codeOf(verifyDpopProof({ ...base, proof: without, nonce: 'n1' }))).toBe('DPOP_NONCE_REQUIRED')
    expect(await codeOf(verifyDpopProof({ ...base, proof: withNonce, nonce: (n) => n === 'n1' }))).toBe('accepted')
  })
})

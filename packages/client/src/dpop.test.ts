import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { calculateJwkThumbprint, decodeProtectedHeader, decodeJwt } from 'jose'
import { hashAccessToken, verifyDpopProof } from '@evergreen/core'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { createSessionClient } from './client.js'
import { createDpopHandle } from './dpop.js'
import { generateDpopKey, importDpopKey } from './dpop-key.js'
import { DpopError, StorageError } from './errors.js'
import { parseStoredSession, type DpopKeyRecord, type StoredSession } from './session.js'
import { createMemoryStore } from './store/memory.js'

// DPoP in the SDK (RFC 9449) against a real local HTTP server: a token endpoint and a resource
// server that verify every proof with core's verifyDpopProof — the same check the token service
// runs — and can demand a nonce.

const NOW = 1_800_000_000_000

interface Seen {
  path: string
  authorization: string | undefined
  proof: string | undefined
}

let server: Server
let origin: string
let seen: Seen[] = []
/** The nonce the server demands (undefined: none), and how many challenges it may still send. */
let demandNonce: string | undefined
let refuseProof = false
/** Answer every token request with use_dpop_nonce and a nonce never seen before. */
let alwaysChallenge = false
let issued = 0

async function readBody(req: IncomingMessage): Promise<string> {
  let body = ''
  for await (const chunk of req) body += chunk
  return body
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(JSON.stringify(body))
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', origin)
  const proof = typeof req.headers.dpop === 'string' ? req.headers.dpop : undefined
  seen.push({ path: url.pathname, authorization: req.headers.authorization, proof })
  if (url.pathname === '/.well-known/openid-configuration') {
    return json(res, 200, { issuer: origin, token_endpoint: `${origin}/token`, revocation_endpoint: `${origin}/revoke`, dpop_signing_alg_values_supported: ['ES256'] })
  }
  if (url.pathname === '/revoke') {
    await readBody(req)
    if (!proof) return json(res, 400, { error: 'invalid_dpop_proof' })
    try {
      const nonce = demandNonce
      await verifyDpopProof({ proof, method: 'POST', url: `${origin}/revoke`, now: NOW / 1000, ...(nonce ? { nonce } : {}) })
    } catch (err) {
      if ((err as { isNonceError?: boolean }).isNonceError) return json(res, 400, { error: 'use_dpop_nonce' }, { 'dpop-nonce': demandNonce! })
      return json(res, 400, { error: 'invalid_dpop_proof' })
    }
    res.writeHead(200).end()
    return
  }
  if (url.pathname === '/token') {
    const form = new URLSearchParams(await readBody(req))
    if (!proof) return json(res, 400, { error: 'invalid_dpop_proof', error_description: 'missing' })
    if (alwaysChallenge) return json(res, 400, { error: 'use_dpop_nonce' }, { 'dpop-nonce': `fresh-${seen.length}` })
    let jkt: string
    try {
      const nonce = demandNonce
      ;({ jkt } = await verifyDpopProof({ proof, method: 'POST', url: `${origin}/token`, now: NOW / 1000, ...(nonce ? { nonce } : {}) }))
    } catch (err) {
      if ((err as { isNonceError?: boolean }).isNonceError) return json(res, 400, { error: 'use_dpop_nonce' }, { 'dpop-nonce': demandNonce! })
      return json(res, 400, { error: 'invalid_dpop_proof', error_description: (err as Error).message })
    }
    if (refuseProof) return json(res, 400, { error: 'invalid_dpop_proof', error_description: 'iat out of window' })
    issued++
    return json(res, 200, {
      access_token: `at-${issued}.${jkt}`,
      token_type: 'DPoP',
      expires_in: 300,
      refresh_token: `rt-${issued}`,
      refresh_token_expires_in: 3600,
      grant: form.get('grant_type'),
    })
  }
  if (url.pathname === '/api/me') {
    const [scheme, token] = (req.headers.authorization ?? '').split(' ')
    if (scheme !== 'DPoP' || !token || !proof) return json(res, 401, { error: 'invalid_token' }, { 'www-authenticate': 'DPoP algs="ES256"' })
    try {
      const nonce = demandNonce
      const { jkt } = await verifyDpopProof({ proof, method: 'GET', url: `${origin}/api/me`, now: NOW / 1000, accessToken: token, ...(nonce ? { nonce } : {}) })
      if (!token.endsWith(`.${jkt}`)) return json(res, 401, { error: 'invalid_token' }, { 'www-authenticate': 'DPoP error="invalid_token"' })
    } catch (err) {
      if ((err as { isNonceError?: boolean }).isNonceError) {
        return json(res, 401, { error: 'use_dpop_nonce' }, { 'www-authenticate': 'DPoP error="use_dpop_nonce", algs="ES256"', 'dpop-nonce': demandNonce! })
      }
      return json(res, 401, { error: 'invalid_dpop_proof' }, { 'www-authenticate': 'DPoP error="invalid_dpop_proof"' })
    }
    return json(res, 200, { ok: true })
  }
  json(res, 404, { error: 'not_found' })
}

beforeAll(async () => {
  server = createServer((req, res) => void handle(req, res).catch((err) => json(res, 500, { error: String(err) })))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  origin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`
})

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

afterEach(() => {
  seen = []
  demandNonce = undefined
  refuseProof = false
  alwaysChallenge = false
})

/** A bound session whose access token has expired, so the next getValidToken refreshes. */
function boundSession(key: DpopKeyRecord, overrides: Partial<StoredSession> = {}): StoredSession {
  return {
    version: 1,
    issuer: origin,
    client_id: 'cli',
    access_token: 'at-old',
    access_token_expires_at: NOW - 1_000,
    refresh_token: 'rt-old',
    refresh_token_expires_at: NOW + 3_600_000,
    token_type: 'Bearer',
    obtained_at: NOW - 301_000,
    dpop: key,
    ...overrides,
  }
}

function clientFor(store: ReturnType<typeof createMemoryStore>, extra: { randomId?: () => string } = {}) {
  return createSessionClient({ store, issuer: origin, env: {}, now: () => NOW, ...extra })
}

describe('the stored key', () => {
  test('a generated key is a P-256 private JWK with its RFC 7638 thumbprint, and survives the store round trip', async () => {
    const key = await generateDpopKey({ boundAtIssuance: true })
    expect(key.alg).toBe('ES256')
    expect(key.jwk).toMatchObject({ kty: 'EC', crv: 'P-256' })
    expect(typeof key.jwk.d).toBe('string')
    const { kty, crv, x, y } = key.jwk
    expect(key.jkt).toBe(await calculateJwkThumbprint({ kty, crv, x, y }, 'sha256'))
    const session = boundSession(key)
    expect(parseStoredSession(JSON.parse(JSON.stringify(session)))).toEqual(session)
    // A damaged key is a corrupt session, not a Bearer one.
    expect(parseStoredSession({ ...session, dpop: { ...key, jwk: { ...key.jwk, d: 42 } } })).toBeUndefined()
    expect(parseStoredSession({ ...session, dpop: { ...key, alg: 'HS256' } })).toBeUndefined()
  })

  test('imported for use, the private key is non-extractable; a thumbprint that does not match is STORAGE_CORRUPT', async () => {
    const key = await generateDpopKey({ boundAtIssuance: true })
    const imported = await importDpopKey(key)
    expect(imported.privateKey.extractable).toBe(false)
    expect(imported.privateKey.type).toBe('private')
    await expect(crypto.subtle.exportKey('jwk', imported.privateKey)).rejects.toThrow()
    const other = await generateDpopKey({ boundAtIssuance: true })
    const err = await importDpopKey({ ...key, jkt: other.jkt }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(StorageError)
    expect((err as StorageError).code).toBe('STORAGE_CORRUPT')
  })
})

describe('proof contents (RFC 9449 §4.2)', () => {
  test('typ, alg and the public jwk in the header; htm, htu without query, iat from the injected clock, a fresh jti; ath with a token', async () => {
    const key = await generateDpopKey({ boundAtIssuance: true })
    const ids = ['jti-1', 'jti-2']
    const dpop = createDpopHandle(key, { now: () => NOW + 999, randomId: () => ids.shift()!, nonces: new Map() })
    const proof = await dpop.proof('POST', `${origin}/token?x=1#frag`)
    const header = decodeProtectedHeader(proof)
    expect(header).toEqual({ alg: 'ES256', typ: 'dpop+jwt', jwk: { kty: 'EC', crv: 'P-256', x: key.jwk.x, y: key.jwk.y } })
    expect(decodeJwt(proof)).toEqual({ htm: 'POST', htu: `${origin}/token`, iat: Math.floor((NOW + 999) / 1000), jti: 'jti-1' })
    // The token service's own check accepts it and names our key.
    expect(await verifyDpopProof({ proof, method: 'POST', url: `${origin}/token`, now: NOW / 1000 })).toMatchObject({ jkt: key.jkt, jti: 'jti-1' })

    const withToken = await dpop.proof('GET', `${origin}/api/me`, 'the-access-token')
    expect(decodeJwt(withToken)).toMatchObject({ htm: 'GET', jti: 'jti-2', ath: await hashAccessToken('the-access-token') })
    await expect(verifyDpopProof({ proof: withToken, method: 'GET', url: `${origin}/api/me`, now: NOW / 1000, accessToken: 'another-token' })).rejects.toMatchObject({
      code: 'DPOP_ATH_MISMATCH',
    })
  })

  test('the default jti is random: two proofs never share one', async () => {
    const dpop = createDpopHandle(await generateDpopKey({ boundAtIssuance: true }), { now: () => NOW, nonces: new Map() })
    const jtis = await Promise.all(Array.from({ length: 20 }, async () => decodeJwt(await dpop.proof('POST', `${origin}/token`)).jti))
    expect(new Set(jtis).size).toBe(20)
  })
})

describe('refresh of a bound session', () => {
  test('proves the key with htu = the token endpoint from discovery; the key and the DPoP token type are stored with the new tokens', async () => {
    const key = await generateDpopKey({ boundAtIssuance: true })
    const store = createMemoryStore([[{ issuer: origin, profile: 'default' }, boundSession(key)]])
    const token = await clientFor(store).getValidToken()
    expect(token).toBe(`at-${issued}.${key.jkt}`)
    const tokenCalls = seen.filter((s) => s.path === '/token')
    expect(tokenCalls).toHaveLength(1)
    expect(decodeJwt(tokenCalls[0]!.proof!)).toMatchObject({ htm: 'POST', htu: `${origin}/token`, iat: NOW / 1000 })
    const stored = await store.read({ issuer: origin, profile: 'default' })
    expect(stored).toMatchObject({ access_token: token, refresh_token: `rt-${issued}`, token_type: 'DPoP', dpop: key })
  })

  test('use_dpop_nonce: retried once with the DPoP-Nonce, and the nonce is remembered for the next refresh', async () => {
    const key = await generateDpopKey({ boundAtIssuance: true })
    const store = createMemoryStore([[{ issuer: origin, profile: 'default' }, boundSession(key)]])
    const client = clientFor(store)
    demandNonce = 'nonce-A'
    await client.getValidToken()
    const first = seen.filter((s) => s.path === '/token')
    expect(first).toHaveLength(2)
    expect(decodeJwt(first[0]!.proof!).nonce).toBeUndefined()
    expect(decodeJwt(first[1]!.proof!).nonce).toBe('nonce-A')
    // Two proofs, two jtis: a proof is never sent twice.
    expect(decodeJwt(first[0]!.proof!).jti).not.toBe(decodeJwt(first[1]!.proof!).jti)

    seen = []
    await client.refresh({ force: true })
    const second = seen.filter((s) => s.path === '/token')
    expect(second).toHaveLength(1)
    expect(decodeJwt(second[0]!.proof!).nonce).toBe('nonce-A')
  })

  test('a server that keeps asking for another nonce gets one retry, then the caller a DpopError; the session is kept', async () => {
    const key = await generateDpopKey({ boundAtIssuance: true })
    const session = boundSession(key)
    const store = createMemoryStore([[{ issuer: origin, profile: 'default' }, session]])
    alwaysChallenge = true
    const client = clientFor(store)
    const err = await client.getValidToken().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DpopError)
    expect((err as DpopError).code).toBe('DPOP_PROOF_REJECTED')
    expect(seen.filter((s) => s.path === '/token')).toHaveLength(2)
    expect(await store.read({ issuer: origin, profile: 'default' })).toEqual(session)
  })

  test('a refused proof (invalid_dpop_proof) is DPOP_PROOF_REJECTED with remedy check_clock, never a logout', async () => {
    const key = await generateDpopKey({ boundAtIssuance: true })
    const session = boundSession(key)
    const store = createMemoryStore([[{ issuer: origin, profile: 'default' }, session]])
    refuseProof = true
    const err = await clientFor(store).getValidToken().catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'DpopError', code: 'DPOP_PROOF_REJECTED', remedy: 'check_clock', issuer: origin })
    expect(await store.read({ issuer: origin, profile: 'default' })).toEqual(session)
  })

  test('an unbound session that the server wants bound: DPOP_REQUIRED (remedy login), nothing deleted', async () => {
    const { dpop: _unused, ...session } = boundSession(await generateDpopKey({ boundAtIssuance: true }))
    const store = createMemoryStore([[{ issuer: origin, profile: 'default' }, session]])
    const err = await clientFor(store).getValidToken().catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'DpopError', code: 'DPOP_REQUIRED', remedy: 'login' })
    expect(seen.find((s) => s.path === '/token')?.proof).toBeUndefined()
    expect(await store.read({ issuer: origin, profile: 'default' })).toEqual(session)
  })
})

describe('logout of a bound session', () => {
  test('revokes with a proof for the revocation endpoint, taking a nonce challenge once; then deletes token and key', async () => {
    const key = await generateDpopKey({ boundAtIssuance: true })
    const store = createMemoryStore([[{ issuer: origin, profile: 'default' }, boundSession(key)]])
    demandNonce = 'revoke-nonce'
    const result = await clientFor(store).logout()
    expect(result).toEqual({ wasLoggedIn: true, revocation: 'revoked' })
    const calls = seen.filter((s) => s.path === '/revoke')
    expect(calls).toHaveLength(2)
    expect(decodeJwt(calls[0]!.proof!)).toMatchObject({ htm: 'POST', htu: `${origin}/revoke` })
    expect(decodeJwt(calls[1]!.proof!).nonce).toBe('revoke-nonce')
    expect(await store.read({ issuer: origin, profile: 'default' })).toBeUndefined()
  })
})

describe('fetch to a resource server (RFC 9449 §7)', () => {
  test('a DPoP access token goes as Authorization: DPoP with a proof carrying ath; the resource server\'s nonce challenge is answered once', async () => {
    const key = await generateDpopKey({ boundAtIssuance: true })
    const store = createMemoryStore([[{ issuer: origin, profile: 'default' }, boundSession(key)]])
    const client = clientFor(store)
    const token = await client.getValidToken()
    seen = []
    demandNonce = 'rs-nonce'
    const res = await client.fetch(`${origin}/api/me?page=2`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ ok: true })
    const calls = seen.filter((s) => s.path === '/api/me')
    expect(calls).toHaveLength(2)
    for (const call of calls) {
      expect(call.authorization).toBe(`DPoP ${token}`)
      expect(decodeJwt(call.proof!)).toMatchObject({ htm: 'GET', htu: `${origin}/api/me`, ath: await hashAccessToken(token) })
    }
    expect(decodeJwt(calls[1]!.proof!).nonce).toBe('rs-nonce')
    // No refresh was spent on the nonce challenge.
    expect(seen.filter((s) => s.path === '/token')).toHaveLength(0)
  })

  test('a bound session whose access token is Bearer sends it as Bearer, without a proof; after the 401 renewal, the DPoP token with a proof', async () => {
    const key = await generateDpopKey({ boundAtIssuance: true })
    const store = createMemoryStore([
      [{ issuer: origin, profile: 'default' }, boundSession(key, { access_token: 'bearer-at', access_token_expires_at: NOW + 300_000, obtained_at: NOW })],
    ])
    const res = await clientFor(store).fetch(`${origin}/api/me`)
    expect(res.status).toBe(200)
    const calls = seen.filter((s) => s.path === '/api/me')
    expect(calls).toHaveLength(2)
    expect(calls[0]!.authorization).toBe('Bearer bearer-at')
    expect(calls[0]!.proof).toBeUndefined()
    const renewed = (await store.read({ issuer: origin, profile: 'default' }))!
    expect(renewed).toMatchObject({ token_type: 'DPoP', dpop: key })
    expect(calls[1]!.authorization).toBe(`DPoP ${renewed.access_token}`)
    expect(decodeJwt(calls[1]!.proof!).ath).toBe(await hashAccessToken(renewed.access_token))
  })
})

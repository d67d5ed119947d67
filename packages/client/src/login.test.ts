import { decodeCredential, encodeCredential, formatRefreshToken } from '@evergreen/core'
import { beforeEach, describe, expect, test } from 'vitest'
import { createSessionClient, type SessionClientOptions } from './client.js'
import { createMemoryStore } from './store/memory.js'
import type { SessionStore } from './store/types.js'
import { createTestService, json, mint, seedUserAndClient, type TestService } from '../../server/src/test-support/harness.js'

// loginWithCredential against the real token service (real store, keys and rotation), called
// in process through app.fetch: no sockets.

const ISSUER = 'http://evergreen.test'

let svc: TestService
let ids: { userId: string; clientId: string }
let store: SessionStore
let tokenRequests: number

function client(extra: Partial<SessionClientOptions> = {}) {
  return createSessionClient({
    store,
    env: {},
    now: () => svc.clock.now() * 1000,
    fetch: async (input, init) => {
      const req = new Request(input, init)
      if (new URL(req.url).pathname === '/oauth/token') tokenRequests++
      return svc.app.fetch(req)
    },
    ...extra,
  })
}

async function sessionActive(id: string): Promise<boolean> {
  return (await json<{ active: boolean }>(await svc.admin('GET', `/sessions/${id}`))).active
}

beforeEach(async () => {
  svc = await createTestService()
  ids = await seedUserAndClient(svc)
  store = createMemoryStore()
  tokenRequests = 0
})

describe('loginWithCredential', () => {
  test('egc1_ envelope: no other flag; refreshes at once and stores the successor', async () => {
    const minted = await mint(svc, ids.userId, ids.clientId)
    const c = client()
    const result = await c.loginWithCredential(`  ${minted.credential}\n`)
    expect(result).toMatchObject({ kind: 'credential', key: { issuer: ISSUER, profile: 'default' }, status: { renewable: true, issuer: ISSUER, client_id: ids.clientId } })
    expect(result.warning).toBeUndefined()
    expect(tokenRequests).toBe(1)
    const stored = (await store.read({ issuer: ISSUER, profile: 'default' }))!
    // The pasted token (which may sit in shell history) is spent; only the store holds the successor.
    expect(stored.refresh_token).toMatch(/^egr_/)
    expect(stored.refresh_token).not.toBe(minted.refresh_token)
    expect(stored.account).toEqual({ sub: ids.userId })
    expect(stored.access_token_expires_at).toBe(svc.clock.now() * 1000 + 900_000)
    expect(await sessionActive(minted.session_id)).toBe(true)
    // The client now knows its issuer: no flag needed for the next call either.
    expect(await c.getValidToken()).toBe(stored.access_token)
    expect(await client().getValidToken()).toBe(stored.access_token)
  })

  test('bare egr_ refresh token with issuer and client id', async () => {
    const minted = await mint(svc, ids.userId, ids.clientId)
    const result = await client().loginWithCredential(minted.refresh_token, { issuer: ISSUER, clientId: ids.clientId })
    expect(result.kind).toBe('refresh_token')
    expect((await store.read(result.key))!.refresh_token).not.toBe(minted.refresh_token)
  })

  test('bare egr_ without an issuer or client id: ConfigError, nothing sent', async () => {
    const minted = await mint(svc, ids.userId, ids.clientId)
    await expect(client().loginWithCredential(minted.refresh_token)).rejects.toMatchObject({ code: 'CONFIG_ISSUER_REQUIRED' })
    await expect(client().loginWithCredential(minted.refresh_token, { issuer: ISSUER })).rejects.toMatchObject({ code: 'CONFIG_CLIENT_ID_REQUIRED' })
    expect(tokenRequests).toBe(0)
  })

  test('raw JWT: stored access-only with a warning saying when it dies and how to get a renewable credential', async () => {
    const minted = await mint(svc, ids.userId, ids.clientId)
    const c = client()
    const result = await c.loginWithCredential(minted.access_token)
    expect(result.kind).toBe('access_token')
    expect(result.status).toMatchObject({ renewable: false, issuer: ISSUER, client_id: ids.clientId })
    expect(result.warning).toEqual({ code: 'LOGIN_ACCESS_ONLY', remedy: 'mint_credential', issuer: ISSUER, expiresAt: (svc.clock.now() + 900) * 1000 })
    expect(tokenRequests).toBe(0)
    expect(await c.getValidToken()).toBe(minted.access_token)
    // After its exp: a clear error, not a refresh attempt.
    svc.clock.advance(901)
    await expect(c.getValidToken()).rejects.toMatchObject({ reason: 'access_only_expired' })
    expect(tokenRequests).toBe(0)
  })

  test('an already expired JWT is refused, not stored', async () => {
    const minted = await mint(svc, ids.userId, ids.clientId)
    svc.clock.advance(1000)
    await expect(client().loginWithCredential(minted.access_token)).rejects.toMatchObject({ code: 'AUTH_ACCESS_ONLY_EXPIRED' })
    expect(await store.list()).toEqual([])
  })

  test('a refused credential: AuthError, and an existing session stays', async () => {
    const good = await mint(svc, ids.userId, ids.clientId)
    await client().loginWithCredential(good.credential)
    const before = await store.read({ issuer: ISSUER, profile: 'default' })
    const unknown = encodeCredential({ v: 1, iss: ISSUER, client_id: ids.clientId, refresh_token: formatRefreshToken(new Uint8Array(32).fill(7)) })
    await expect(client().loginWithCredential(unknown)).rejects.toMatchObject({ name: 'AuthError', reason: 'session_expired' })
    expect(await store.read({ issuer: ISSUER, profile: 'default' })).toEqual(before)
  })

  test('a revoked session: AuthError revoked', async () => {
    const minted = await mint(svc, ids.userId, ids.clientId)
    await svc.admin('DELETE', `/sessions/${minted.session_id}`)
    await expect(client().loginWithCredential(minted.credential)).rejects.toMatchObject({ reason: 'revoked', code: 'AUTH_REVOKED' })
  })

  test('input that is none of the three: CredentialError, and the checksum catches a truncated paste', async () => {
    const minted = await mint(svc, ids.userId, ids.clientId)
    await expect(client().loginWithCredential('hello')).rejects.toMatchObject({ name: 'CredentialError', code: 'CREDENTIAL_UNRECOGNIZED' })
    await expect(client().loginWithCredential(minted.refresh_token.slice(0, -1), { issuer: ISSUER, clientId: ids.clientId })).rejects.toMatchObject({
      code: 'CREDENTIAL_MALFORMED',
    })
    await expect(client().loginWithCredential(minted.credential.slice(0, -8))).rejects.toMatchObject({ code: 'CREDENTIAL_MALFORMED' })
    await expect(client().loginWithCredential('egc2_abc')).rejects.toMatchObject({ code: 'CREDENTIAL_UNSUPPORTED_VERSION' })
    expect(tokenRequests).toBe(0)
  })

  test('a credential whose DPoP key is not a P-256 key: CREDENTIAL_MALFORMED, nothing sent or stored', async () => {
    const minted = await mint(svc, ids.userId, ids.clientId)
    const decoded = decodeCredential(minted.credential)
    if (!decoded.ok) throw new Error('mint gave a bad credential')
    // Well-formed members, but (x, y) is not a point on the curve.
    const dpop_key = { kty: 'EC' as const, crv: 'P-256' as const, x: 'A'.repeat(43), y: 'B'.repeat(43), d: 'C'.repeat(43) }
    await expect(client().loginWithCredential(encodeCredential({ ...decoded.value, dpop_key }))).rejects.toMatchObject({ name: 'CredentialError', code: 'CREDENTIAL_MALFORMED' })
    expect(tokenRequests).toBe(0)
    expect(await store.list()).toEqual([])
  })

  test('a credential for another issuer than --issuer is refused before anything is sent', async () => {
    const minted = await mint(svc, ids.userId, ids.clientId)
    expect(decodeCredential(minted.credential).ok).toBe(true)
    await expect(client().loginWithCredential(minted.credential, { issuer: 'https://elsewhere.test' })).rejects.toMatchObject({ code: 'CONFIG_ISSUER_MISMATCH' })
    expect(tokenRequests).toBe(0)
  })

  test('messages never contain the token', async () => {
    const minted = await mint(svc, ids.userId, ids.clientId)
    await svc.admin('DELETE', `/sessions/${minted.session_id}`)
    const err = (await client().loginWithCredential(minted.credential).catch((e: unknown) => e)) as Error
    expect(err.message).not.toContain(minted.refresh_token)
    expect(String(err.stack)).not.toContain(minted.refresh_token)
  })
})

describe('against the real service', () => {
  test('refresh rotates; logout revokes the session server-side', async () => {
    const minted = await mint(svc, ids.userId, ids.clientId)
    const c = client()
    await c.loginWithCredential(minted.credential)
    const first = await c.getValidToken()
    svc.clock.advance(880)
    const second = await c.getValidToken()
    expect(second).not.toBe(first)
    expect(tokenRequests).toBe(2)
    expect(await c.logout()).toEqual({ wasLoggedIn: true, revocation: 'revoked' })
    expect(await sessionActive(minted.session_id)).toBe(false)
    expect(await store.list()).toEqual([])
  })

  test('refresh({ force: true }) refreshes a fresh token', async () => {
    const minted = await mint(svc, ids.userId, ids.clientId)
    const c = client()
    await c.loginWithCredential(minted.credential)
    const before = await c.getValidToken()
    svc.clock.advance(1)
    const after = await c.refresh({ force: true })
    expect(after).not.toBe(before)
    expect(await c.getValidToken()).toBe(after)
  })
})

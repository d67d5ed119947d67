import { createHash } from 'node:crypto'
import { decodeJwt } from 'jose'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { PageClient } from '../test-support/browser-client.js'
import { createDpopKey, type TestDpopKey } from '../test-support/dpop-key.js'
import { createTestService, json, mint, openTempSqlite, refresh as refreshAs, seedUserAndClient, type TestService } from '../test-support/harness.js'
import type { Store } from '../store/types.js'

// DPoP-bound sessions (RFC 9449 §5) through the real pages and token endpoint, in process, with an
// injected clock: a thief holding a bound refresh token but not the key gets nothing and cannot
// log the owner out.

const PASSWORD = 'correct horse battery'
const REDIRECT = 'http://127.0.0.1:9999/callback'
const verifier = 'v'.repeat(20) + 'erifier-0123456789-abcdefghijklmnop'
const challenge = createHash('sha256').update(verifier).digest('base64url')

let svc: TestService
let browser: PageClient
let clientId: string
/** Set for a confidential (client_secret_post) client, sent with every token and revocation request. */
let clientSecret: Record<string, string>
let owner: TestDpopKey
let thief: TestDpopKey

interface Tokens {
  access_token: string
  token_type: string
  refresh_token: string
}

async function setup(env: Record<string, string> = {}, client: Record<string, unknown> = {}): Promise<void> {
  svc = await createTestService({ env })
  await json(await svc.admin('POST', '/users', { email: 'ada@example.com', password: PASSWORD }), 201)
  const created = await json<{ client_id: string; client_secret?: string }>(
    await svc.admin('POST', '/clients', {
      name: 'Native app',
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: 'none',
      first_party: true,
      ...client,
    }),
    201,
  )
  clientId = created.client_id
  clientSecret = created.client_secret === undefined ? {} : { client_secret: created.client_secret }
  browser = new PageClient(svc)
  await browser.login('ada@example.com', PASSWORD)
  owner = await createDpopKey(svc.clock.now)
  thief = await createDpopKey(svc.clock.now)
}

async function authorizeCode(extra: Record<string, string> = {}): Promise<string> {
  const params = { response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, scope: 'openid', state: 's', code_challenge: challenge, code_challenge_method: 'S256', ...extra }
  const res = await browser.get(`/authorize?${new URLSearchParams(params)}`)
  expect(res.status).toBe(303)
  const code = new URL(res.headers.get('location')!).searchParams.get('code')
  expect(code).toBeTruthy()
  return code!
}

const exchange = (code: string, proof?: string) =>
  svc.form(
    '/oauth/token',
    { grant_type: 'authorization_code', client_id: clientId, ...clientSecret, code, redirect_uri: REDIRECT, code_verifier: verifier },
    proof === undefined ? {} : { dpop: proof },
  )

const refresh = (refreshToken: string, proof?: string) =>
  svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId, ...clientSecret, refresh_token: refreshToken }, proof === undefined ? {} : { dpop: proof })

const REVOKE_HTU = 'http://evergreen.test/oauth/revoke'

const revoke = (token: string, proof?: string) =>
  svc.form('/oauth/revoke', { token, client_id: clientId, ...clientSecret }, proof === undefined ? {} : { dpop: proof })

/** A bound session: the code exchanged with the owner's proof. */
async function boundSession(): Promise<Tokens> {
  return json<Tokens>(await exchange(await authorizeCode(), await owner.proof()))
}

async function errorOf(res: Response): Promise<{ status: number; error: string; error_reason?: string }> {
  const body = (await res.json()) as { error: string; error_reason?: string }
  return { status: res.status, ...body }
}

async function sessionOf(accessToken: string): Promise<{ dpop_jkt: string | null; revoked_at: number | null; active: boolean }> {
  const sid = decodeJwt(accessToken).sid as string
  return json(await svc.admin('GET', `/sessions/${sid}`))
}

afterEach(async () => {
  await svc?.close()
})

describe('a DPoP-bound refresh token', () => {
  beforeEach(() => setup())

  test('is bound at issuance to the proof key, and a Bearer access token stays Bearer by default', async () => {
    const tokens = await boundSession()
    expect(tokens.token_type).toBe('Bearer')
    expect(decodeJwt(tokens.access_token).cnf).toBeUndefined()
    expect(await sessionOf(tokens.access_token)).toMatchObject({ dpop_jkt: owner.jkt, active: true })
    const next = await json<Tokens>(await refresh(tokens.refresh_token, await owner.proof()))
    // Carried through the rotation: the next token still needs the key.
    expect(await errorOf(await refresh(next.refresh_token))).toMatchObject({ status: 400, error: 'invalid_dpop_proof' })
    expect(await sessionOf(next.access_token)).toMatchObject({ dpop_jkt: owner.jkt, active: true })
  })

  test('a session issued without a proof stays unbound and refreshes as before', async () => {
    const tokens = await json<Tokens>(await exchange(await authorizeCode()))
    expect(await sessionOf(tokens.access_token)).toMatchObject({ dpop_jkt: null })
    expect((await refresh(tokens.refresh_token)).status).toBe(200)
  })

  test('is refused without a proof, with another key, a replayed proof, wrong htu or htm, a stale iat — and the owner keeps the session', async () => {
    const tokens = await boundSession()
    const now = svc.clock.now()
    const replayed = await owner.proof()
    expect((await refresh(tokens.refresh_token, replayed)).status).toBe(200)
    // From here on `tokens.refresh_token` is spent; each attempt below would trip reuse detection
    // if the proof were not checked first. Use the current token for the refusals too.
    const current = await json<Tokens>(await refresh(tokens.refresh_token, await owner.proof()))
    const attempts: [string, Promise<Response>, string][] = [
      ['no proof', refresh(current.refresh_token), 'invalid_dpop_proof'],
      ["the thief's key", refresh(current.refresh_token, await thief.proof()), 'invalid_grant'],
      ['a replayed proof (same jti)', refresh(current.refresh_token, replayed), 'invalid_dpop_proof'],
      ['wrong htu', refresh(current.refresh_token, await owner.proof({ htu: 'http://evergreen.test/oauth/revoke' })), 'invalid_dpop_proof'],
      ['htu of another host', refresh(current.refresh_token, await owner.proof({ htu: 'http://evil.test/oauth/token' })), 'invalid_dpop_proof'],
      ['wrong htm', refresh(current.refresh_token, await owner.proof({ htm: 'GET' })), 'invalid_dpop_proof'],
      ['a stale iat', refresh(current.refresh_token, await owner.proof({ iat: now - 61 })), 'invalid_dpop_proof'],
      ['an iat from the future', refresh(current.refresh_token, await owner.proof({ iat: now + 61 })), 'invalid_dpop_proof'],
      ['a wrong typ', refresh(current.refresh_token, await owner.proof({ typ: 'JWT' })), 'invalid_dpop_proof'],
    ]
    for (const [what, res, error] of attempts) {
      expect(await errorOf(await res), what).toMatchObject({ status: 400, error })
    }
    expect(await sessionOf(current.access_token)).toMatchObject({ active: true, revoked_at: null })
    // The owner's current token is untouched by all of that: it rotates, once.
    const after = await json<Tokens>(await refresh(current.refresh_token, await owner.proof()))
    expect(await sessionOf(after.access_token)).toMatchObject({ active: true, dpop_jkt: owner.jkt })
  })

  test('a proof of another key gets invalid_grant dpop_key_mismatch, audited, and nothing else', async () => {
    const tokens = await boundSession()
    expect(await errorOf(await refresh(tokens.refresh_token, await thief.proof()))).toMatchObject({ error: 'invalid_grant', error_reason: 'dpop_key_mismatch' })
    const sid = decodeJwt(tokens.access_token).sid as string
    const audit = await json<{ items: { type: string; data: Record<string, unknown> }[] }>(await svc.admin('GET', `/audit?session_id=${sid}`))
    expect(audit.items.map((e) => [e.type, e.data.reason])).toContainEqual(['refresh.failed', 'dpop_key_mismatch'])
    expect((await refresh(tokens.refresh_token, await owner.proof())).status).toBe(200)
  })

  test('a grace-window replay without the key gets nothing; with the key it gets the same successor', async () => {
    const tokens = await boundSession()
    const next = await json<Tokens>(await refresh(tokens.refresh_token, await owner.proof()))
    svc.clock.advance(5)
    for (const proof of [undefined, await thief.proof()]) {
      const res = await refresh(tokens.refresh_token, proof)
      expect(res.status).toBe(400)
      expect(await res.text()).not.toContain(next.refresh_token)
    }
    const replay = await json<Tokens>(await refresh(tokens.refresh_token, await owner.proof()))
    expect(replay.refresh_token).toBe(next.refresh_token)
    expect(await sessionOf(next.access_token)).toMatchObject({ active: true })
  })

  test("a thief replaying a spent token after the grace window cannot trigger reuse detection: the owner's session survives", async () => {
    const tokens = await boundSession()
    const next = await json<Tokens>(await refresh(tokens.refresh_token, await owner.proof()))
    svc.clock.advance(3600)
    for (const proof of [undefined, await thief.proof(), await thief.proof(), undefined]) {
      expect((await refresh(tokens.refresh_token, proof)).status).toBe(400)
    }
    expect(await sessionOf(next.access_token)).toMatchObject({ active: true, revoked_at: null })
    const later = await json<Tokens>(await refresh(next.refresh_token, await owner.proof()))
    expect(later.refresh_token).not.toBe(next.refresh_token)
    // The owner replaying the spent token with the key is still reuse: that rule is unchanged.
    expect(await errorOf(await refresh(tokens.refresh_token, await owner.proof()))).toMatchObject({ error: 'invalid_grant', error_reason: 'reused' })
    expect(await sessionOf(later.access_token)).toMatchObject({ active: false })
  })
})

describe('revoking a DPoP-bound token (RFC 7009)', () => {
  test('discovery publishes the revocation URL a proof names as htu', async () => {
    await setup()
    const metadata = await json<{ revocation_endpoint: string }>(await svc.fetch('/.well-known/openid-configuration'))
    expect(metadata.revocation_endpoint).toBe(REVOKE_HTU)
  })

  test('a thief without the key cannot revoke: no proof, another key, a token-endpoint proof — the owner keeps refreshing', async () => {
    await setup()
    const tokens = await boundSession()
    const attempts: [string, Promise<Response>, Record<string, unknown>][] = [
      ['no proof', revoke(tokens.refresh_token), { error: 'invalid_dpop_proof', error_description: expect.stringContaining('send a DPoP proof made with that key') }],
      ["the thief's key", revoke(tokens.refresh_token, await thief.proof({ htu: REVOKE_HTU })), { error: 'invalid_grant', error_reason: 'dpop_key_mismatch' }],
      ["the owner's key, htu of the token endpoint", revoke(tokens.refresh_token, await owner.proof()), { error: 'invalid_dpop_proof' }],
      ["the owner's key, wrong htm", revoke(tokens.refresh_token, await owner.proof({ htu: REVOKE_HTU, htm: 'GET' })), { error: 'invalid_dpop_proof' }],
    ]
    for (const [what, res, body] of attempts) {
      const refused = await res
      expect(refused.status, what).toBe(400)
      expect(await refused.json(), what).toMatchObject(body)
    }
    expect(await sessionOf(tokens.access_token)).toMatchObject({ active: true, revoked_at: null })
    const next = await json<Tokens>(await refresh(tokens.refresh_token, await owner.proof()))
    // A spent token of the session is refused the same way; the owner's session still stands.
    expect(await errorOf(await revoke(tokens.refresh_token))).toMatchObject({ status: 400, error: 'invalid_dpop_proof' })
    expect(await errorOf(await revoke(tokens.refresh_token, await thief.proof({ htu: REVOKE_HTU })))).toMatchObject({ status: 400, error: 'invalid_grant' })
    expect((await refresh(next.refresh_token, await owner.proof())).status).toBe(200)
    expect(await sessionOf(next.access_token)).toMatchObject({ active: true, revoked_at: null })
  })

  test('the owner revokes with a proof of the key; the proof cannot be replayed to revoke another session', async () => {
    await setup()
    const first = await boundSession()
    const second = await boundSession()
    const proof = await owner.proof({ htu: REVOKE_HTU })
    const res = await revoke(first.refresh_token, proof)
    expect(res.status).toBe(200)
    expect(res.headers.get('dpop-nonce')).toBeNull()
    expect(await sessionOf(first.access_token)).toMatchObject({ active: false })
    expect(await errorOf(await refresh(first.refresh_token, await owner.proof()))).toMatchObject({ error: 'invalid_grant', error_reason: 'revoked' })
    // The same jti again: the token endpoint's replay cache refuses it here too.
    expect(await errorOf(await revoke(second.refresh_token, proof))).toMatchObject({ status: 400, error: 'invalid_dpop_proof' })
    expect(await sessionOf(second.access_token)).toMatchObject({ active: true })
    // Revoking an already revoked session still needs the key, and is then a quiet 200.
    expect(await errorOf(await revoke(first.refresh_token))).toMatchObject({ status: 400, error: 'invalid_dpop_proof' })
    expect((await revoke(first.refresh_token, await owner.proof({ htu: REVOKE_HTU }))).status).toBe(200)
  })

  test('with server nonces on, a proof needs the current nonce, as at the token endpoint', async () => {
    await setup({ EVERGREEN_DPOP_NONCE: 'true' })
    const nonce = (await exchange(await authorizeCode(), await owner.proof())).headers.get('dpop-nonce')!
    expect(nonce).toBeTruthy()
    const tokens = await json<Tokens>(await exchange(await authorizeCode(), await owner.proof({ nonce })))
    const noNonce = await revoke(tokens.refresh_token, await owner.proof({ htu: REVOKE_HTU }))
    expect(noNonce.status).toBe(400)
    expect(await noNonce.json()).toMatchObject({ error: 'use_dpop_nonce' })
    const fresh = noNonce.headers.get('dpop-nonce')!
    expect(fresh).toBeTruthy()
    expect(await sessionOf(tokens.access_token)).toMatchObject({ active: true })
    const res = await revoke(tokens.refresh_token, await owner.proof({ htu: REVOKE_HTU, nonce: fresh }))
    expect(res.status).toBe(200)
    expect(res.headers.get('dpop-nonce')).toBeTruthy()
    expect(await sessionOf(tokens.access_token)).toMatchObject({ active: false })
  })

  test('a DPoP-bound access token revokes its session only with a proof of its key', async () => {
    await setup({}, { dpop_bound_access_tokens: true })
    const tokens = await boundSession()
    expect(decodeJwt(tokens.access_token).cnf).toEqual({ jkt: owner.jkt })
    expect(await errorOf(await revoke(tokens.access_token))).toMatchObject({ status: 400, error: 'invalid_dpop_proof' })
    expect(await errorOf(await revoke(tokens.access_token, await thief.proof({ htu: REVOKE_HTU })))).toMatchObject({ status: 400, error: 'invalid_grant', error_reason: 'dpop_key_mismatch' })
    expect(await sessionOf(tokens.access_token)).toMatchObject({ active: true })
    expect((await refresh(tokens.refresh_token, await owner.proof())).status).toBe(200)
    expect((await revoke(tokens.access_token, await owner.proof({ htu: REVOKE_HTU }))).status).toBe(200)
    expect(await sessionOf(tokens.access_token)).toMatchObject({ active: false })
  })

  test('an unbound session is revoked without a proof, as before; a DPoP header there is not even read', async () => {
    await setup()
    const tokens = await json<Tokens>(await exchange(await authorizeCode()))
    expect(await sessionOf(tokens.access_token)).toMatchObject({ dpop_jkt: null })
    expect((await revoke(tokens.refresh_token, 'not-a-proof')).status).toBe(200)
    expect(await sessionOf(tokens.access_token)).toMatchObject({ active: false })
    const other = await json<Tokens>(await exchange(await authorizeCode()))
    expect((await revoke(other.refresh_token)).status).toBe(200)
    expect(await errorOf(await refresh(other.refresh_token))).toMatchObject({ error: 'invalid_grant', error_reason: 'revoked' })
  })

  test("a confidential client's authentication is its proof: its DPoP-bound access token is revoked without one", async () => {
    await setup({}, { token_endpoint_auth_method: 'client_secret_post', dpop_bound_access_tokens: true })
    const tokens = await json<Tokens>(await exchange(await authorizeCode(), await owner.proof()))
    expect(decodeJwt(tokens.access_token).cnf).toEqual({ jkt: owner.jkt })
    expect(await sessionOf(tokens.access_token)).toMatchObject({ dpop_jkt: null })
    expect((await revoke(tokens.access_token, 'not-a-proof')).status).toBe(200)
    expect(await sessionOf(tokens.access_token)).toMatchObject({ active: false })
  })
})

describe('the refresh hot path without DPoP', () => {
  test('an unbound session refreshed without a DPoP header costs the same store calls as before: one read, one rotation', async () => {
    const calls: string[] = []
    const real = await openTempSqlite()
    // The real store, with each method call recorded.
    const store = new Proxy(real, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown
        if (typeof value !== 'function') return value
        return (...args: unknown[]) => {
          calls.push(String(prop))
          return (value as (...a: unknown[]) => unknown).apply(target, args)
        }
      },
    }) as Store
    svc = await createTestService({ store })
    const { userId, clientId: cid } = await seedUserAndClient(svc)
    const session = await mint(svc, userId, cid)
    calls.length = 0
    expect((await refreshAs(svc, cid, session.refresh_token)).status).toBe(200)
    expect(calls).toEqual(['findRefreshToken', 'rotateRefreshToken'])
  })
})

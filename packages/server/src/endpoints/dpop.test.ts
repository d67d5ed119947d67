import { createHash } from 'node:crypto'
import { DPOP_SIGNING_ALGS } from '@evergreen/core'
import { decodeJwt } from 'jose'
import { afterEach, describe, expect, test } from 'vitest'
import { PageClient } from '../test-support/browser-client.js'
import { createDpopKey, type TestDpopKey } from '../test-support/dpop-key.js'
import { createTestService, json, type TestService } from '../test-support/harness.js'

// DPoP (RFC 9449) at every endpoint that takes part: the token endpoint's client settings and
// nonce, /authorize and device authorization binding codes, introspection, discovery, userinfo.

const PASSWORD = 'correct horse battery'
const REDIRECT = 'http://127.0.0.1:9999/callback'
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'
const verifier = 'v'.repeat(20) + 'erifier-0123456789-abcdefghijklmnop'
const challenge = createHash('sha256').update(verifier).digest('base64url')

let svc: TestService
let browser: PageClient
let key: TestDpopKey
let other: TestDpopKey

interface Tokens {
  access_token: string
  token_type: string
  refresh_token: string
}

async function start(env: Record<string, string> = {}): Promise<void> {
  svc = await createTestService({ env })
  await json(await svc.admin('POST', '/users', { email: 'ada@example.com', password: PASSWORD }), 201)
  browser = new PageClient(svc)
  await browser.login('ada@example.com', PASSWORD)
  key = await createDpopKey(svc.clock.now)
  other = await createDpopKey(svc.clock.now)
}

async function createClient(fields: Record<string, unknown> = {}): Promise<string> {
  const body = { name: 'App', redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token', DEVICE_GRANT], token_endpoint_auth_method: 'none', first_party: true, ...fields }
  return (await json<{ client_id: string }>(await svc.admin('POST', '/clients', body), 201)).client_id
}

async function code(clientId: string, extra: Record<string, string> = {}): Promise<string> {
  const params = { response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, scope: 'openid', code_challenge: challenge, code_challenge_method: 'S256', ...extra }
  const res = await browser.get(`/authorize?${new URLSearchParams(params)}`)
  expect(res.status).toBe(303)
  return new URL(res.headers.get('location')!).searchParams.get('code')!
}

const exchange = (clientId: string, theCode: string, headers: Record<string, string> = {}) =>
  svc.form('/oauth/token', { grant_type: 'authorization_code', client_id: clientId, code: theCode, redirect_uri: REDIRECT, code_verifier: verifier }, headers)

const refresh = (clientId: string, refreshToken: string, headers: Record<string, string> = {}) =>
  svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: refreshToken }, headers)

async function introspect(token: string): Promise<Record<string, unknown>> {
  const rs = await json<{ client_id: string; client_secret: string }>(
    await svc.admin('POST', '/clients', { name: 'api', grant_types: ['client_credentials'] }),
    201,
  )
  const basic = Buffer.from(`${rs.client_id}:${rs.client_secret}`).toString('base64')
  return json(await svc.form('/oauth/introspect', { token }, { authorization: `Basic ${basic}` }))
}

afterEach(async () => {
  await svc?.close()
})

describe('client settings', () => {
  test('require_dpop: a token request without a proof is invalid_dpop_proof, with one it succeeds', async () => {
    await start()
    const clientId = await createClient({ require_dpop: true })
    expect(await json(await exchange(clientId, await code(clientId)), 400)).toMatchObject({ error: 'invalid_dpop_proof' })
    const tokens = await json<Tokens>(await exchange(clientId, await code(clientId), { dpop: await key.proof() }))
    expect(await json(await refresh(clientId, tokens.refresh_token), 400)).toMatchObject({ error: 'invalid_dpop_proof' })
    expect((await refresh(clientId, tokens.refresh_token, { dpop: await key.proof() })).status).toBe(200)
  })

  test('dpop_bound_access_tokens: token_type DPoP and cnf.jkt in the access token, on issuance and rotation', async () => {
    await start()
    const clientId = await createClient({ dpop_bound_access_tokens: true })
    const tokens = await json<Tokens>(await exchange(clientId, await code(clientId), { dpop: await key.proof() }))
    expect(tokens.token_type).toBe('DPoP')
    expect(decodeJwt(tokens.access_token).cnf).toEqual({ jkt: key.jkt })
    const next = await json<Tokens>(await refresh(clientId, tokens.refresh_token, { dpop: await key.proof() }))
    expect(next.token_type).toBe('DPoP')
    expect(decodeJwt(next.access_token).cnf).toEqual({ jkt: key.jkt })
    // Without a proof there is nothing to bind to: Bearer, as before.
    const plain = await json<Tokens>(await exchange(clientId, await code(clientId)))
    expect(plain.token_type).toBe('Bearer')
    expect(decodeJwt(plain.access_token).cnf).toBeUndefined()
  })

  test('the admin API validates and shows both flags', async () => {
    await start()
    expect(await json(await svc.admin('POST', '/clients', { name: 'x', require_dpop: 'yes' }), 400)).toMatchObject({ error: 'invalid_request' })
    const clientId = await createClient()
    expect(await json(await svc.admin('GET', `/clients/${clientId}`))).toMatchObject({ require_dpop: false, dpop_bound_access_tokens: false })
    expect(await json(await svc.admin('PATCH', `/clients/${clientId}`, { require_dpop: true }))).toMatchObject({ require_dpop: true, dpop_bound_access_tokens: false })
  })
})

describe('server nonce (EVERGREEN_DPOP_NONCE)', () => {
  test('a proof without the nonce gets use_dpop_nonce and a DPoP-Nonce header; with it the request succeeds; an old nonce is refused', async () => {
    await start({ EVERGREEN_DPOP_NONCE: 'true' })
    const clientId = await createClient()
    const theCode = await code(clientId)
    const challenged = await exchange(clientId, theCode, { dpop: await key.proof() })
    expect(challenged.status).toBe(400)
    expect(await challenged.json()).toMatchObject({ error: 'use_dpop_nonce' })
    const nonce = challenged.headers.get('dpop-nonce')
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{43}$/)
    // The challenge spent nothing: the same code is still good.
    const ok = await exchange(clientId, theCode, { dpop: await key.proof({ nonce: nonce! }) })
    const tokens = await json<Tokens>(ok)
    expect(ok.headers.get('dpop-nonce')).toBe(nonce)
    expect(await json(await refresh(clientId, tokens.refresh_token, { dpop: await key.proof({ nonce: 'x'.repeat(43) }) }), 400)).toMatchObject({ error: 'use_dpop_nonce' })
    // A nonce lives 5 to 10 minutes: one from 11 minutes ago is refused, with a new one offered.
    svc.clock.advance(660)
    const stale = await refresh(clientId, tokens.refresh_token, { dpop: await key.proof({ nonce: nonce! }) })
    expect(await json(stale.clone(), 400)).toMatchObject({ error: 'use_dpop_nonce' })
    const fresh = stale.headers.get('dpop-nonce')!
    expect(fresh).not.toBe(nonce)
    expect((await refresh(clientId, tokens.refresh_token, { dpop: await key.proof({ nonce: fresh }) })).status).toBe(200)
  })

  test('off by default: no nonce asked for', async () => {
    await start()
    const clientId = await createClient()
    const res = await exchange(clientId, await code(clientId), { dpop: await key.proof() })
    expect(res.status).toBe(200)
    expect(res.headers.get('dpop-nonce')).toBeNull()
  })
})

describe('code binding (RFC 9449 §10)', () => {
  test('/authorize dpop_jkt binds the code: another key or none cannot redeem it', async () => {
    await start()
    const clientId = await createClient()
    const bound = await code(clientId, { dpop_jkt: key.jkt })
    expect(await json(await exchange(clientId, bound), 400)).toMatchObject({ error: 'invalid_dpop_proof' })
    const bound2 = await code(clientId, { dpop_jkt: key.jkt })
    expect(await json(await exchange(clientId, bound2, { dpop: await other.proof() }), 400)).toMatchObject({ error: 'invalid_grant' })
    const bound3 = await code(clientId, { dpop_jkt: key.jkt })
    const tokens = await json<Tokens>(await exchange(clientId, bound3, { dpop: await key.proof() }))
    expect(decodeJwt(tokens.access_token).sid).toBeTruthy()
  })

  test('/authorize refuses a malformed dpop_jkt back to the client', async () => {
    await start()
    const clientId = await createClient()
    const params = { response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, code_challenge: challenge, code_challenge_method: 'S256', dpop_jkt: 'not-a-thumbprint' }
    const res = await browser.get(`/authorize?${new URLSearchParams(params)}`)
    const location = new URL(res.headers.get('location')!)
    expect(location.searchParams.get('error')).toBe('invalid_request')
    expect(location.searchParams.get('code')).toBeNull()
  })

  test('device authorization with a proof binds the device code; polls need that key, and a wrong key changes nothing', async () => {
    await start()
    const clientId = await createClient({ grant_types: [DEVICE_GRANT, 'refresh_token'] })
    const deviceProof = await key.proof({ htu: 'http://evergreen.test/oauth/device_authorization' })
    const started = await json<{ device_code: string; user_code: string; interval: number }>(
      await svc.form('/oauth/device_authorization', { client_id: clientId }, { dpop: deviceProof }),
    )
    await browser.get('/device')
    await browser.post('/device', { user_code: started.user_code })
    expect(await (await browser.post('/device/decision', { user_code: started.user_code, decision: 'approve' })).text()).toContain('Device connected')
    const poll = (headers: Record<string, string>) => svc.form('/oauth/token', { grant_type: DEVICE_GRANT, client_id: clientId, device_code: started.device_code }, headers)
    expect(await json(await poll({}), 400)).toMatchObject({ error: 'invalid_dpop_proof' })
    expect(await json(await poll({ dpop: await other.proof() }), 400)).toMatchObject({ error: 'invalid_grant' })
    const tokens = await json<Tokens>(await poll({ dpop: await key.proof() }))
    // The session is bound to the same key.
    expect(await json(await refresh(clientId, tokens.refresh_token, { dpop: await other.proof() }), 400)).toMatchObject({ error: 'invalid_grant' })
  })

  test('device authorization takes dpop_jkt too, and refuses one that contradicts the proof', async () => {
    await start()
    const clientId = await createClient({ grant_types: [DEVICE_GRANT, 'refresh_token'] })
    const deviceProof = await key.proof({ htu: 'http://evergreen.test/oauth/device_authorization' })
    const mismatch = await svc.form('/oauth/device_authorization', { client_id: clientId, dpop_jkt: other.jkt }, { dpop: deviceProof })
    expect(await json(mismatch, 400)).toMatchObject({ error: 'invalid_dpop_proof' })
    const byParam = await json<{ device_code: string; user_code: string }>(await svc.form('/oauth/device_authorization', { client_id: clientId, dpop_jkt: key.jkt }))
    await browser.get('/device')
    await browser.post('/device', { user_code: byParam.user_code })
    await browser.post('/device/decision', { user_code: byParam.user_code, decision: 'approve' })
    const poll = (headers: Record<string, string>) => svc.form('/oauth/token', { grant_type: DEVICE_GRANT, client_id: clientId, device_code: byParam.device_code }, headers)
    expect(await json(await poll({ dpop: await other.proof() }), 400)).toMatchObject({ error: 'invalid_grant' })
    expect((await poll({ dpop: await key.proof() })).status).toBe(200)
  })
})

describe('introspection, discovery, userinfo', () => {
  test('introspection shows cnf.jkt for a bound refresh token and a bound access token', async () => {
    await start()
    const clientId = await createClient({ dpop_bound_access_tokens: true })
    const tokens = await json<Tokens>(await exchange(clientId, await code(clientId), { dpop: await key.proof() }))
    expect(await introspect(tokens.refresh_token)).toMatchObject({ active: true, token_type: 'refresh_token', cnf: { jkt: key.jkt } })
    expect(await introspect(tokens.access_token)).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt: key.jkt } })
    const plain = await json<Tokens>(await exchange(clientId, await code(clientId)))
    const view = await introspect(plain.refresh_token)
    expect(view).toMatchObject({ active: true })
    expect(view.cnf).toBeUndefined()
    expect(await introspect(plain.access_token)).toMatchObject({ token_type: 'Bearer' })
  })

  test('discovery advertises the DPoP proof algorithms, asymmetric only', async () => {
    await start()
    const meta = await json<{ dpop_signing_alg_values_supported: string[] }>(await svc.fetch('/.well-known/oauth-authorization-server'))
    expect(meta.dpop_signing_alg_values_supported).toEqual([...DPOP_SIGNING_ALGS])
    expect(meta.dpop_signing_alg_values_supported.some((a) => a === 'none' || a.startsWith('HS'))).toBe(false)
  })

  test('userinfo: a bound access token needs the DPoP scheme and a proof with ath of its key', async () => {
    await start()
    const clientId = await createClient({ dpop_bound_access_tokens: true })
    const { access_token: at } = await json<Tokens>(await exchange(clientId, await code(clientId), { dpop: await key.proof() }))
    const url = 'http://evergreen.test/userinfo'
    const get = (headers: Record<string, string>) => svc.fetch('/userinfo', { headers })
    const asBearer = await get({ authorization: `Bearer ${at}` })
    expect(asBearer.status).toBe(401)
    expect(asBearer.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_token"/)
    expect((await get({ authorization: `DPoP ${at}` })).status).toBe(401)
    const noAth = await get({ authorization: `DPoP ${at}`, dpop: await key.proof({ htm: 'GET', htu: url }) })
    expect(noAth.status).toBe(401)
    expect(noAth.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_dpop_proof".*algs="ES256/)
    expect((await get({ authorization: `DPoP ${at}`, dpop: await other.proof({ htm: 'GET', htu: url, accessToken: at }) })).status).toBe(401)
    const proof = await key.proof({ htm: 'GET', htu: url, accessToken: at })
    const ok = await get({ authorization: `DPoP ${at}`, dpop: proof })
    expect(await json(ok)).toMatchObject({ sub: expect.any(String) })
    // The proof was spent on that request.
    expect((await get({ authorization: `DPoP ${at}`, dpop: proof })).status).toBe(401)
  })

  test('userinfo: a Bearer token stays Bearer, and is refused under the DPoP scheme', async () => {
    await start()
    const clientId = await createClient()
    const { access_token: at } = await json<Tokens>(await exchange(clientId, await code(clientId), { dpop: await key.proof() }))
    expect((await svc.fetch('/userinfo', { headers: { authorization: `Bearer ${at}` } })).status).toBe(200)
    const proof = await key.proof({ htm: 'GET', htu: 'http://evergreen.test/userinfo', accessToken: at })
    expect((await svc.fetch('/userinfo', { headers: { authorization: `DPoP ${at}`, dpop: proof } })).status).toBe(401)
  })
})

describe('token exchange of a bound subject token', () => {
  const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
  let clientId: string
  let person: Tokens
  const ask = (subject: string, type: string, headers: Record<string, string> = {}, extra: Record<string, string> = {}) =>
    svc.form('/oauth/token', { grant_type: EXCHANGE, client_id: clientId, subject_token: subject, subject_token_type: `urn:ietf:params:oauth:token-type:${type}`, ...extra }, headers)
  const sessionOf = async (accessToken: string) => json<{ dpop_jkt: string | null; parent_id: string | null }>(await svc.admin('GET', `/sessions/${decodeJwt(accessToken).sid as string}`))
  const children = async () => (await json<{ items: unknown[] }>(await svc.admin('GET', `/sessions/${decodeJwt(person.access_token).sid as string}/children`))).items.length

  // A public client (the CLI's shape) whose sessions and access tokens are both DPoP-bound.
  async function boundPerson(): Promise<void> {
    await start()
    clientId = await createClient({ grant_types: ['authorization_code', 'refresh_token', EXCHANGE], dpop_bound_access_tokens: true })
    await json(await svc.admin('PATCH', `/clients/${clientId}`, { token_exchange: { subject_clients: [clientId], allowed_scopes: [] } }))
    person = await json<Tokens>(await exchange(clientId, await code(clientId), { dpop: await key.proof() }))
    expect(decodeJwt(person.access_token).cnf).toEqual({ jkt: key.jkt })
  }

  test('only the holder of the subject token\'s key can exchange a bound refresh or access token; refusals change nothing', async () => {
    await boundPerson()
    for (const [subject, type] of [[person.refresh_token, 'refresh_token'], [person.access_token, 'access_token']] as const) {
      expect(await json(await ask(subject, type), 400), type).toMatchObject({ error: 'invalid_dpop_proof' })
      expect(await json(await ask(subject, type, { dpop: await other.proof() }), 400), type).toMatchObject({ error: 'invalid_request' })
    }
    expect(await children()).toBe(0)
    // The person's own session is untouched by the refused attempts.
    expect((await refresh(clientId, person.refresh_token, { dpop: await key.proof() })).status).toBe(200)
  })

  test('the exchange\'s proof binds nothing: without dpop_jkt the delegated session is unbound and refreshes without a proof', async () => {
    await boundPerson()
    for (const [subject, type] of [[person.refresh_token, 'refresh_token'], [person.access_token, 'access_token']] as const) {
      const delegated = await json<Tokens>(await ask(subject, type, { dpop: await key.proof() }))
      expect(delegated.token_type, type).toBe('Bearer')
      expect(decodeJwt(delegated.access_token).cnf, type).toBeUndefined()
      expect(await sessionOf(delegated.access_token), type).toMatchObject({ dpop_jkt: null, parent_id: decodeJwt(person.access_token).sid })
      // The agent, which never had the person's key, refreshes with no proof (Bearer), or with a
      // key of its own (its access tokens then bound to that key, as the client setting asks).
      const plain = await json<Tokens>(await refresh(clientId, delegated.refresh_token))
      expect(plain.token_type, type).toBe('Bearer')
      const own = await json<Tokens>(await refresh(clientId, plain.refresh_token, { dpop: await other.proof() }))
      expect(decodeJwt(own.access_token).cnf, type).toEqual({ jkt: other.jkt })
    }
  })

  test('dpop_jkt binds the delegated session (and its access token) to the agent\'s key, never to the person\'s', async () => {
    await boundPerson()
    const agent = await createDpopKey(svc.clock.now)
    const delegated = await json<Tokens>(await ask(person.access_token, 'access_token', { dpop: await key.proof() }, { dpop_jkt: agent.jkt }))
    expect(delegated.token_type).toBe('DPoP')
    expect(decodeJwt(delegated.access_token).cnf).toEqual({ jkt: agent.jkt })
    expect(await sessionOf(delegated.access_token)).toMatchObject({ dpop_jkt: agent.jkt })
    expect(await json(await refresh(clientId, delegated.refresh_token), 400)).toMatchObject({ error: 'invalid_dpop_proof' })
    // The person's key is just another key to the delegated session.
    expect(await json(await refresh(clientId, delegated.refresh_token, { dpop: await key.proof() }), 400)).toMatchObject({ error: 'invalid_grant', error_reason: 'dpop_key_mismatch' })
    const rotated = await json<Tokens>(await refresh(clientId, delegated.refresh_token, { dpop: await agent.proof() }))
    expect(decodeJwt(rotated.access_token).cnf).toEqual({ jkt: agent.jkt })
  })

  test("a public client exchanges a Bearer access token of a bound session only with the session's key", async () => {
    await start()
    clientId = await createClient({ grant_types: ['authorization_code', 'refresh_token', EXCHANGE] })
    await json(await svc.admin('PATCH', `/clients/${clientId}`, { token_exchange: { subject_clients: [clientId], allowed_scopes: [] } }))
    person = await json<Tokens>(await exchange(clientId, await code(clientId), { dpop: await key.proof() }))
    expect(person.token_type).toBe('Bearer')
    expect(await sessionOf(person.access_token)).toMatchObject({ dpop_jkt: key.jkt })
    expect(await json(await ask(person.access_token, 'access_token'), 400)).toMatchObject({ error: 'invalid_dpop_proof' })
    expect(await json(await ask(person.access_token, 'access_token', { dpop: await other.proof() }), 400)).toMatchObject({ error: 'invalid_request' })
    expect(await children()).toBe(0)
    const delegated = await json<Tokens>(await ask(person.access_token, 'access_token', { dpop: await key.proof() }))
    expect(await sessionOf(delegated.access_token)).toMatchObject({ parent_id: decodeJwt(person.access_token).sid })
  })

  test('a malformed dpop_jkt is invalid_request and creates nothing', async () => {
    await boundPerson()
    for (const bad of ['short', `${key.jkt}=`, `${key.jkt.slice(1)}+`]) {
      expect(await json(await ask(person.access_token, 'access_token', { dpop: await key.proof() }, { dpop_jkt: bad }), 400), bad).toMatchObject({ error: 'invalid_request' })
    }
    expect(await children()).toBe(0)
  })
})

import { createHash } from 'node:crypto'
import { generateKeyPair, SignJWT } from 'jose'
import { afterEach, describe, expect, test } from 'vitest'
import { sweepExpiredClients } from '../node/maintenance.js'
import { PageClient } from '../test-support/browser-client.js'
import { createTestService, json, type TestService } from '../test-support/harness.js'

// RFC 7591 dynamic registration through the real app: off by default, the initial access token,
// the per-address limit, metadata validation, and clients that expire when unused.

const PASSWORD = 'correct horse battery'
const REDIRECT = 'http://127.0.0.1:7777/callback'
const TOKEN = 'initial-access-token-0123456789'
const TTL = 7200
const verifier = 'dcr-verifier-0123456789-abcdefghijklmnopqrstuvwxyz'
const challenge = createHash('sha256').update(verifier).digest('base64url')

let svc: TestService
afterEach(async () => {
  await svc?.close()
})

const enabled = (env: Record<string, string> = {}) =>
  createTestService({ env: { EVERGREEN_DYNAMIC_REGISTRATION: 'true', EVERGREEN_REGISTERED_CLIENT_TTL: String(TTL), ...env } })

const register = (body: unknown, headers: Record<string, string> = {}) =>
  svc.fetch('/oauth/register', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) })

const mcpClient = { client_name: 'Example MCP Client', redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' }

async function clientCount(): Promise<number> {
  return (await json<{ items: unknown[] }>(await svc.admin('GET', '/clients?limit=100'))).items.length
}

/** Signs Ada in, approves the client on the consent page and exchanges the code. */
async function codeFlow(clientId: string, scope = 'offline_access'): Promise<{ tokens: { access_token: string; refresh_token: string; scope: string }; consent: string }> {
  await json(await svc.admin('POST', '/users', { email: 'ada@example.com', password: PASSWORD }), 201)
  const browser = new PageClient(svc)
  await browser.login('ada@example.com', PASSWORD)
  const params = { response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, scope, state: 's', code_challenge: challenge, code_challenge_method: 'S256' }
  const page = await browser.get(`/authorize?${new URLSearchParams(params)}`)
  expect(page.status).toBe(200)
  const consent = await page.text()
  const approved = await browser.post('/authorize', { ...params, decision: 'approve' })
  const code = new URL(approved.headers.get('location')!).searchParams.get('code')!
  const tokens = await json<{ access_token: string; refresh_token: string; scope: string }>(
    await svc.form('/oauth/token', { grant_type: 'authorization_code', client_id: clientId, code, redirect_uri: REDIRECT, code_verifier: verifier }),
  )
  return { tokens, consent }
}

describe('dynamic client registration', () => {
  test('is off by default: no endpoint, nothing in discovery', async () => {
    svc = await createTestService()
    expect((await register(mcpClient)).status).toBe(404)
    expect(await json<Record<string, unknown>>(await svc.fetch('/.well-known/openid-configuration'))).not.toHaveProperty('registration_endpoint')
  })

  test('a registered public client runs the code flow with refresh, is marked unverified, and shows in the admin API', async () => {
    svc = await enabled()
    const meta = await json<Record<string, unknown>>(await svc.fetch('/.well-known/oauth-authorization-server'))
    expect(meta.registration_endpoint).toBe('http://evergreen.test/oauth/register')
    const res = await register(mcpClient)
    expect(res.headers.get('cache-control')).toBe('no-store')
    const registered = await json<Record<string, unknown>>(res, 201)
    expect(registered).toMatchObject({ client_name: 'Example MCP Client', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', response_types: ['code'] })
    expect(registered).not.toHaveProperty('client_secret')
    const clientId = registered.client_id as string

    const { tokens, consent } = await codeFlow(clientId)
    expect(consent).toContain('Unverified application')
    expect(consent).toContain('<strong>127.0.0.1:7777</strong>')
    expect(tokens.scope).toBe('offline_access')
    const next = await json<{ refresh_token: string }>(await svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: tokens.refresh_token }))
    expect(next.refresh_token).toMatch(/^egr_/)

    const view = await json<Record<string, unknown>>(await svc.admin('GET', `/clients/${clientId}`))
    expect(view).toMatchObject({ registration: 'dynamic', first_party: false, allowed_scopes: [], expires_at: svc.clock.now() + TTL })
    const audit = await json<{ items: { type: string }[] }>(await svc.admin('GET', `/audit?client_id=${clientId}`))
    expect(audit.items.map((e) => e.type)).toContain('client.registered')
  })

  test('a scope asking for more than the standard scopes is registered cut down, not refused', async () => {
    svc = await enabled()
    const registered = await json<{ client_id: string; scope: string }>(await register({ ...mcpClient, scope: 'openid mcp:tools offline_access' }), 201)
    expect(registered.scope).toBe('openid offline_access')
    expect(await json(await svc.admin('GET', `/clients/${registered.client_id}`))).toMatchObject({ allowed_scopes: [] })
  })

  test('a confidential registration gets its secret once and authenticates with it', async () => {
    svc = await enabled()
    const registered = await json<{ client_id: string; client_secret: string; client_secret_expires_at: number }>(
      await register({ ...mcpClient, token_endpoint_auth_method: 'client_secret_basic' }),
      201,
    )
    expect(registered.client_secret).toMatch(/^egs_/)
    expect(registered.client_secret_expires_at).toBe(0)
    const basic = `Basic ${btoa(`${registered.client_id}:${registered.client_secret}`)}`
    const ok = await svc.form('/oauth/revoke', { token: 'egr_unknown' }, { authorization: basic })
    expect(ok.status).toBe(200)
    const wrong = await svc.form('/oauth/revoke', { token: 'egr_unknown' }, { authorization: `Basic ${btoa(`${registered.client_id}:nope`)}` })
    expect(wrong.status).toBe(401)
  })

  test('a jwks_uri on a private address is never fetched: the assertion is invalid_client', async () => {
    svc = await enabled()
    const registered = await json<{ client_id: string; jwks_uri: string }>(
      await register({ ...mcpClient, token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'https://169.254.169.254/latest/keys' }),
      201,
    )
    expect(registered.jwks_uri).toBe('https://169.254.169.254/latest/keys')
    const { privateKey } = await generateKeyPair('ES256')
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(registered.client_id).setSubject(registered.client_id).setAudience('http://evergreen.test').setJti('j1')
      .setIssuedAt(svc.clock.now()).setExpirationTime(svc.clock.now() + 60)
      .sign(privateKey)
    const res = await svc.form('/oauth/revoke', { token: 'egr_unknown', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion })
    expect(res.status).toBe(401)
    expect(await res.json()).toMatchObject({ error: 'invalid_client' })
  })

  test('an initial access token, when configured, is required and must match', async () => {
    svc = await enabled({ EVERGREEN_REGISTRATION_TOKEN: TOKEN })
    for (const headers of [{} as Record<string, string>, { authorization: 'Bearer wrong-token-0123456789' }, { authorization: `Bearer ${TOKEN}x` }, { authorization: `Basic ${TOKEN}` }]) {
      const res = await register(mcpClient, headers)
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"')
      expect(await res.json()).toMatchObject({ error: 'invalid_token' })
    }
    const before = await clientCount()
    expect((await register(mcpClient, { authorization: `Bearer ${TOKEN}` })).status).toBe(201)
    expect(await clientCount()).toBe(before + 1)
  })

  test.each([
    ['http redirect URI off loopback', { ...mcpClient, redirect_uris: ['http://app.example/callback'] }, 'invalid_redirect_uri'],
    ['redirect URI with a fragment', { ...mcpClient, redirect_uris: ['https://app.example/cb#frag'] }, 'invalid_redirect_uri'],
    ['no redirect URIs', { ...mcpClient, redirect_uris: [] }, 'invalid_redirect_uri'],
    ['javascript: redirect URI', { ...mcpClient, redirect_uris: ['javascript:alert(1)'] }, 'invalid_redirect_uri'],
    ['client_credentials', { ...mcpClient, grant_types: ['client_credentials'] }, 'invalid_client_metadata'],
    ['an unknown grant', { ...mcpClient, grant_types: ['authorization_code', 'password'] }, 'invalid_client_metadata'],
    ['response_types token', { ...mcpClient, response_types: ['token'] }, 'invalid_client_metadata'],
    ['private_key_jwt without jwks', { ...mcpClient, token_endpoint_auth_method: 'private_key_jwt' }, 'invalid_client_metadata'],
    ['an http jwks_uri', { ...mcpClient, token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'http://app.example/jwks' }, 'invalid_client_metadata'],
    ['both jwks and jwks_uri', { ...mcpClient, token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'https://app.example/jwks', jwks: { keys: [{ kty: 'EC' }] } }, 'invalid_client_metadata'],
    ['a malformed scope', { ...mcpClient, scope: 'openid  admin' }, 'invalid_client_metadata'],
    ['an array body', [mcpClient], 'invalid_client_metadata'],
    ['not JSON', '{not json', 'invalid_client_metadata'],
  ])('%s is refused and writes nothing', async (_label, body, error) => {
    svc = await enabled()
    const before = await clientCount()
    const res = await register(body)
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({ error })
    expect(await clientCount()).toBe(before)
  })

  test('a form body, an oversized body or invalid UTF-8 is refused and writes nothing', async () => {
    svc = await enabled()
    const before = await clientCount()
    const form = await svc.fetch('/oauth/register', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'redirect_uris=x' })
    expect(form.status).toBe(400)
    expect(await form.json()).toMatchObject({ error: 'invalid_client_metadata' })
    const huge = await register({ ...mcpClient, client_uri: `https://app.example/${'x'.repeat(70_000)}` })
    expect(huge.status).toBe(413)
    const binary = await svc.fetch('/oauth/register', { method: 'POST', headers: { 'content-type': 'application/json' }, body: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]) })
    expect(binary.status).toBe(400)
    expect(await clientCount()).toBe(before)
  })

  test('registrations are limited per address, counted before the initial access token is checked', async () => {
    svc = await enabled({ EVERGREEN_RATE_LIMIT_REGISTRATION: '2', EVERGREEN_REGISTRATION_TOKEN: TOKEN })
    expect((await register(mcpClient, { authorization: 'Bearer guessed-0123456789abcdef' })).status).toBe(401)
    expect((await register(mcpClient, { authorization: `Bearer ${TOKEN}` })).status).toBe(201)
    const refused = await register(mcpClient, { authorization: `Bearer ${TOKEN}` })
    expect(refused.status).toBe(429)
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0)
  })
})

describe('offline_access', () => {
  test('a client registered for refresh_token gets a refresh token with or without offline_access', async () => {
    svc = await enabled()
    const { client_id: clientId } = await json<{ client_id: string }>(await register(mcpClient), 201)
    const { tokens } = await codeFlow(clientId, 'openid')
    expect(tokens.scope).toBe('openid')
    expect(tokens.refresh_token).toMatch(/^egr_/)
  })

  test('a client without the refresh_token grant gets none, and asking offline_access is invalid_scope', async () => {
    svc = await enabled()
    const { client_id: clientId } = await json<{ client_id: string }>(await register({ ...mcpClient, grant_types: ['authorization_code'] }), 201)
    const { tokens } = await codeFlow(clientId, 'openid')
    expect(tokens.access_token).toBeDefined()
    expect(tokens).not.toHaveProperty('refresh_token')
    expect(tokens).not.toHaveProperty('refresh_token_expires_in')
    const browser = new PageClient(svc)
    await browser.login('ada@example.com', PASSWORD)
    const res = await browser.get(`/authorize?${new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, scope: 'openid offline_access', state: 's', code_challenge: challenge, code_challenge_method: 'S256' })}`)
    expect(res.status).toBe(303)
    const back = new URL(res.headers.get('location')!)
    expect(back.searchParams.get('error')).toBe('invalid_scope')
    expect(back.searchParams.get('code')).toBeNull()
  })
})

describe('registered clients that go unused', () => {
  test('each use slides the expiry; past it every endpoint answers invalid_client and /authorize refuses', async () => {
    svc = await enabled()
    const { client_id: clientId } = await json<{ client_id: string }>(await register(mcpClient), 201)
    const { tokens } = await codeFlow(clientId)
    svc.clock.advance(TTL - 100)
    const kept = await json<{ refresh_token: string }>(await svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: tokens.refresh_token }))
    svc.clock.advance(200)
    // Past the first expiry, but used since: alive.
    const still = await json<{ refresh_token: string }>(await svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: kept.refresh_token }))

    svc.clock.advance(TTL + 1)
    const refused = await svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: still.refresh_token })
    expect(refused.status).toBe(401)
    expect(await refused.json()).toMatchObject({ error: 'invalid_client' })
    const revoke = await svc.form('/oauth/revoke', { client_id: clientId, token: still.refresh_token })
    expect(revoke.status).toBe(401)
    expect(await revoke.json()).toMatchObject({ error: 'invalid_client' })
    const browser = new PageClient(svc)
    await browser.login('ada@example.com', PASSWORD)
    const page = await browser.get(`/authorize?${new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, code_challenge: challenge, code_challenge_method: 'S256' })}`)
    expect(page.status).toBe(400)
    expect(await page.text()).toContain('Unknown application')

    // Maintenance then deletes it, revoking its sessions with an audit event that says why.
    expect(await sweepExpiredClients(svc.deps)).toBe(1)
    expect((await svc.admin('GET', `/clients/${clientId}`)).status).toBe(404)
    const sessions = await json<{ items: { revoked_reason: string | null }[] }>(await svc.admin('GET', `/sessions?client_id=${clientId}`))
    expect(sessions.items.map((s) => s.revoked_reason)).toEqual(['client_deleted'])
    const deleted = await json<{ items: { data: Record<string, unknown> }[] }>(await svc.admin('GET', `/audit?type=client.deleted&client_id=${clientId}`))
    expect(deleted.items.map((e) => e.data)).toEqual([{ reason: 'expired' }])
    expect(await sweepExpiredClients(svc.deps)).toBe(0)
  })

  test('a deleted registered client is invalid_client at the token endpoint', async () => {
    svc = await enabled()
    const { client_id: clientId } = await json<{ client_id: string }>(await register(mcpClient), 201)
    const { tokens } = await codeFlow(clientId)
    expect((await svc.admin('DELETE', `/clients/${clientId}`)).status).toBe(204)
    const refused = await svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: tokens.refresh_token })
    expect(refused.status).toBe(401)
    expect(await refused.json()).toMatchObject({ error: 'invalid_client' })
  })
})

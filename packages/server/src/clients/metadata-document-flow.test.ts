import { createHash } from 'node:crypto'
import { decodeJwt, exportJWK, generateKeyPair, SignJWT } from 'jose'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest'
import { createDocumentFetcher } from './document-fetch.js'
import { PageClient } from '../test-support/browser-client.js'
import { startDocumentServer, type DocumentServer } from '../test-support/document-server.js'
import { createTestService, json, type TestService } from '../test-support/harness.js'

// A client identified by a Client ID Metadata Document, through the real pages, token,
// revocation and admin endpoints, with its document served by a real HTTPS server on loopback
// (the development setting lets the service fetch from there).

const PASSWORD = 'correct horse battery'
const REDIRECT = 'http://127.0.0.1:9999/callback'
const verifier = 'mcp-verifier-0123456789-abcdefghijklmnopqrstuvwxyz'
const challenge = createHash('sha256').update(verifier).digest('base64url')

let docs: DocumentServer
let svc: TestService
let browser: PageClient
let clientId: string

beforeAll(async () => {
  docs = await startDocumentServer()
})
afterAll(async () => {
  await docs?.close()
})

async function service(env: Record<string, string> = { EVERGREEN_CLIENT_METADATA_ALLOW_PRIVATE: 'true' }): Promise<TestService> {
  return createTestService({ env, overrides: { clientDocumentFetcher: (options) => createDocumentFetcher({ ...options, ca: docs.ca }) } })
}

beforeEach(async () => {
  clientId = `${docs.origin}/clients/${Math.random().toString(36).slice(2)}.json`
  docs.json(new URL(clientId).pathname, {
    client_id: clientId,
    client_name: 'Example MCP Client',
    client_uri: 'https://mcp.example',
    redirect_uris: [REDIRECT],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  }, { 'cache-control': 'max-age=300' })
  svc = await service()
  await json(await svc.admin('POST', '/users', { email: 'ada@example.com', password: PASSWORD }), 201)
  browser = new PageClient(svc)
  await browser.login('ada@example.com', PASSWORD)
})
afterEach(async () => {
  await svc?.close()
})

const authorizeUrl = (extra: Record<string, string> = {}) =>
  `/authorize?${new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, scope: 'openid offline_access', state: 's1', code_challenge: challenge, code_challenge_method: 'S256', ...extra })}`

async function approve(): Promise<string> {
  const consent = await browser.get(authorizeUrl())
  expect(consent.status).toBe(200)
  const fields = Object.fromEntries(new URLSearchParams(authorizeUrl().split('?')[1]))
  const approved = await browser.post('/authorize', { ...fields, decision: 'approve' })
  expect(approved.status).toBe(303)
  const location = new URL(approved.headers.get('location')!)
  expect(location.origin + location.pathname).toBe(REDIRECT)
  return location.searchParams.get('code')!
}

const exchange = (code: string) =>
  svc.form('/oauth/token', { grant_type: 'authorization_code', client_id: clientId, code, redirect_uri: REDIRECT, code_verifier: verifier })

describe('a Client ID Metadata Document client', () => {
  test('discovery says metadata documents are supported', async () => {
    const meta = await json<Record<string, unknown>>(await svc.fetch('/.well-known/oauth-authorization-server'))
    expect(meta.client_id_metadata_document_supported).toBe(true)
    expect(meta.registration_endpoint).toBeUndefined()
    expect(meta.scopes_supported).toEqual(['openid', 'profile', 'email', 'offline_access'])
  })

  test('consent shows the document host and that it is not registered; code, refresh and revocation work', async () => {
    const consent = await browser.get(authorizeUrl())
    const page = await consent.text()
    expect(page).toContain('Allow Example MCP Client?')
    expect(page).toContain('Not a registered application')
    expect(page).toContain(`<strong>localhost:${docs.port}</strong>`)
    // Not stored before anyone approved it: a crafted URL alone writes nothing.
    expect(await svc.deps.store.getClient(clientId)).toBeUndefined()

    const tokens = await json<{ access_token: string; refresh_token: string; id_token: string; scope: string }>(await exchange(await approve()))
    expect(decodeJwt(tokens.access_token)).toMatchObject({ client_id: clientId })
    expect(decodeJwt(tokens.id_token).aud).toBe(clientId)
    expect(tokens.scope).toBe('openid offline_access')

    const refreshed = await json<{ refresh_token: string }>(await svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: tokens.refresh_token }))
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token)
    // Rotation with grace, as for any client: the spent token within the window gets the same successor.
    const replay = await json<{ refresh_token: string }>(await svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: tokens.refresh_token }))
    expect(replay.refresh_token).toBe(refreshed.refresh_token)

    const sessions = await json<{ items: { client_id: string; id: string }[] }>(await svc.admin('GET', `/sessions?client_id=${encodeURIComponent(clientId)}`))
    expect(sessions.items.map((s) => s.client_id)).toEqual([clientId])
    const clients = await json<{ items: { client_id: string; registration: string; first_party: boolean }[] }>(await svc.admin('GET', '/clients'))
    expect(clients.items.find((c) => c.client_id === clientId)).toMatchObject({ registration: 'metadata_document', first_party: false })
    const audit = await json<{ items: { type: string; client_id: string | null }[] }>(await svc.admin('GET', `/audit?client_id=${encodeURIComponent(clientId)}`))
    expect(audit.items.map((e) => e.type)).toEqual(expect.arrayContaining(['client.created', 'session.created', 'refresh.succeeded']))

    expect((await svc.form('/oauth/revoke', { client_id: clientId, token: refreshed.refresh_token })).status).toBe(200)
    const after = await svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: refreshed.refresh_token })
    expect(after.status).toBe(400)
    expect(await after.json()).toMatchObject({ error: 'invalid_grant', error_reason: 'revoked' })
  })

  test('the document is cached for its max-age, then fetched again', async () => {
    const path = new URL(clientId).pathname
    await browser.get(authorizeUrl())
    await browser.get(authorizeUrl())
    expect(docs.hits.get(path)).toBe(1)
    svc.clock.advance(301)
    await browser.get(authorizeUrl())
    expect(docs.hits.get(path)).toBe(2)
  })

  test('a redirect URI the document does not list is refused on a page, never redirected to', async () => {
    for (const uri of ['http://127.0.0.1:9999/other', 'http://127.0.0.1:9999/callback/', 'https://evil.example/callback']) {
      const res = await browser.get(authorizeUrl({ redirect_uri: uri }))
      expect(res.status).toBe(400)
      expect(res.headers.get('location')).toBeNull()
      expect(await res.text()).toContain('Invalid redirect')
    }
  })

  test('a document whose client_id differs from its URL is refused', async () => {
    const other = `${docs.origin}/clients/impostor.json`
    docs.json('/clients/impostor.json', { client_id: `${docs.origin}/clients/someone-else.json`, redirect_uris: [REDIRECT] })
    const res = await browser.get(authorizeUrl({ client_id: other }))
    expect(res.status).toBe(400)
    expect(await res.text()).toContain('Application not verified')
    expect(await svc.deps.store.getClient(other)).toBeUndefined()
  })

  test('a document asking for a shared-secret method is refused', async () => {
    const id = `${docs.origin}/clients/secret.json`
    docs.json('/clients/secret.json', { client_id: id, redirect_uris: [REDIRECT], token_endpoint_auth_method: 'client_secret_basic' })
    const res = await browser.get(authorizeUrl({ client_id: id }))
    expect(res.status).toBe(400)
    expect(await res.text()).toContain('Application not verified')
  })

  test('without the development setting the loopback document is refused and never fetched', async () => {
    await svc.close()
    svc = await service({})
    await json(await svc.admin('POST', '/users', { email: 'ada@example.com', password: PASSWORD }), 201)
    browser = new PageClient(svc)
    await browser.login('ada@example.com', PASSWORD)
    const res = await browser.get(authorizeUrl())
    expect(res.status).toBe(400)
    expect(await res.text()).toContain('Application not verified')
    expect(docs.hits.get(new URL(clientId).pathname)).toBeUndefined()
  })

  test('an operator who deletes the client stops its sessions and it cannot come back', async () => {
    const tokens = await json<{ refresh_token: string }>(await exchange(await approve()))
    expect((await svc.admin('DELETE', `/clients/${encodeURIComponent(clientId)}`)).status).toBe(204)
    const refused = await svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: tokens.refresh_token })
    expect(refused.status).toBe(401)
    expect(await refused.json()).toMatchObject({ error: 'invalid_client' })
    const fields = Object.fromEntries(new URLSearchParams(authorizeUrl().split('?')[1]))
    await browser.get(authorizeUrl())
    const again = await browser.post('/authorize', { ...fields, decision: 'approve' })
    expect(again.status).toBe(400)
    expect(await again.text()).toContain('Application removed')
  })

  test('the login page never fetches a document: its return_to is anyone\'s to craft', async () => {
    const crafted = `${docs.origin}/clients/crafted.json`
    docs.json('/clients/crafted.json', { client_id: crafted, redirect_uris: [REDIRECT] })
    const stranger = new PageClient(svc)
    const res = await stranger.get(`/login?return_to=${encodeURIComponent(authorizeUrl({ client_id: crafted }))}`)
    expect(res.status).toBe(200)
    expect(docs.hits.get('/clients/crafted.json')).toBeUndefined()
  })

  test('document fetches are limited per address, counted before the fetch', async () => {
    for (let i = 0; i < 30; i++) {
      const res = await browser.get(authorizeUrl({ client_id: `${docs.origin}/clients/none-${i}.json` }))
      expect(res.status).toBe(400)
    }
    const limited = await browser.get(authorizeUrl({ client_id: `${docs.origin}/clients/none-30.json` }))
    expect(limited.status).toBe(429)
    expect(docs.hits.get('/clients/none-30.json')).toBeUndefined()
  })

  test.each(['inline', 'by jwks_uri'])('a private_key_jwt client authenticates with the keys its document gives %s', async (how) => {
    const { privateKey, publicKey } = await generateKeyPair('ES256')
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }
    const keysPath = `${new URL(clientId).pathname}.jwks`
    docs.json(keysPath, { keys: [jwk] })
    docs.json(new URL(clientId).pathname, {
      client_id: clientId, client_name: 'Keyed client', redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: 'private_key_jwt', ...(how === 'inline' ? { jwks: { keys: [jwk] } } : { jwks_uri: `${docs.origin}${keysPath}` }),
    })
    const assertion = (jti: string) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer(clientId).setSubject(clientId).setAudience('http://evergreen.test').setJti(jti)
        .setIssuedAt(svc.clock.now()).setExpirationTime(svc.clock.now() + 60)
        .sign(privateKey)
    const code = await approve()
    const jwtAuth = async (jti: string) => ({ client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: await assertion(jti) })
    const withoutKey = await svc.form('/oauth/token', { grant_type: 'authorization_code', client_id: clientId, code, redirect_uri: REDIRECT, code_verifier: verifier })
    expect(withoutKey.status).toBe(401)
    const code2 = await approve()
    const tokens = await json<{ refresh_token: string }>(
      await svc.form('/oauth/token', { grant_type: 'authorization_code', code: code2, redirect_uri: REDIRECT, code_verifier: verifier, ...(await jwtAuth('a1')) }),
    )
    const refreshed = await svc.form('/oauth/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, ...(await jwtAuth('a2')) })
    expect(refreshed.status).toBe(200)
    expect(docs.hits.get(keysPath) ?? 0).toBe(how === 'inline' ? 0 : 1)
  })
})

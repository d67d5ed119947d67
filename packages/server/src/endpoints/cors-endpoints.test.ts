import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createTestService, json, mint, seedUserAndClient, type TestService } from '../test-support/harness.js'
import { CORS_ENDPOINTS, corsHeadersFor, corsPreflightFor } from './cors-endpoints.js'

// CORS on the real app: exactly discovery, the JWKS, token, revocation and registration answer
// preflights and carry Access-Control-* on their actual responses; pages, /authorize, admin,
// introspection and the rest do not. (test/browser/cors.test.ts does it from a real Chromium.)

const ORIGIN = 'https://inspector.example'
let svc: TestService
let closed: TestService

const preflight = (s: TestService, path: string, method = 'POST', headers = 'content-type, dpop, authorization') =>
  s.app.fetch(new Request(`http://evergreen.test${path}`, { method: 'OPTIONS', headers: { origin: ORIGIN, 'access-control-request-method': method, 'access-control-request-headers': headers } }))

beforeAll(async () => {
  svc = await createTestService({ env: { EVERGREEN_DYNAMIC_REGISTRATION: 'true' } })
  closed = await createTestService()
})

afterAll(async () => {
  await svc?.close()
  await closed?.close()
})

describe('preflight', () => {
  test.each(Object.entries(CORS_ENDPOINTS))('%s answers 204 with its methods and the headers it needs', async (path, methods) => {
    const res = await preflight(svc, path, methods[0])
    expect(res.status).toBe(204)
    expect(res.headers.get('access-control-allow-origin')).toBe('*')
    expect(res.headers.get('access-control-allow-credentials')).toBeNull()
    expect(res.headers.get('access-control-allow-methods')).toBe(methods.includes('GET') ? 'GET, HEAD' : 'POST')
    expect(res.headers.get('access-control-allow-headers')).toBe('authorization, content-type, dpop')
    expect(Number(res.headers.get('access-control-max-age'))).toBeGreaterThan(0)
  })

  test.each(['/', '/authorize', '/login', '/settings', '/logout', '/consent', '/device', '/admin/v1/users', '/oauth/introspect', '/userinfo', '/oauth/device_authorization', '/metrics', '/.well-known/jwks.json/x'])(
    '%s is not open to other origins',
    async (path) => {
      const res = await preflight(svc, path)
      expect(res.status).not.toBe(204)
      expect(res.headers.get('access-control-allow-origin')).toBeNull()
      expect(res.headers.get('access-control-allow-methods')).toBeNull()
    },
  )

  test('registration is open to other origins only while it is enabled', async () => {
    const res = await preflight(closed, '/oauth/register')
    expect(res.headers.get('access-control-allow-origin')).toBeNull()
    expect(res.status).toBe(404)
  })

  test('an OPTIONS that is not a preflight (no Access-Control-Request-Method) is not answered as one', () => {
    expect(corsPreflightFor('OPTIONS', '/oauth/token', new Headers({ origin: ORIGIN }))).toBeUndefined()
    expect(corsPreflightFor('POST', '/oauth/token', new Headers({ 'access-control-request-method': 'POST' }))).toBeUndefined()
  })
})

describe('actual responses', () => {
  const cors = (res: Response) => ({ origin: res.headers.get('access-control-allow-origin'), expose: res.headers.get('access-control-expose-headers') })
  const open = { origin: '*', expose: 'DPoP-Nonce, WWW-Authenticate, Retry-After' }
  const get = (path: string) => svc.app.fetch(new Request(`http://evergreen.test${path}`, { headers: { origin: ORIGIN } }))

  test('discovery and the JWKS carry Allow-Origin * and the exposed headers, and stay publicly cacheable', async () => {
    for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server', '/.well-known/jwks.json']) {
      const res = await get(path)
      expect(res.status).toBe(200)
      expect(cors(res)).toEqual(open)
      expect(res.headers.get('cache-control')).toBe('public, max-age=300')
      expect(res.headers.get('vary')).toBeNull()
    }
  })

  test('the token endpoint: a refresh, and an error with its challenge, both readable cross-origin', async () => {
    const { userId, clientId } = await seedUserAndClient(svc)
    const session = await mint(svc, userId, clientId)
    const ok = await svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: session.refresh_token }, { origin: ORIGIN })
    expect(ok.status).toBe(200)
    expect(cors(ok)).toEqual(open)
    const bad = await svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: 'egr_nope' }, { origin: ORIGIN })
    expect(bad.status).toBe(400)
    expect(cors(bad)).toEqual(open)
    const wrongMethod = await get('/oauth/token')
    expect(wrongMethod.status).toBe(405)
    expect(cors(wrongMethod)).toEqual(open)
  })

  test('revocation and registration', async () => {
    const { userId, clientId } = await seedUserAndClient(svc)
    const session = await mint(svc, userId, clientId)
    const revoked = await svc.form('/oauth/revoke', { token: session.refresh_token, client_id: clientId }, { origin: ORIGIN })
    expect(revoked.status).toBe(200)
    expect(cors(revoked)).toEqual(open)
    const registered = await svc.app.fetch(
      new Request('http://evergreen.test/oauth/register', {
        method: 'POST',
        headers: { origin: ORIGIN, 'content-type': 'application/json' },
        body: JSON.stringify({ client_name: 'Inspector', redirect_uris: ['http://localhost:6274/oauth/callback'], token_endpoint_auth_method: 'none' }),
      }),
    )
    expect(cors(registered)).toEqual(open)
    await json(registered, 201)
  })

  test('pages, /authorize, admin, introspection and userinfo carry no CORS headers', async () => {
    const { clientId } = await seedUserAndClient(svc)
    const responses = [
      await get('/login'),
      await get('/settings'),
      await get(`/authorize?client_id=${clientId}&response_type=code`),
      await svc.admin('GET', '/users'),
      await svc.form('/oauth/introspect', { token: 'x' }, { origin: ORIGIN }),
      await get('/userinfo'),
      await get('/livez'),
    ]
    for (const res of responses) expect(cors(res)).toEqual({ origin: null, expose: null })
  })

  test('corsHeadersFor names exactly the listed endpoints (for a direct node:http path to share)', () => {
    expect(corsHeadersFor('/oauth/token')).toEqual([
      ['access-control-allow-origin', '*'],
      ['access-control-expose-headers', 'DPoP-Nonce, WWW-Authenticate, Retry-After'],
    ])
    expect(corsHeadersFor('/oauth/introspect')).toBeUndefined()
    expect(corsHeadersFor('/authorize')).toBeUndefined()
    expect(corsHeadersFor('constructor')).toBeUndefined()
  })
})

import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { createTestService, json, mint, refresh, seedUserAndClient, type TestService } from '../test-support/harness.js'

const METRICS_TOKEN = 'metrics-token-0123456789'
let svc: TestService
beforeEach(async () => {
  svc = await createTestService()
})
afterEach(async () => {
  await svc?.close()
})

describe('discovery', () => {
  test('both well-known documents list exactly the endpoints and grants that exist', async () => {
    const oidc = await json<Record<string, unknown>>(await svc.fetch('/.well-known/openid-configuration'))
    const oauth = await json<Record<string, unknown>>(await svc.fetch('/.well-known/oauth-authorization-server'))
    expect(oauth).toEqual(oidc)
    expect(oidc.issuer).toBe('http://evergreen.test')
    expect(oidc.grant_types_supported).toEqual([
      'authorization_code',
      'refresh_token',
      'client_credentials',
      'urn:ietf:params:oauth:grant-type:device_code',
      'urn:ietf:params:oauth:grant-type:token-exchange',
    ])
    expect(oidc.code_challenge_methods_supported).toEqual(['S256'])
    expect(oidc.token_endpoint_auth_methods_supported).toEqual(['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'])
    const get = ['jwks_uri', 'authorization_endpoint', 'userinfo_endpoint']
    for (const key of ['token_endpoint', 'revocation_endpoint', 'introspection_endpoint', 'jwks_uri', 'authorization_endpoint', 'device_authorization_endpoint', 'userinfo_endpoint']) {
      const url = new URL(oidc[key] as string)
      expect(url.origin).toBe('http://evergreen.test')
      const method = get.includes(key) ? 'GET' : 'POST'
      const res = await svc.fetch(url.pathname, { method })
      expect(res.status, `${key} ${url.pathname}`).not.toBe(404)
    }
  })
})

describe('health and metrics', () => {
  test('/livez, /readyz and /healthz answer 200 with the database and keys up', async () => {
    expect((await svc.fetch('/livez')).status).toBe(200)
    expect(await json(await svc.fetch('/readyz'))).toEqual({ status: 'ok', checks: { database: 'ok', keys: 'ok' } })
    expect((await svc.fetch('/healthz')).status).toBe(200)
  })

  test('/readyz says 503 when the database is gone, /livez stays 200', async () => {
    await svc.deps.store.close()
    const res = await svc.fetch('/readyz')
    expect(res.status).toBe(503)
    expect(await res.json()).toMatchObject({ checks: { database: 'unavailable' } })
    expect((await svc.fetch('/livez')).status).toBe(200)
  })

  test('/metrics counts requests by route and status, and refreshes by outcome', async () => {
    await svc.close()
    svc = await createTestService({ env: { EVERGREEN_METRICS_TOKEN: METRICS_TOKEN } })
    const { userId, clientId } = await seedUserAndClient(svc)
    const issued = await mint(svc, userId, clientId)
    await json(await refresh(svc, clientId, issued.refresh_token))
    svc.clock.advance(60)
    await refresh(svc, clientId, issued.refresh_token)
    const text = await (await svc.fetch('/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text()
    expect(text).toMatch(/evergreen_refresh_total\{outcome="rotated"\} 1/)
    expect(text).toMatch(/evergreen_refresh_total\{outcome="reused"\} 1/)
    expect(text).toMatch(/evergreen_http_requests_total\{route="\/oauth\/token",method="POST",status="200"\} 1/)
    expect(text).toMatch(/evergreen_http_request_duration_seconds_bucket\{le="[\d.]+",route="\/oauth\/token"/)
  })
})

describe('client_credentials', () => {
  test('a confidential client gets an access token and no refresh token', async () => {
    const created = await json<{ client_id: string; client_secret: string }>(
      await svc.admin('POST', '/clients', { name: 'svc', grant_types: ['client_credentials'], allowed_scopes: ['jobs:read', 'jobs:write'] }),
      201,
    )
    const basic = Buffer.from(`${created.client_id}:${created.client_secret}`).toString('base64')
    const res = await json<Record<string, unknown>>(
      await svc.form('/oauth/token', { grant_type: 'client_credentials', scope: 'jobs:read' }, { authorization: `Basic ${basic}` }),
    )
    expect(res).toMatchObject({ token_type: 'Bearer', expires_in: 900, scope: 'jobs:read' })
    expect(res.refresh_token).toBeUndefined()
    const wrong = await svc.form('/oauth/token', { grant_type: 'client_credentials' }, { authorization: `Basic ${Buffer.from(`${created.client_id}:nope`).toString('base64')}` })
    expect(wrong.status).toBe(401)
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Basic/)
    expect(await wrong.json()).toMatchObject({ error: 'invalid_client' })
    const tooMuch = await svc.form('/oauth/token', { grant_type: 'client_credentials', scope: 'admin' }, { authorization: `Basic ${basic}` })
    expect(await json(tooMuch, 400)).toMatchObject({ error: 'invalid_scope' })
  })

  test('a client may only use the grants it registered', async () => {
    const { userId, clientId } = await seedUserAndClient(svc)
    const issued = await mint(svc, userId, clientId)
    await json(await svc.admin('PATCH', `/clients/${clientId}`, { grant_types: ['authorization_code'], redirect_uris: ['http://127.0.0.1/cb'] }))
    expect(await json(await refresh(svc, clientId, issued.refresh_token), 400)).toMatchObject({ error: 'unauthorized_client' })
  })
})

describe('revocation and introspection', () => {
  async function confidential() {
    return json<{ client_id: string; client_secret: string }>(
      await svc.admin('POST', '/clients', { name: 'rs', grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_post' }),
      201,
    )
  }

  test('revoking a refresh token ends its session; introspection reflects it at once', async () => {
    const { userId, clientId } = await seedUserAndClient(svc)
    const rs = await confidential()
    const issued = await mint(svc, userId, clientId)
    const introspect = async (token: string) =>
      json<{ active: boolean; sid?: string }>(await svc.form('/oauth/introspect', { token, client_id: rs.client_id, client_secret: rs.client_secret }))
    expect(await introspect(issued.access_token)).toMatchObject({ active: true, sid: issued.session_id })
    expect(await introspect(issued.refresh_token)).toMatchObject({ active: true, sid: issued.session_id })

    const res = await svc.form('/oauth/revoke', { token: issued.refresh_token, client_id: clientId })
    expect(res.status).toBe(200)
    expect(await introspect(issued.access_token)).toEqual({ active: false })
    expect(await introspect(issued.refresh_token)).toEqual({ active: false })
    expect(await json(await refresh(svc, clientId, issued.refresh_token), 400)).toMatchObject({ error_reason: 'revoked' })
  })

  test('already-invalid and garbage tokens still get 200 from revocation', async () => {
    const { clientId } = await seedUserAndClient(svc)
    expect((await svc.form('/oauth/revoke', { token: 'nonsense', client_id: clientId })).status).toBe(200)
    expect((await svc.form('/oauth/revoke', { token: 'egr_' + 'A'.repeat(49), client_id: clientId })).status).toBe(200)
  })

  test("a client cannot revoke another client's session", async () => {
    const { userId, clientId } = await seedUserAndClient(svc)
    const other = await seedUserAndClient(svc)
    const issued = await mint(svc, userId, clientId)
    const res = await svc.form('/oauth/revoke', { token: issued.refresh_token, client_id: other.clientId })
    expect(await json(res, 400)).toMatchObject({ error: 'unauthorized_client' })
    await json(await refresh(svc, clientId, issued.refresh_token))
  })

  test('introspection needs an authenticated confidential client', async () => {
    const { clientId } = await seedUserAndClient(svc)
    const res = await svc.form('/oauth/introspect', { token: 'x', client_id: clientId })
    expect(await json(res, 401)).toMatchObject({ error: 'invalid_client' })
  })
})

describe('/metrics on the public listener', () => {
  test('is not served without EVERGREEN_METRICS_TOKEN', async () => {
    expect((await svc.fetch('/metrics')).status).toBe(404)
    expect((await svc.fetch('/metrics', { headers: { authorization: 'Bearer anything-at-all-12345' } })).status).toBe(404)
  })

  test('with EVERGREEN_METRICS_TOKEN, answers only that bearer token', async () => {
    await svc.close()
    svc = await createTestService({ env: { EVERGREEN_METRICS_TOKEN: METRICS_TOKEN } })
    expect((await svc.fetch('/metrics')).status).toBe(401)
    expect((await svc.fetch('/metrics', { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401)
    const ok = await svc.fetch('/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
    expect(ok.status).toBe(200)
    expect(await ok.text()).toContain('evergreen_http_requests_total')
  })
})

describe('repeated parameters (RFC 6749 §3.1)', () => {
  test.each([
    ['/oauth/token', 'grant_type=refresh_token&refresh_token=egr_x&client_id=&client_id=x'],
    ['/oauth/token', 'grant_type=refresh_token&refresh_token=egr_x&client_id=x&client_id='],
    ['/oauth/token', 'grant_type=&grant_type=refresh_token&client_id=x&refresh_token=egr_x'],
    ['/oauth/revoke', 'token=&token=egr_x&client_id=x'],
    ['/oauth/introspect', 'token=x&token='],
    ['/oauth/device_authorization', 'client_id=&client_id=evergreen-cli'],
  ])('%s with %s is invalid_request, even when one of the values is empty', async (path, body) => {
    const res = await svc.fetch(path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body })
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({ error: 'invalid_request', error_description: expect.stringContaining('repeated') })
  })
})

import { decodeJwt } from 'jose'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { PageClient } from '../test-support/browser-client.js'
import { createTestService, json, mint, refresh, seedUserAndClient, type TestService } from '../test-support/harness.js'

// Regression: a client without allowed_scopes got any scope and any audience (the built-in
// evergreen-cli included), scope tokens were not syntax-checked, and narrowing a client's
// scopes never reached its live sessions.

const PASSWORD = 'correct horse battery'
const REDIRECT = 'http://127.0.0.1:9999/callback'
let svc: TestService
beforeEach(async () => {
  svc = await createTestService()
})
afterEach(async () => {
  await svc?.close()
})

async function confidential(body: Record<string, unknown> = {}) {
  const c = await json<{ client_id: string; client_secret: string }>(
    await svc.admin('POST', '/clients', { name: 'svc', grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_post', ...body }),
    201,
  )
  const token = (params: Record<string, string>) =>
    svc.form('/oauth/token', { grant_type: 'client_credentials', client_id: c.client_id, client_secret: c.client_secret, ...params })
  return { ...c, token }
}

describe('a client without allowed_scopes', () => {
  test('gets only the standard OIDC scopes, on every grant', async () => {
    const svcClient = await confidential()
    expect(await json(await svcClient.token({ scope: 'admin' }), 400)).toMatchObject({ error: 'invalid_scope' })
    expect(await json(await svcClient.token({ scope: 'openid email' }))).toMatchObject({ scope: 'openid email' })

    // The built-in CLI client: device flow and operator mint.
    const device = await svc.form('/oauth/device_authorization', { client_id: 'evergreen-cli', scope: 'openid admin' })
    expect(await json(device, 400)).toMatchObject({ error: 'invalid_scope' })
    const user = await json<{ id: string }>(await svc.admin('POST', '/users', { email: 'ada@example.com', password: PASSWORD }), 201)
    expect(await json(await svc.admin('POST', '/tokens', { user: user.id, client_id: 'evergreen-cli', scope: 'admin' }), 400)).toMatchObject({ error: 'invalid_scope' })

    // Authorization code: refused at /authorize, back to the client.
    const web = await json<{ client_id: string }>(await svc.admin('POST', '/clients', {
      name: 'web', redirect_uris: [REDIRECT], grant_types: ['authorization_code'], token_endpoint_auth_method: 'none', first_party: true,
    }), 201)
    const browser = new PageClient(svc)
    await browser.login('ada@example.com', PASSWORD)
    const res = await browser.get(`/authorize?${new URLSearchParams({ response_type: 'code', client_id: web.client_id, redirect_uri: REDIRECT, scope: 'openid admin', code_challenge: 'c'.repeat(43), code_challenge_method: 'S256' })}`)
    expect(new URL(res.headers.get('location')!).searchParams.get('error')).toBe('invalid_scope')
  })

  test('gets no audience but its own client id', async () => {
    const svcClient = await confidential()
    expect(await json(await svcClient.token({ audience: 'https://payments.example' }), 400)).toMatchObject({ error: 'invalid_target' })
    const own = await json<{ access_token: string }>(await svcClient.token({ audience: svcClient.client_id }))
    expect(decodeJwt(own.access_token).aud).toBe(svcClient.client_id)
    const { userId } = await seedUserAndClient(svc)
    expect(await json(await svc.admin('POST', '/tokens', { user: userId, client_id: 'evergreen-cli', audience: 'https://payments.example' }), 400))
      .toMatchObject({ error: 'invalid_target' })
  })
})

describe('allowed_audiences', () => {
  test('a registered audience is granted; others are invalid_target', async () => {
    const svcClient = await confidential({ allowed_audiences: ['https://api.example'] })
    const ok = await json<{ access_token: string }>(await svcClient.token({ audience: 'https://api.example' }))
    expect(decodeJwt(ok.access_token).aud).toBe('https://api.example')
    expect(await json(await svcClient.token({ audience: 'https://other.example' }), 400)).toMatchObject({ error: 'invalid_target' })
    expect(await json(await svc.admin('PATCH', `/clients/${svcClient.client_id}`, { allowed_audiences: ['has space'] }), 400)).toMatchObject({ error: 'invalid_request' })
  })
})

describe('scope syntax (RFC 6749 §3.3)', () => {
  test.each(['openid\nadmin', 'openid\tadmin', 'openid  email', ' openid', 'open"id', 'a\\b', 'openid\u00e9'])('%j is invalid_scope', async (scope) => {
    // On a client without allowed_scopes, which used to take any string as its scope.
    const svcClient = await confidential()
    expect(await json(await svcClient.token({ scope }), 400)).toMatchObject({ error: 'invalid_scope' })
  })

  test('allowed_scopes must be scope-tokens', async () => {
    const res = await svc.admin('POST', '/clients', { name: 'x', grant_types: ['refresh_token'], token_endpoint_auth_method: 'none', allowed_scopes: ['openid\nadmin'] })
    expect(await json(res, 400)).toMatchObject({ error: 'invalid_request' })
  })
})

describe("narrowing a client's scopes", () => {
  test('takes effect at the next refresh of existing sessions', async () => {
    const { userId, clientId } = await seedUserAndClient(svc, { allowed_scopes: ['read', 'write'] })
    const issued = await mint(svc, userId, clientId, { scope: 'read write' })
    expect(issued.scope).toBe('read write')
    await json(await svc.admin('PATCH', `/clients/${clientId}`, { allowed_scopes: ['read'] }))
    const next = await json<{ scope: string; access_token: string }>(await refresh(svc, clientId, issued.refresh_token))
    expect(next.scope).toBe('read')
    expect(decodeJwt(next.access_token).scope).toBe('read')
  })
})

import { createHash } from 'node:crypto'
import { decodeJwt } from 'jose'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import type { PageClient } from '../test-support/browser-client.js'
import { startCodeFlow, PASSWORD, REDIRECT, verifier, type CodeFlow } from '../test-support/code-flow.js'
import { json, type TestService } from '../test-support/harness.js'

// Authorization code + PKCE and the device flow, through the real pages and token endpoint,
// in process with an injected clock.

let svc: TestService
let browser: PageClient
let clientId: string
let authorizeUrl: CodeFlow['authorizeUrl']

beforeEach(async () => {
  ;({ svc, browser, clientId, authorizeUrl } = await startCodeFlow())
})
afterEach(async () => {
  await svc?.close()
})

async function authorizeCode(extra: Record<string, string> = {}): Promise<string> {
  const res = await browser.get(authorizeUrl(extra))
  expect(res.status).toBe(303)
  const location = new URL(res.headers.get('location')!)
  expect(location.origin + location.pathname).toBe(REDIRECT)
  expect(location.searchParams.get('state')).toBe('s1')
  expect(location.searchParams.get('iss')).toBe('http://evergreen.test')
  return location.searchParams.get('code')!
}

const exchange = (code: string, extra: Record<string, string> = {}) =>
  svc.form('/oauth/token', { grant_type: 'authorization_code', client_id: clientId, code, redirect_uri: REDIRECT, code_verifier: verifier, ...extra })

describe('authorization code + PKCE', () => {
  test('sign in, get a code, exchange it for tokens with an ID token, refresh the result', async () => {
    const first = await browser.get(authorizeUrl())
    expect(first.status).toBe(303)
    expect(first.headers.get('location')).toMatch(/^\/login\?return_to=%2Fauthorize/)
    const login = await browser.login('ada@example.com', PASSWORD)
    expect(login.status).toBe(303)
    expect(login.headers.get('set-cookie')).toMatch(/evergreen_session=.*HttpOnly.*SameSite=Lax/i)
    const code = await authorizeCode()
    const tokens = await json<{ access_token: string; refresh_token: string; id_token: string; refresh_token_expires_in: number }>(await exchange(code))
    const id = decodeJwt(tokens.id_token)
    expect(id).toMatchObject({ iss: 'http://evergreen.test', aud: clientId, nonce: 'n1', email: 'ada@example.com' })
    expect(tokens.refresh_token_expires_in).toBe(86_400)
    const userinfo = await json<Record<string, unknown>>(await svc.fetch('/userinfo', { headers: { authorization: `Bearer ${tokens.access_token}` } }))
    expect(userinfo).toEqual({ sub: id.sub, email: 'ada@example.com' })
    const refreshed = await svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: tokens.refresh_token })
    expect(refreshed.status).toBe(200)
  })

  test('an ID token does not revoke the session at /oauth/revoke; the access token does', async () => {
    await browser.login('ada@example.com', PASSWORD)
    const tokens = await json<{ access_token: string; refresh_token: string; id_token: string }>(await exchange(await authorizeCode()))
    expect((await svc.form('/oauth/revoke', { client_id: clientId, token: tokens.id_token })).status).toBe(200)
    const still = await svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: tokens.refresh_token })
    const next = await json<{ access_token: string; refresh_token: string }>(still)
    expect((await svc.form('/oauth/revoke', { client_id: clientId, token: next.access_token })).status).toBe(200)
    const gone = await svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: next.refresh_token })
    expect(await json(gone, 400)).toMatchObject({ error: 'invalid_grant', error_reason: 'revoked' })
  })

  test('a wrong PKCE verifier is invalid_grant', async () => {
    await browser.login('ada@example.com', PASSWORD)
    const code = await authorizeCode()
    const res = await exchange(code, { code_verifier: 'x'.repeat(43) })
    expect(await json(res, 400)).toMatchObject({ error: 'invalid_grant' })
  })

  test('a reused code is invalid_grant and revokes the session the first use produced', async () => {
    await browser.login('ada@example.com', PASSWORD)
    const code = await authorizeCode()
    const tokens = await json<{ refresh_token: string }>(await exchange(code))
    expect(await json(await exchange(code), 400)).toMatchObject({ error: 'invalid_grant' })
    const res = await svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: tokens.refresh_token })
    expect(await json(res, 400)).toMatchObject({ error: 'invalid_grant', error_reason: 'revoked' })
  })

  test('a mismatched redirect URI: on the exchange invalid_grant, on authorize an error page and no redirect', async () => {
    await browser.login('ada@example.com', PASSWORD)
    const code = await authorizeCode()
    expect(await json(await exchange(code, { redirect_uri: 'http://127.0.0.1:9999/other' }), 400)).toMatchObject({ error: 'invalid_grant' })
    const res = await browser.get(authorizeUrl({ redirect_uri: 'http://127.0.0.1:9999/callback/extra' }))
    expect(res.status).toBe(400)
    expect(res.headers.get('location')).toBeNull()
    expect(await res.text()).toContain('Invalid redirect')
  })

  test('an expired code is invalid_grant', async () => {
    await browser.login('ada@example.com', PASSWORD)
    const code = await authorizeCode()
    svc.clock.advance(61)
    expect(await json(await exchange(code), 400)).toMatchObject({ error: 'invalid_grant' })
  })

  test('public clients must use S256; plain is refused back at the redirect URI', async () => {
    await browser.login('ada@example.com', PASSWORD)
    const plain = await browser.get(authorizeUrl({ code_challenge_method: 'plain', code_challenge: verifier }))
    expect(new URL(plain.headers.get('location')!).searchParams.get('error')).toBe('invalid_request')
    const none = await browser.get(`/authorize?${new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, state: 's1' })}`)
    expect(new URL(none.headers.get('location')!).searchParams.get('error')).toBe('invalid_request')
  })

  test('third-party clients get a consent page; Deny returns access_denied', async () => {
    await json(await svc.admin('PATCH', `/clients/${clientId}`, { first_party: false }))
    await browser.login('ada@example.com', PASSWORD)
    const consent = await browser.get(authorizeUrl())
    expect(consent.status).toBe(200)
    const page = await consent.text()
    expect(page).toContain('Allow Dashboard?')
    expect(consent.headers.get('content-security-policy')).toContain("frame-ancestors 'none'")
    const fields = Object.fromEntries(new URLSearchParams(authorizeUrl().split('?')[1]))
    const denied = await browser.post('/authorize', { ...fields, decision: 'deny' })
    expect(new URL(denied.headers.get('location')!).searchParams.get('error')).toBe('access_denied')
    await browser.get(authorizeUrl())
    const allowed = await browser.post('/authorize', { ...fields, decision: 'approve' })
    expect(new URL(allowed.headers.get('location')!).searchParams.get('code')).toMatch(/^egac_/)
  })
})

describe('device flow', () => {
  let cli: string
  beforeEach(() => {
    cli = 'evergreen-cli'
  })
  const start = async () =>
    json<{ device_code: string; user_code: string; verification_uri: string; verification_uri_complete: string; interval: number; expires_in: number }>(
      await svc.form('/oauth/device_authorization', { client_id: cli, refresh_token_ttl: '2592000' }),
    )
  const poll = (deviceCode: string) => svc.form('/oauth/token', { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', client_id: cli, device_code: deviceCode })

  test('pending, then approved on /device, then tokens under the same rotation rules', async () => {
    const started = await start()
    expect(started.user_code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/)
    expect(started.verification_uri).toBe('http://evergreen.test/device')
    expect(started.verification_uri_complete).toBe(`http://evergreen.test/device?user_code=${started.user_code}`)
    expect(await json(await poll(started.device_code), 400)).toMatchObject({ error: 'authorization_pending' })

    await browser.login('ada@example.com', PASSWORD)
    const entry = await browser.get(`/device?user_code=${started.user_code}`)
    expect(await entry.text()).toContain(`value="${started.user_code}"`)
    const confirm = await browser.post('/device', { user_code: started.user_code.toLowerCase() })
    expect(await confirm.text()).toContain('Approve Evergreen CLI?')
    const done = await browser.post('/device/decision', { user_code: started.user_code, decision: 'approve' })
    expect(await done.text()).toContain('Device connected')

    svc.clock.advance(started.interval)
    const tokens = await json<{ refresh_token: string; refresh_token_expires_in: number }>(await poll(started.device_code))
    expect(tokens.refresh_token_expires_in).toBe(2_592_000)
    svc.clock.advance(started.interval)
    expect(await json(await poll(started.device_code), 400)).toMatchObject({ error: 'invalid_grant' })
    const next = await json<{ refresh_token_expires_in: number }>(
      await svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: cli, refresh_token: tokens.refresh_token }),
    )
    expect(next.refresh_token_expires_in).toBe(2_592_000)
  })

  test.each(['0', '-1', '1.5', 'abc', '99999999999999'])('refresh_token_ttl=%s is refused at device authorization, not on every poll', async (ttl) => {
    const res = await svc.form('/oauth/device_authorization', { client_id: cli, refresh_token_ttl: ttl })
    expect(await json(res, 400)).toMatchObject({ error: 'invalid_request' })
  })

  test('the database holds no user code: a keyed digest in device_codes, none in the audit event', async () => {
    const started = await start()
    await browser.login('ada@example.com', PASSWORD)
    await browser.get('/device')
    await browser.post('/device', { user_code: started.user_code })
    expect(await (await browser.post('/device/decision', { user_code: started.user_code, decision: 'approve' })).text()).toContain('Device connected')
    const bare = started.user_code.replace('-', '')
    const row = await svc.deps.store.getDeviceCode(createHash('sha256').update(started.device_code).digest('hex'))
    expect(row?.status).toBe('approved')
    expect(row!.user_code).toMatch(/^[0-9a-f]{64}$/)
    // Keyed: a plain SHA-256 of 20^8 possible codes would be reversed offline in seconds.
    expect(row!.user_code).not.toBe(createHash('sha256').update(bare).digest('hex'))
    const audit = await (await svc.admin('GET', '/audit?type=device.approved')).text()
    expect(audit).toContain('device.approved')
    expect(audit).not.toContain(bare)
    expect(audit).not.toContain(started.user_code)
  })

  test('deny gives access_denied', async () => {
    const started = await start()
    await browser.login('ada@example.com', PASSWORD)
    await browser.get('/device')
    await browser.post('/device/decision', { user_code: started.user_code, decision: 'deny' })
    expect(await json(await poll(started.device_code), 400)).toMatchObject({ error: 'access_denied' })
  })

  test('polling faster than the interval is slow_down, and the interval grows by 5 s', async () => {
    const started = await start()
    await poll(started.device_code)
    svc.clock.advance(1)
    expect(await json(await poll(started.device_code), 400)).toMatchObject({ error: 'slow_down' })
    // The interval is now 10 s: 5 s later is still too fast, and that grows it to 15 s.
    svc.clock.advance(started.interval)
    expect(await json(await poll(started.device_code), 400)).toMatchObject({ error: 'slow_down' })
    svc.clock.advance(started.interval + 10)
    expect(await json(await poll(started.device_code), 400)).toMatchObject({ error: 'authorization_pending' })
  })

  test('wrong user codes are rate limited (RFC 8628 §5.1): afterwards even the right code is refused, on entry and on the decision', async () => {
    const started = await start()
    await browser.login('ada@example.com', PASSWORD)
    await browser.get('/device')
    for (let i = 0; i < 10; i++) expect((await browser.post('/device', { user_code: 'BCDF-GHJK' })).status).toBe(400)
    const entry = await browser.post('/device', { user_code: started.user_code })
    expect(entry.status).toBe(429)
    expect(await entry.text()).toContain('Too many wrong codes')
    expect((await browser.post('/device/decision', { user_code: started.user_code, decision: 'approve' })).status).toBe(429)
    expect(await json(await poll(started.device_code), 400)).toMatchObject({ error: 'authorization_pending' })
  })

  test('an expired device code is expired_token, and /device refuses its user code', async () => {
    const started = await start()
    svc.clock.advance(started.expires_in)
    expect(await json(await poll(started.device_code), 400)).toMatchObject({ error: 'expired_token' })
    await browser.login('ada@example.com', PASSWORD)
    await browser.get('/device')
    const res = await browser.post('/device', { user_code: started.user_code })
    expect(res.status).toBe(400)
    expect(await res.text()).toContain('unknown or has expired')
  })
})

describe('pages', () => {
  test('a form without the CSRF token changes nothing', async () => {
    await browser.get('/login')
    const res = await browser.post('/login', { email: 'ada@example.com', password: PASSWORD }, { csrf: false })
    expect(res.status).toBe(403)
    expect(res.headers.get('set-cookie') ?? '').not.toContain('evergreen_session')
  })

  test('a cross-site Origin is refused even with a token', async () => {
    await browser.get('/login')
    const res = await browser.post('/login', { email: 'ada@example.com', password: PASSWORD }, { origin: 'https://evil.example' })
    expect(res.status).toBe(403)
  })

  test('failed sign-ins are slowed per account', async () => {
    await browser.get('/login')
    for (let i = 0; i < 10; i++) expect((await browser.post('/login', { email: 'ada@example.com', password: 'wrong' })).status).toBe(401)
    const blocked = await browser.post('/login', { email: 'ada@example.com', password: PASSWORD })
    expect(blocked.status).toBe(429)
  })

  test('every page carries CSP, frame-ancestors none and no-referrer', async () => {
    const res = await browser.get('/login')
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'.*frame-ancestors 'none'/)
    expect(res.headers.get('referrer-policy')).toBe('no-referrer')
    expect(res.headers.get('x-frame-options')).toBe('DENY')
  })

  test('/settings/cli mints a credential whose session shows on /settings/sessions and can be revoked there', async () => {
    await browser.login('ada@example.com', PASSWORD)
    await browser.get('/settings/cli')
    const minted = await browser.post('/settings/cli', { name: 'laptop', lifetime: '2592000' })
    const text = await minted.text()
    const credential = /evergreen login --token (egc1_[A-Za-z0-9_-]+)/.exec(text)![1]!
    const { decodeCredential } = await import('@evergreen/core')
    const parsed = decodeCredential(credential)
    if (!parsed.ok) throw new Error('credential did not decode')
    const sessions = await (await browser.get('/settings/sessions')).text()
    expect(sessions).toContain('laptop')
    expect(sessions).toContain('CLI credential')
    const sessionId = /data-session-id="([^"]+)"/.exec(sessions)![1]!
    await browser.post('/settings/sessions/revoke', { session_id: sessionId })
    const refresh = await svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: parsed.value.client_id, refresh_token: parsed.value.refresh_token })
    expect(await json(refresh, 400)).toMatchObject({ error: 'invalid_grant', error_reason: 'revoked' })
  })
})

describe('resource indicators (RFC 8707) at /authorize and device authorization', () => {
  const MCP = 'https://mcp.example/mcp'
  const FILES = 'https://files.example/'
  beforeEach(async () => {
    await json(await svc.admin('PATCH', `/clients/${clientId}`, { allowed_audiences: [MCP, FILES, 'https://other.example/'] }))
  })
  const withResources = (...resources: string[]) => authorizeUrl() + resources.map((r) => `&resource=${encodeURIComponent(r)}`).join('')
  async function codeFor(...resources: string[]): Promise<string> {
    const res = await browser.get(withResources(...resources))
    const location = new URL(res.headers.get('location')!)
    expect(location.searchParams.get('error')).toBeNull()
    return location.searchParams.get('code')!
  }

  test('one resource authorized: the code exchange binds aud and the session to it, and a refresh keeps it', async () => {
    await browser.login('ada@example.com', PASSWORD)
    const tokens = await json<{ access_token: string; refresh_token: string }>(await exchange(await codeFor(MCP)))
    expect(decodeJwt(tokens.access_token).aud).toBe(MCP)
    const sid = decodeJwt(tokens.access_token).sid as string
    expect(await json(await svc.admin('GET', `/sessions/${sid}`))).toMatchObject({ resource: MCP })
    const refreshed = await json<{ access_token: string }>(await svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: tokens.refresh_token }))
    expect(decodeJwt(refreshed.access_token).aud).toBe(MCP)
  })

  test('several resources: the token request must choose one of them; another one is invalid_target', async () => {
    await browser.login('ada@example.com', PASSWORD)
    expect(await json(await exchange(await codeFor(MCP, FILES)), 400)).toMatchObject({ error: 'invalid_target' })
    // Allowed for the client, but not what the person approved: widening.
    expect(await json(await exchange(await codeFor(MCP, FILES), { resource: 'https://other.example/' }), 400)).toMatchObject({ error: 'invalid_target' })
    const tokens = await json<{ access_token: string }>(await exchange(await codeFor(MCP, FILES), { resource: FILES }))
    expect(decodeJwt(tokens.access_token).aud).toBe(FILES)
  })

  test('a token request cannot add a resource the client may not reach, with or without one authorized', async () => {
    await browser.login('ada@example.com', PASSWORD)
    const code = await codeFor(MCP)
    expect(await json(await exchange(code, { resource: 'https://evil.example/' }), 400)).toMatchObject({ error: 'invalid_target' })
    // Checked before the code is spent: the right request still works.
    expect((await exchange(code)).status).toBe(200)
  })

  test.each([
    ['not allowed for the client', 'https://evil.example/'],
    ['with a fragment', `${MCP}#x`],
    ['relative', '/mcp'],
  ])('a resource %s is invalid_target back at the redirect URI, and no code is issued', async (_, resource) => {
    await browser.login('ada@example.com', PASSWORD)
    const res = await browser.get(withResources(MCP, resource))
    const location = new URL(res.headers.get('location')!)
    expect(location.origin + location.pathname).toBe(REDIRECT)
    expect(location.searchParams.get('error')).toBe('invalid_target')
    expect(location.searchParams.get('state')).toBe('s1')
    expect(location.searchParams.get('code')).toBeNull()
  })

  test('the consent page names the resources and carries them through the approval', async () => {
    await json(await svc.admin('PATCH', `/clients/${clientId}`, { first_party: false }))
    await browser.login('ada@example.com', PASSWORD)
    const consent = await browser.get(withResources(MCP, FILES))
    const page = await consent.text()
    expect(page).toContain(`<code>${MCP}</code>`)
    expect(page).toContain(`<code>${FILES}</code>`)
    const hidden = [...page.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].filter(([, k]) => k !== 'csrf')
    const fields = Object.fromEntries(hidden.map(([, k, v]) => [k!, v!.replaceAll('&amp;', '&')]))
    const allowed = await browser.post('/authorize', { ...fields, decision: 'approve' })
    const code = new URL(allowed.headers.get('location')!).searchParams.get('code')!
    // Both approved: the exchange must choose, and gets the one it names.
    expect(await json(await exchange(code), 400)).toMatchObject({ error: 'invalid_target' })
  })

  test('the device flow: the resource asked at device authorization binds the poll, which may not name another', async () => {
    await json(await svc.admin('PATCH', '/clients/evergreen-cli', { allowed_audiences: [MCP, FILES] }))
    const started = await json<{ device_code: string; user_code: string; interval: number }>(
      await svc.form('/oauth/device_authorization', { client_id: 'evergreen-cli', resource: MCP }),
    )
    expect(await json(await svc.form('/oauth/device_authorization', { client_id: 'evergreen-cli', resource: 'https://evil.example/' }), 400)).toMatchObject({ error: 'invalid_target' })
    await browser.login('ada@example.com', PASSWORD)
    await browser.get(`/device?user_code=${started.user_code}`)
    // The person sees what the device will be limited to before approving.
    expect(await (await browser.post('/device', { user_code: started.user_code })).text()).toContain(`limited to <code>${MCP}</code>`)
    await browser.post('/device/decision', { user_code: started.user_code, decision: 'approve' })
    const poll = (extra: Record<string, string> = {}) =>
      svc.form('/oauth/token', { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', client_id: 'evergreen-cli', device_code: started.device_code, ...extra })
    expect(await json(await poll({ resource: FILES }), 400)).toMatchObject({ error: 'invalid_target' })
    svc.clock.advance(started.interval)
    const tokens = await json<{ access_token: string }>(await poll())
    expect(decodeJwt(tokens.access_token).aud).toBe(MCP)
  })
})

import { createHash, generateKeyPairSync } from 'node:crypto'
import { decodeJwt, SignJWT } from 'jose'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { PageClient } from '../test-support/browser-client.js'
import { createTestService, json, type TestService } from '../test-support/harness.js'

// OIDC RP-Initiated Logout through the real pages, in process with an injected clock.

const PASSWORD = 'correct horse battery'
const REDIRECT = 'http://127.0.0.1:9999/callback'
const BYE = 'https://app.example/bye?from=evergreen'
const verifier = 'v'.repeat(20) + 'erifier-0123456789-abcdefghijklmnop'
const challenge = createHash('sha256').update(verifier).digest('base64url')

let svc: TestService
let clientId: string
let adaId: string

beforeEach(async () => {
  svc = await createTestService()
  adaId = (await json<{ id: string }>(await svc.admin('POST', '/users', { email: 'ada@example.com', password: PASSWORD }), 201)).id
  await json(await svc.admin('POST', '/users', { email: 'bob@example.com', password: PASSWORD }), 201)
  clientId = (await json<{ client_id: string }>(await svc.admin('POST', '/clients', {
    name: 'Dashboard',
    redirect_uris: [REDIRECT],
    post_logout_redirect_uris: [BYE, 'http://127.0.0.1:9999/signed-out'],
    grant_types: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_method: 'none',
    first_party: true,
  }), 201)).client_id
})
afterEach(async () => {
  await svc?.close()
})

/** Signs `email` in through /login; returns the browser and its raw session cookie value. */
async function signIn(email: string): Promise<{ browser: PageClient; cookie: string }> {
  const browser = new PageClient(svc)
  const res = await browser.login(email, PASSWORD)
  const cookie = /evergreen_session=([^;]+)/.exec(res.headers.get('set-cookie') ?? '')![1]!
  return { browser, cookie }
}

/** An ID token for whoever is signed in to `browser`, through the authorization code flow. */
async function idTokenFor(browser: PageClient): Promise<{ id_token: string; access_token: string }> {
  const query = new URLSearchParams({
    response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, scope: 'openid', state: 's', nonce: 'n',
    code_challenge: challenge, code_challenge_method: 'S256',
  })
  const code = new URL((await browser.get(`/authorize?${query}`)).headers.get('location')!).searchParams.get('code')!
  return json(await svc.form('/oauth/token', { grant_type: 'authorization_code', client_id: clientId, code, redirect_uri: REDIRECT, code_verifier: verifier }))
}

/** Whether the sign-in behind `cookie` still opens /settings/sessions. */
async function stillSignedIn(cookie: string): Promise<boolean> {
  const res = await svc.fetch('/settings/sessions', { headers: { cookie: `evergreen_session=${cookie}` } })
  return res.status === 200
}

const endSession = (params: Record<string, string>) => `/oauth/end-session?${new URLSearchParams(params)}`

describe('discovery and ID tokens', () => {
  test('discovery advertises end-session and back-channel logout with sid', async () => {
    const meta = await json<Record<string, unknown>>(await svc.fetch('/.well-known/openid-configuration'))
    expect(meta).toMatchObject({
      end_session_endpoint: 'http://evergreen.test/oauth/end-session',
      backchannel_logout_supported: true,
      backchannel_logout_session_supported: true,
    })
  })

  test('the code flow\'s ID token carries sid, the same session id as the access token\'s', async () => {
    const { browser } = await signIn('ada@example.com')
    const tokens = await idTokenFor(browser)
    const id = decodeJwt(tokens.id_token)
    const access = decodeJwt(tokens.access_token)
    expect(id.sid).toMatch(/^ses_/)
    expect(id.sid).toBe(access.sid)
    expect(await svc.deps.store.getSession(id.sid as string)).toMatchObject({ user_id: adaId, client_id: clientId })
  })
})

describe('with a valid id_token_hint for the signed-in user', () => {
  test('signs out at once and redirects to the exact registered URI with state, its query kept', async () => {
    const { browser, cookie } = await signIn('ada@example.com')
    const { id_token } = await idTokenFor(browser)
    const res = await browser.get(endSession({ id_token_hint: id_token, post_logout_redirect_uri: BYE, state: 'a b&c=d/é' }))
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe(`${BYE}&state=a%20b%26c%3Dd%2F%C3%A9`)
    expect(res.headers.get('set-cookie')).toMatch(/evergreen_session=;.*Max-Age=0/i)
    expect(await stillSignedIn(cookie)).toBe(false)
    const audit = (await svc.deps.store.listAudit({ type: 'logout.succeeded', limit: 10 })).items
    expect(audit).toMatchObject([{ user_id: adaId, client_id: clientId, data: { via: 'end_session' } }])
    expect(JSON.stringify(audit)).not.toContain(id_token)
  })

  test('an expired hint is still a hint; POST as a form works too; without a URI the page says signed out', async () => {
    const { browser, cookie } = await signIn('ada@example.com')
    const { id_token } = await idTokenFor(browser)
    svc.clock.advance(3600)
    const res = await browser.post('/oauth/end-session', { id_token_hint: id_token }, { csrf: false })
    expect(res.status).toBe(200)
    expect(await res.text()).toContain('You are signed out')
    expect(await stillSignedIn(cookie)).toBe(false)
  })

  test('with nobody signed in, the hint alone redirects at once', async () => {
    const { browser } = await signIn('ada@example.com')
    const { id_token } = await idTokenFor(browser)
    const res = await new PageClient(svc).get(endSession({ id_token_hint: id_token, post_logout_redirect_uri: 'http://127.0.0.1:9999/signed-out' }))
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe('http://127.0.0.1:9999/signed-out')
  })
})

describe('confirmation', () => {
  test('without a hint: a confirm page, and the CSRF-checked POST signs out and redirects', async () => {
    const { browser, cookie } = await signIn('ada@example.com')
    const page = await browser.get(endSession({ client_id: clientId, post_logout_redirect_uri: BYE, state: 'xyz' }))
    expect(page.status).toBe(200)
    const text = await page.text()
    expect(text).toContain('<form method="post" action="/oauth/end-session/confirm">')
    expect(text).toContain('Dashboard')
    expect(text).toMatch(/<button class="primary" type="submit" autofocus>Sign out<\/button>/)
    expect(page.headers.get('content-security-policy')).toContain("form-action 'self' https://app.example")
    expect(await stillSignedIn(cookie)).toBe(true)

    const forged = await browser.post('/oauth/end-session/confirm', { client_id: clientId, post_logout_redirect_uri: BYE, state: 'xyz' }, { csrf: false })
    expect(forged.status).toBe(403)
    expect(await stillSignedIn(cookie)).toBe(true)

    await browser.get(endSession({ client_id: clientId, post_logout_redirect_uri: BYE, state: 'xyz' }))
    const confirmed = await browser.post('/oauth/end-session/confirm', { client_id: clientId, post_logout_redirect_uri: BYE, state: 'xyz' })
    expect(confirmed.status).toBe(303)
    expect(confirmed.headers.get('location')).toBe(`${BYE}&state=xyz`)
    expect(await stillSignedIn(cookie)).toBe(false)
  })

  test('a hint for someone else than the signed-in user asks first', async () => {
    const ada = await signIn('ada@example.com')
    const { id_token } = await idTokenFor(ada.browser)
    const bob = await signIn('bob@example.com')
    const res = await bob.browser.get(endSession({ id_token_hint: id_token, post_logout_redirect_uri: BYE }))
    expect(res.status).toBe(200)
    expect(await res.text()).toContain('bob@example.com')
    expect(await stillSignedIn(bob.cookie)).toBe(true)
  })

  test('a confirm POST cannot smuggle in an unregistered URI', async () => {
    const { browser, cookie } = await signIn('ada@example.com')
    await browser.get(endSession({ client_id: clientId }))
    const res = await browser.post('/oauth/end-session/confirm', { client_id: clientId, post_logout_redirect_uri: 'https://evil.example/' })
    expect(res.status).toBe(400)
    expect(res.headers.get('location')).toBeNull()
    expect(await stillSignedIn(cookie)).toBe(true)
  })
})

describe('refusals are 4xx pages, never redirects, never 500', () => {
  let browser: PageClient
  let cookie: string
  let idToken: string
  beforeEach(async () => {
    ;({ browser, cookie } = await signIn('ada@example.com'))
    idToken = (await idTokenFor(browser)).id_token
  })

  const refused = async (res: Response, text: RegExp) => {
    expect(res.status).toBe(400)
    expect(res.headers.get('location')).toBeNull()
    expect(res.headers.get('content-type')).toMatch(/^text\/html/)
    expect(await res.text()).toMatch(text)
    expect(await stillSignedIn(cookie)).toBe(true)
  }

  test('an unregistered post_logout_redirect_uri, even a near miss', async () => {
    for (const uri of ['https://evil.example/', `${BYE}&x=1`, 'https://app.example/bye', BYE.toUpperCase()]) {
      await refused(await browser.get(endSession({ id_token_hint: idToken, post_logout_redirect_uri: uri })), /has not registered/)
    }
  })

  test('a garbled, forged or wrong-type hint', async () => {
    await refused(await browser.get(endSession({ id_token_hint: 'not-a-jwt' })), /did not issue/)
    await refused(await browser.get(endSession({ id_token_hint: idToken.slice(0, -4) + 'AAAA' })), /did not issue/)
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const forged = await new SignJWT({ sub: adaId, aud: clientId, sid: 'ses_x' })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: JSON.parse(Buffer.from(idToken.split('.')[0]!, 'base64url').toString()).kid })
      .setIssuer('http://evergreen.test').setIssuedAt(svc.clock.now()).setExpirationTime(svc.clock.now() + 60)
      .sign(privateKey)
    await refused(await browser.get(endSession({ id_token_hint: forged })), /did not issue/)
    // An access token is signed by the same key but is not an ID token (typ at+jwt).
    const access = (await idTokenFor(browser)).access_token
    await refused(await browser.get(endSession({ id_token_hint: access })), /did not issue/)
  })

  test('client_id disagreeing with the hint, an unknown client, a URI with no client', async () => {
    const other = (await json<{ client_id: string }>(await svc.admin('POST', '/clients', { name: 'Other', grant_types: ['refresh_token'], token_endpoint_auth_method: 'none' }), 201)).client_id
    await refused(await browser.get(endSession({ id_token_hint: idToken, client_id: other })), /different application/)
    await refused(await browser.get(endSession({ client_id: 'nobody' })), /not registered/)
    await refused(await browser.get(endSession({ post_logout_redirect_uri: BYE })), /needs client_id or id_token_hint/)
  })

  test('a repeated parameter, a non-form POST, an oversized state', async () => {
    await refused(await browser.get(`/oauth/end-session?client_id=${clientId}&client_id=${clientId}`), /repeated/)
    await refused(await svc.fetch('/oauth/end-session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }), /x-www-form-urlencoded/)
    await refused(await browser.get(endSession({ client_id: clientId, state: 'x'.repeat(3000) })), /too long/)
  })
})

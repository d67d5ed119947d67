import { decodeJwt } from 'jose'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { PageClient } from '../test-support/browser-client.js'
import { startCodeFlow, PASSWORD, REDIRECT, verifier, type CodeFlow } from '../test-support/code-flow.js'
import { json, type TestService } from '../test-support/harness.js'

// OIDC Core §3.1.2.1 `prompt=login` and `max_age` at /authorize: a live browser sign-in is asked
// for the password again, and the return from /login continues the request without looping.

let svc: TestService
let browser: PageClient
let clientId: string
let authorizeUrl: CodeFlow['authorizeUrl']

beforeEach(async () => {
  ;({ svc, browser, clientId, authorizeUrl } = await startCodeFlow())
  await browser.login('ada@example.com', PASSWORD)
  svc.clock.advance(100)
})
afterEach(async () => {
  await svc?.close()
})

const location = (res: Response) => new URL(res.headers.get('location')!, 'http://evergreen.test')
const returnTo = (res: Response) => location(res).searchParams.get('return_to')!

/** The client's view of a redirect to it: `code`, or `error`. */
function atClient(res: Response): URLSearchParams {
  expect(res.status).toBe(303)
  const to = location(res)
  expect(to.origin + to.pathname).toBe(REDIRECT)
  return to.searchParams
}

async function authTimeOf(code: string): Promise<number> {
  const res = await svc.form('/oauth/token', { grant_type: 'authorization_code', client_id: clientId, code, redirect_uri: REDIRECT, code_verifier: verifier })
  const tokens = await json<{ id_token: string }>(res)
  return decodeJwt(tokens.id_token).auth_time as number
}

/** /authorize → /login: the form is shown to the signed-in browser. Returns its return_to. */
async function expectLoginForm(res: Response): Promise<string> {
  expect(res.status).toBe(303)
  expect(location(res).pathname).toBe('/login')
  const page = await browser.get(`${location(res).pathname}${location(res).search}`)
  expect(page.status).toBe(200)
  const text = await page.text()
  expect(text).toContain('<h1>Sign in</h1>')
  expect(text).toContain('Sign in again to continue to <strong>Dashboard</strong>.')
  expect(text).toMatch(/name="email" type="email"[^>]*value="ada@example.com"/)
  return returnTo(res)
}

describe('prompt=login', () => {
  test('a live sign-in is shown the login form; the password continues to the client with a fresh auth_time', async () => {
    const signedInAt = svc.clock.now() - 100
    expect(await authTimeOf(atClient(await browser.get(authorizeUrl())).get('code')!)).toBe(signedInAt)

    const back = await expectLoginForm(await browser.get(authorizeUrl({ prompt: 'login' })))
    expect(back).toMatch(/^\/authorize\?.*&evergreen_reauth=\d+\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/)
    svc.clock.advance(7)
    const login = await browser.post('/login', { email: 'ada@example.com', password: PASSWORD, return_to: back })
    expect(login.status).toBe(303)
    expect(login.headers.get('location')).toBe(back)
    // The return is recognised: a code at once, not another trip to /login.
    const params = atClient(await browser.get(back))
    expect(params.get('state')).toBe('s1')
    expect(await authTimeOf(params.get('code')!)).toBe(svc.clock.now())
  })

  test('a wrong password gets the form again and no code; coming back without signing in is the form again', async () => {
    const back = await expectLoginForm(await browser.get(authorizeUrl({ prompt: 'login' })))
    const wrong = await browser.post('/login', { email: 'ada@example.com', password: 'wrong horse', return_to: back })
    expect(wrong.status).toBe(401)
    expect(wrong.headers.get('location')).toBeNull()
    expect(await wrong.text()).toContain('Sign in again to continue to <strong>Dashboard</strong>.')
    // The return URL itself, visited with only the old sign-in, does not pass.
    const bounced = await browser.get(back)
    expect(location(bounced).pathname).toBe('/login')
    expect(location(bounced).searchParams.has('code')).toBe(false)
  })

  test('prompt=login consent on a first-party client: sign in again, then the consent page', async () => {
    const back = await expectLoginForm(await browser.get(authorizeUrl({ prompt: 'login consent' })))
    await browser.post('/login', { email: 'ada@example.com', password: PASSWORD, return_to: back })
    const consent = await browser.get(back)
    expect(consent.status).toBe(200)
    expect(await consent.text()).toContain('Allow Dashboard?')
    const fields = Object.fromEntries(new URLSearchParams(back.split('?')[1]))
    const approved = await browser.post('/authorize', { ...fields, decision: 'approve' })
    expect(atClient(approved).get('code')).toMatch(/^egac_/)
  })

  test('the consent form cannot be posted past prompt=login without the fresh sign-in', async () => {
    await json(await svc.admin('PATCH', `/clients/${clientId}`, { first_party: false }))
    await browser.get(authorizeUrl())
    const fields = Object.fromEntries(new URLSearchParams(authorizeUrl({ prompt: 'login' }).split('?')[1]))
    const res = await browser.post('/authorize', { ...fields, decision: 'approve' })
    expect(location(res).pathname).toBe('/login')
  })

  test('a crafted marker does not skip the password: forged, moved in time, copied to another request, or expired', async () => {
    const back = await expectLoginForm(await browser.get(authorizeUrl({ prompt: 'login' })))
    const marker = new URLSearchParams(back.split('?')[1]).get('evergreen_reauth')!
    const [at, before, mac] = marker.split('.')
    const attempts = [
      authorizeUrl({ prompt: 'login', evergreen_reauth: `${at}.${before}.${'A'.repeat(43)}` }),
      authorizeUrl({ prompt: 'login', evergreen_reauth: `${Number(at) - 1000}.${before}.${mac}` }),
      authorizeUrl({ prompt: 'login', evergreen_reauth: `${at}.-.${mac}` }),
      authorizeUrl({ prompt: 'login', state: 's2', evergreen_reauth: marker }),
      authorizeUrl({ prompt: 'login', evergreen_reauth: 'garbage' }),
    ]
    for (const url of attempts) expect(location(await browser.get(url)).pathname).toBe('/login')
    // Genuine, but for a sign-in that started before it: still the form.
    expect(location(await browser.get(back)).pathname).toBe('/login')
    // Genuine and signed in after it, but too late: a new marker and the form again.
    await browser.post('/login', { email: 'ada@example.com', password: PASSWORD, return_to: back })
    svc.clock.advance(601)
    expect(location(await browser.get(back)).pathname).toBe('/login')
  })

  test('in the same second: the sign-in the browser already had does not count, a new one does', async () => {
    // The clock has whole seconds and does not move in this test.
    const same = new PageClient(svc)
    await same.login('ada@example.com', PASSWORD)
    const first = await same.get(authorizeUrl({ prompt: 'login' }))
    const back = returnTo(first)
    expect(location(await same.get(back)).pathname).toBe('/login')
    await same.get(`/login?return_to=${encodeURIComponent(back)}`)
    expect(same.lastHtml).toContain('Sign in again to continue to <strong>Dashboard</strong>.')
    await same.post('/login', { email: 'ada@example.com', password: PASSWORD, return_to: back })
    expect(atClient(await same.get(back)).get('code')).toMatch(/^egac_/)
  })

  test('not signed in at all: the form, then the code without a second trip', async () => {
    const fresh = new PageClient(svc)
    const first = await fresh.get(authorizeUrl({ prompt: 'login' }))
    const back = returnTo(first)
    await fresh.get(`/login?return_to=${encodeURIComponent(back)}`)
    svc.clock.advance(3)
    const login = await fresh.post('/login', { email: 'ada@example.com', password: PASSWORD, return_to: back })
    expect(atClient(await fresh.get(login.headers.get('location')!)).get('code')).toMatch(/^egac_/)
  })
})

describe('max_age', () => {
  test('max_age=0 forces a sign-in; the return continues even a second later', async () => {
    const back = await expectLoginForm(await browser.get(authorizeUrl({ max_age: '0' })))
    await browser.post('/login', { email: 'ada@example.com', password: PASSWORD, return_to: back })
    svc.clock.advance(1)
    const params = atClient(await browser.get(back))
    expect(await authTimeOf(params.get('code')!)).toBe(svc.clock.now() - 1)
  })

  test('a sign-in older than max_age is asked again; a younger one is not', async () => {
    const signedInAt = svc.clock.now() - 100
    await expectLoginForm(await browser.get(authorizeUrl({ max_age: '99' })))
    const young = atClient(await browser.get(authorizeUrl({ max_age: '100' })))
    expect(await authTimeOf(young.get('code')!)).toBe(signedInAt)
    const large = atClient(await browser.get(authorizeUrl({ max_age: '86400' })))
    expect(large.get('code')).toMatch(/^egac_/)
  })
})

describe('invalid prompt and max_age', () => {
  test.each([
    [{ prompt: 'none login' }, 'invalid_request'],
    [{ prompt: 'consent none' }, 'invalid_request'],
    [{ prompt: 'select_account' }, 'invalid_request'],
    [{ max_age: '-1' }, 'invalid_request'],
    [{ max_age: '1.5' }, 'invalid_request'],
    [{ prompt: 'none', max_age: '10' }, 'login_required'],
  ])('%o is %s at the redirect URI', async (extra, error) => {
    expect(atClient(await browser.get(authorizeUrl(extra))).get('error')).toBe(error)
  })

  test('prompt=none with a young enough sign-in still gets a code', async () => {
    expect(atClient(await browser.get(authorizeUrl({ prompt: 'none', max_age: '3600' }))).get('code')).toMatch(/^egac_/)
  })

  test('discovery lists the prompt values that exist', async () => {
    const meta = await json<{ prompt_values_supported: string[] }>(await svc.fetch('/.well-known/openid-configuration'))
    expect(meta.prompt_values_supported).toEqual(['none', 'login', 'consent'])
  })
})

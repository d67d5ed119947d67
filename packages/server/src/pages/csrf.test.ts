import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { PageClient } from '../test-support/browser-client.js'
import { createTestService, json, type TestService } from '../test-support/harness.js'

// CSRF tokens are bound to the sign-in session (or a pre-login cookie the service issued), an
// `Origin: null` post needs Sec-Fetch-Site: same-origin, and two tabs of a fresh browser can
// both sign in.

const PASSWORD = 'correct horse battery'
let svc: TestService

beforeEach(async () => {
  svc = await createTestService()
  await json(await svc.admin('POST', '/users', { email: 'ada@example.com', password: PASSWORD }), 201)
  await json(await svc.admin('POST', '/users', { email: 'mallory@example.com', password: PASSWORD }), 201)
})
afterEach(async () => {
  await svc?.close()
})

const tokenOf = async (res: Response) => /name="csrf" value="([^"]+)"/.exec(await res.text())![1]!
const cookieHeader = (res: Response) => res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ')

describe('CSRF binding', () => {
  test('a token minted for a cookie value the attacker chose does not work in the victim browser', async () => {
    const victim = new PageClient(svc)
    await victim.login('ada@example.com', PASSWORD)
    // The attacker sends a CSRF cookie of their choosing (and could plant the same value in the
    // victim's browser from a sibling host); the service must not hand back a token for it.
    const planted = 'attacker-chosen-value-0123456789'
    const page = await svc.fetch('/login', { headers: { cookie: `evergreen_csrf=${planted}` } })
    const forged = await tokenOf(page)
    victim.plantCookie('evergreen_csrf', planted)
    const res = await victim.post('/settings/sessions/revoke-all', { csrf: forged })
    expect(res.status).toBe(403)
  })

  test("another signed-in user's token is refused: the token is bound to the sign-in session", async () => {
    const mallory = new PageClient(svc)
    await mallory.login('mallory@example.com', PASSWORD)
    await mallory.get('/settings/cli')
    const malloryToken = mallory.csrf()
    const victim = new PageClient(svc)
    await victim.login('ada@example.com', PASSWORD)
    expect((await victim.post('/settings/cli', { csrf: malloryToken, name: 'x', lifetime: '2592000' })).status).toBe(403)
    await victim.get('/settings/cli')
    expect((await victim.post('/settings/cli', { name: 'x', lifetime: '2592000' })).status).toBe(200)
  })

  test('a pre-login token does not unlock a signed-in action', async () => {
    const fresh = await svc.fetch('/login')
    const preLogin = await tokenOf(fresh)
    const victim = new PageClient(svc)
    await victim.login('ada@example.com', PASSWORD)
    expect((await victim.post('/settings/sessions/revoke-all', { csrf: preLogin })).status).toBe(403)
  })

  test('two tabs opening /login in a fresh browser can both sign in', async () => {
    const [one, two] = await Promise.all([svc.fetch('/login'), svc.fetch('/login')])
    const [tokenOne, tokenTwo] = [await tokenOf(one.clone()), await tokenOf(two.clone())]
    // The browser keeps both cookies (the later response does not replace the earlier one).
    const cookie = `${cookieHeader(one)}; ${cookieHeader(two)}`
    for (const csrf of [tokenOne, tokenTwo]) {
      const res = await svc.form('/login', { csrf, email: 'ada@example.com', password: PASSWORD }, { cookie })
      expect(res.status).toBe(303)
    }
  })
})

describe('Origin: null', () => {
  test('is refused from a cross-site context, accepted with Sec-Fetch-Site: same-origin', async () => {
    const browser = new PageClient(svc)
    await browser.get('/login')
    const fields = { csrf: browser.csrf(), email: 'ada@example.com', password: PASSWORD }
    expect((await browser.post('/login', fields, { origin: 'null' })).status).toBe(403)
    expect((await browser.post('/login', fields, { origin: 'null', headers: { 'sec-fetch-site': 'cross-site' } })).status).toBe(403)
    const ok = await browser.post('/login', fields, { origin: 'null', headers: { 'sec-fetch-site': 'same-origin' } })
    expect(ok.status).toBe(303)
  })
})

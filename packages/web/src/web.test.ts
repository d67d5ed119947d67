import { describe, expect, test } from 'vitest'
import { WebConfigError } from './errors.js'
import { safeReturnTo } from './return-to.js'
import { APP, browserFor, completeLogin, createWebFixture, ISSUER, signIn, strongSecret, type TwoOriginBrowser, type WebFixture } from './test-support/fixture.js'
import { createLogoutSigner, logoutClaims } from './test-support/logout-tokens.js'
import { createEvergreenWeb } from './web.js'

/** Counts the middleware's calls to the token service, by path. */
function countCalls(f: WebFixture): Map<string, number> {
  const counts = new Map<string, number>()
  const inner = f.transport.fetch
  f.transport.fetch = ((input: RequestInfo | URL, init?: RequestInit) => {
    const path = new URL(String(input instanceof Request ? input.url : input)).pathname
    counts.set(path, (counts.get(path) ?? 0) + 1)
    return inner(input, init)
  }) as typeof fetch
  return counts
}

const cookieNames = (b: TwoOriginBrowser) => [...b.jar(APP).keys()]
const accessCookie = (b: TwoOriginBrowser) => cookieNames(b).find((n) => /^evergreen\.at\.\d+$/.test(n))
const refreshCookie = (b: TwoOriginBrowser) => cookieNames(b).find((n) => /^evergreen\.rt\.\d+$/.test(n))
const api = { accept: 'application/json' }
const nav = { accept: 'text/html', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' }

async function signedIn(extra = {}, before?: (f: WebFixture) => Promise<void>) {
  const f = await createWebFixture(extra)
  await before?.(f)
  const b = browserFor(f)
  const cb = await signIn(f, b)
  expect(cb.status).toBe(303)
  return { f, b }
}

describe('sign-in', () => {
  test('login → service pages → callback sets a generation pair and redirects to return_to', async () => {
    const { f, b } = await signedIn()
    const names = cookieNames(b)
    expect(names.filter((n) => /^evergreen\.(at|rt)\.\d+$/.test(n))).toHaveLength(2)
    expect(accessCookie(b)!.split('.').at(-1)).toBe(refreshCookie(b)!.split('.').at(-1))
    expect(names.some((n) => n.includes('.tx.'))).toBe(false)
    const me = await b.send(`${APP}/api/me`)
    expect(me.status).toBe(200)
    expect(await me.json()).toMatchObject({ email: f.email })
  })

  test('cookies are HttpOnly, SameSite=Lax, Path=/; on https Secure with __Host-; the pair stays well under 4 KB', async () => {
    const f = await createWebFixture()
    const b = browserFor(f)
    const start = await b.send(`${APP}/auth/login?return_to=/x`)
    const tx = start.headers.getSetCookie()[0]!
    expect(tx).toMatch(/^evergreen\.tx\.[A-Za-z0-9_-]{22}=v1\./)
    expect(tx).toContain('; Max-Age=600; Path=/; HttpOnly; SameSite=Lax')
    expect(tx).not.toContain('Secure')
    const cb = await signIn(f, b)
    const lines = cb.headers.getSetCookie().filter((l) => /^evergreen\.(at|rt)\./.test(l))
    expect(lines).toHaveLength(2)
    const size = lines.reduce((n, l) => n + l.split(';')[0]!.length, 0)
    // Measured with the email scope and an ES256 service: reported in the README.
    console.log(`cookie size: access ${lines[0]!.split(';')[0]!.length} B + refresh ${lines[1]!.split(';')[0]!.length} B = ${size} B`)
    expect(size).toBeLessThan(3000)
    const https = createEvergreenWeb({ ...f.options, baseUrl: 'https://dash.example.com' })
    const r = await https.handle(new Request('https://dash.example.com/auth/login'))
    expect(r.type === 'response' && r.response.headers.getSetCookie()[0]).toMatch(/^__Host-evergreen\.tx\.[^;]+; Max-Age=600; Path=\/; HttpOnly; SameSite=Lax; Secure$/)
  })

  test('two tabs logging in at once both succeed; at most three login transactions are kept', async () => {
    const f = await createWebFixture()
    const b = browserFor(f)
    const tab1 = await b.send(`${APP}/auth/login?return_to=/one`)
    const tab2 = await b.send(`${APP}/auth/login?return_to=/two`)
    expect(cookieNames(b).filter((n) => n.includes('.tx.'))).toHaveLength(2)
    // Tab 2 completes first, then tab 1 with its own state.
    const loc1 = tab1.headers.get('location')!
    const loc2 = tab2.headers.get('location')!
    const finish = (authorize: string) => completeLogin(f, b, authorize)
    const both = [await finish(loc2), await finish(loc1)]
    expect(both.map((r) => [r.status, r.headers.get('location')])).toEqual([
      [303, '/two'],
      [303, '/one'],
    ])
    for (let i = 0; i < 5; i++) await b.send(`${APP}/auth/login`)
    expect(cookieNames(b).filter((n) => n.includes('.tx.')).length).toBeLessThanOrEqual(3)
  })

  test('a public client (PKCE only, no secret) signs in and refreshes', async () => {
    const f = await createWebFixture({}, {}, 'public')
    const b = browserFor(f)
    expect((await signIn(f, b)).status).toBe(303)
    f.svc.clock.advance(1000)
    const res = await b.send(`${APP}/api/me`)
    expect(res.status).toBe(200)
    expect(res.headers.getSetCookie().some((l) => /^evergreen\.rt\.\d+=v1\./.test(l))).toBe(true)
  })

  test('a callback without its transaction cookie is a 400 page, not a session', async () => {
    const f = await createWebFixture()
    const res = await f.app(new Request(`${APP}/auth/callback?code=abc&state=nostate`))
    expect(res.status).toBe(400)
    expect(res.headers.getSetCookie().filter((l) => !/Max-Age=0/.test(l))).toEqual([])
  })
})

describe('the valid-cookie path and transparent refresh', () => {
  test('a valid access cookie is verified locally: no call to the service', async () => {
    const { f, b } = await signedIn()
    await b.send(`${APP}/api/me`)
    const calls = countCalls(f)
    for (let i = 0; i < 5; i++) expect((await b.send(`${APP}/api/me`)).status).toBe(200)
    expect([...calls]).toEqual([])
  })

  test('the browser evicted the access cookie: refresh, serve, and set both rotated cookies on that response', async () => {
    const { f, b } = await signedIn()
    const oldRt = refreshCookie(b)!
    b.jar(APP).delete(accessCookie(b)!)
    f.svc.clock.advance(5)
    const res = await b.send(`${APP}/dashboard`, { headers: nav })
    expect(res.status).toBe(200)
    const lines = res.headers.getSetCookie()
    expect(lines.some((l) => /^evergreen\.at\.\d+=ey/.test(l))).toBe(true)
    expect(lines.some((l) => /^evergreen\.rt\.\d+=v1\./.test(l))).toBe(true)
    expect(lines).toContain(`${oldRt}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax`)
    expect(refreshCookie(b)).not.toBe(oldRt)
    expect(Number(refreshCookie(b)!.split('.').at(-1))).toBeGreaterThan(Number(oldRt.split('.').at(-1)))
  })

  test('an expired access token is refreshed; the next request uses the new pair without a refresh', async () => {
    const { f, b } = await signedIn()
    f.svc.clock.advance(901)
    const calls = countCalls(f)
    expect((await b.send(`${APP}/api/me`, { headers: api })).status).toBe(200)
    expect(calls.get('/oauth/token')).toBe(1)
    expect((await b.send(`${APP}/api/me`, { headers: api })).status).toBe(200)
    expect(calls.get('/oauth/token')).toBe(1)
  })

  test('twenty parallel requests with the same expired cookie share ONE refresh and get the same pair', async () => {
    const { f, b } = await signedIn()
    f.svc.clock.advance(901)
    const calls = countCalls(f)
    const cookie = b.cookieHeader()
    const responses = await Promise.all(Array.from({ length: 20 }, () => f.app(new Request(`${APP}/api/me`, { headers: { cookie, ...api } }))))
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200))
    expect(calls.get('/oauth/token')).toBe(1)
    const rts = new Set(responses.map((r) => r.headers.getSetCookie().find((l) => /^evergreen\.rt\.\d+=v1/.test(l))!.split('=')[0]))
    expect(rts.size).toBe(1)
    // A straggler with the old cookie just after the rotation: served from the short result cache.
    f.svc.clock.advance(2)
    expect((await f.app(new Request(`${APP}/api/me`, { headers: { cookie, ...api } }))).status).toBe(200)
    expect(calls.get('/oauth/token')).toBe(1)
  })

  test('two processes refreshing the same cookie at once get the identical successor (the service grace window)', async () => {
    const { f, b } = await signedIn()
    f.svc.clock.advance(1000)
    const cookie = b.cookieHeader()
    // Two app servers: separate cores, so no shared single flight; same secret, same client.
    const [one, two] = [createEvergreenWeb(f.options), createEvergreenWeb(f.options)]
    const [r1, r2] = await Promise.all([one, two].map((w) => w.require(new Request(`${APP}/api/me`, { headers: { cookie, ...api } }))))
    expect([r1!.type, r2!.type]).toEqual(['session', 'session'])
    // Past the grace window, each one's new cookies still refresh: had the two successors
    // differed, one would be a spent token and the service would revoke the session as reused.
    f.svc.clock.advance(1000)
    for (const r of [r1!, r2!]) {
      const jar = (r as { headers: Headers }).headers.getSetCookie().filter((l) => !l.includes('Max-Age=0')).map((l) => l.split(';')[0]).join('; ')
      const again = await createEvergreenWeb(f.options).require(new Request(`${APP}/api/me`, { headers: { cookie: jar, ...api } }))
      expect(again.type).toBe('session')
    }
  })

  test('a late response carrying the older pair never wins: the highest generation is used, lower ones deleted', async () => {
    const { f, b } = await signedIn()
    const old = { rt: refreshCookie(b)!, at: accessCookie(b)!, rtValue: b.jar(APP).get(refreshCookie(b)!)!, atValue: b.jar(APP).get(accessCookie(b)!)! }
    b.jar(APP).delete(old.at)
    f.svc.clock.advance(5)
    expect((await b.send(`${APP}/api/me`)).status).toBe(200)
    const newer = refreshCookie(b)!
    expect(newer).not.toBe(old.rt)
    // The older pair arrives late (a slow response that started before the rotation).
    b.jar(APP).set(old.rt, old.rtValue)
    b.jar(APP).set(old.at, old.atValue)
    const calls = countCalls(f)
    const res = await b.send(`${APP}/api/me`)
    expect(res.status).toBe(200)
    expect(res.headers.getSetCookie()).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`^${old.rt.replace(/\./g, '\\.')}=; Max-Age=0`)), expect.stringMatching(new RegExp(`^${old.at.replace(/\./g, '\\.')}=; Max-Age=0`))]))
    expect(calls.get('/oauth/token')).toBeUndefined()
    expect(cookieNames(b).filter((n) => /\.rt\./.test(n))).toEqual([newer])
  })
})

describe('error policy', () => {
  test('refusal (session revoked at the service): cookies cleared; API 401 JSON with login_url; navigation → login', async () => {
    const { f, b } = await signedIn()
    const sessions = (await (await f.svc.admin('GET', '/sessions?active=true')).json()) as { items: { id: string }[] }
    for (const s of sessions.items) await f.svc.admin('DELETE', `/sessions/${s.id}`)
    f.svc.clock.advance(901)
    const cookie = b.cookieHeader()
    const events: unknown[] = []
    const web = createEvergreenWeb({ ...f.options, onEvent: (e) => events.push(e) })
    const r = await web.require(new Request(`${APP}/api/me`, { headers: { cookie, ...api } }))
    expect(r.type).toBe('response')
    const res = (r as { response: Response }).response
    expect(res.status).toBe(401)
    expect(await res.json()).toEqual({ error: 'session_expired', login_url: '/auth/login?return_to=%2F' })
    expect(res.headers.getSetCookie().every((l) => l.includes('Max-Age=0'))).toBe(true)
    expect(res.headers.getSetCookie()).toHaveLength(2)
    expect(events).toEqual([expect.objectContaining({ type: 'refresh.failed', reason: 'refused:invalid_grant:revoked' })])
    expect(JSON.stringify(events)).not.toMatch(/egr_|ey[A-Za-z0-9_-]{20}/)
    const navRes = await f.app(new Request(`${APP}/reports?q=1`, { headers: { cookie, ...nav } }))
    expect(navRes.status).toBe(303)
    expect(navRes.headers.get('location')).toBe('/auth/login?return_to=%2Freports%3Fq%3D1')
  })

  test.each([
    ['the service unreachable', () => Promise.reject(new TypeError('fetch failed'))],
    ['a 503', () => Promise.resolve(new Response('down', { status: 503 }))],
    ['a 502 with HTML', () => Promise.resolve(new Response('<h1>Bad gateway</h1>', { status: 502, headers: { 'content-type': 'text/html' } }))],
    ['a 429', () => Promise.resolve(Response.json({ error: 'temporarily_unavailable' }, { status: 429, headers: { 'retry-after': '7' } }))],
    ['temporarily_unavailable', () => Promise.resolve(Response.json({ error: 'temporarily_unavailable' }, { status: 400 }))],
  ])('outage (%s): nothing cleared; API 503 JSON with Retry-After; navigation a self-reloading 503 page; a cooldown', async (_name, failure) => {
    const { f, b } = await signedIn()
    await b.send(`${APP}/api/me`) // warm discovery and JWKS, as a running app has
    f.svc.clock.advance(1000)
    const healthy = f.transport.fetch
    let calls = 0
    f.transport.fetch = ((input: RequestInfo | URL, init?: RequestInit) => {
      if (String(input).endsWith('/oauth/token')) {
        calls++
        return failure()
      }
      return healthy(input, init)
    }) as typeof fetch
    const cookie = b.cookieHeader()
    const res = await f.app(new Request(`${APP}/api/me`, { headers: { cookie, ...api } }))
    expect(res.status).toBe(503)
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(await res.json()).toMatchObject({ error: 'temporarily_unavailable' })
    expect(res.headers.getSetCookie()).toEqual([])
    const page = await f.app(new Request(`${APP}/dashboard`, { headers: { cookie, ...nav } }))
    expect(page.status).toBe(503)
    expect(page.headers.get('content-type')).toContain('text/html')
    const html = await page.text()
    expect(html).toMatch(/<meta http-equiv="refresh" content="\d+">/)
    expect(html).not.toContain('<script')
    expect(page.headers.getSetCookie()).toEqual([])
    expect(calls).toBe(1) // the second request fell in the cooldown
    // The service is back after the cooldown: the same cookies refresh and serve.
    f.transport.fetch = healthy
    f.svc.clock.advance(6)
    expect((await f.app(new Request(`${APP}/api/me`, { headers: { cookie, ...api } }))).status).toBe(200)
  })

  test('outage while the access token is still valid (inside the refresh window): the request is served', async () => {
    const { f, b } = await signedIn()
    await b.send(`${APP}/api/me`)
    f.svc.clock.advance(900 - 10)
    f.transport.fetch = (() => Promise.reject(new TypeError('fetch failed'))) as typeof fetch
    const res = await b.send(`${APP}/api/me`, { headers: api })
    expect(res.status).toBe(200)
  })

  test('a refresh whose access token this app cannot accept still stores the rotated refresh token (no later reuse)', async () => {
    const { f, b } = await signedIn()
    f.svc.clock.advance(1000)
    const misconfigured = createEvergreenWeb({ ...f.options, audience: 'another-api' })
    const r = await misconfigured.require(new Request(`${APP}/api/me`, { headers: { cookie: b.cookieHeader(), ...api } }))
    const res = (r as { response: Response }).response
    expect(res.status).toBe(503)
    const lines = res.headers.getSetCookie()
    expect(lines.some((l) => /^evergreen\.rt\.\d+=v1\./.test(l))).toBe(true)
    // Past the grace window the stored successor still refreshes for a correctly configured app.
    b.absorb(APP, res)
    f.svc.clock.advance(1000)
    expect((await b.send(`${APP}/api/me`, { headers: api })).status).toBe(200)
  })

  test('superseded (another request won the rotation): not a logout — API 503 Retry-After: 1, nothing cleared', async () => {
    const { f, b } = await signedIn()
    await b.send(`${APP}/api/me`)
    f.svc.clock.advance(1000)
    const healthy = f.transport.fetch
    f.transport.fetch = ((input: RequestInfo | URL, init?: RequestInit) =>
      String(input).endsWith('/oauth/token')
        ? Promise.resolve(Response.json({ error: 'invalid_grant', error_reason: 'superseded' }, { status: 400 }))
        : healthy(input, init)) as typeof fetch
    const res = await b.send(`${APP}/api/me`, { headers: api })
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe('1')
    expect(res.headers.getSetCookie()).toEqual([])
    const page = await f.app(new Request(`${APP}/dashboard`, { headers: { cookie: b.cookieHeader(), ...nav } }))
    expect(page.status).toBe(503)
  })

  test('onLoginRequired replaces the default answer, and learns why', async () => {
    const seen: unknown[] = []
    const f = await createWebFixture({
      onLoginRequired: (_req, ctx) => {
        seen.push(ctx)
        return ctx.api ? undefined : new Response('custom', { status: 401 })
      },
    })
    const page = await f.app(new Request(`${APP}/dashboard`, { headers: nav }))
    expect([page.status, await page.text()]).toEqual([401, 'custom'])
    const apiRes = await f.app(new Request(`${APP}/reports`, { headers: { accept: 'application/json, text/html;q=0.5' } }))
    expect(apiRes.status).toBe(401)
    expect(await apiRes.json()).toMatchObject({ error: 'session_expired' })
    expect(seen).toEqual([
      { reason: 'no_session', api: false, loginUrl: '/auth/login?return_to=%2Fdashboard' },
      { reason: 'no_session', api: true, loginUrl: '/auth/login?return_to=%2F' },
    ])
  })

  test.each([
    [{ 'sec-fetch-dest': 'empty' }, 401],
    [{ 'sec-fetch-mode': 'no-cors' }, 401],
    [{ accept: 'application/json' }, 401],
    [{ accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' }, 303],
    [{}, 303],
  ])('request kind %j on a page path → %i', async (headers, status) => {
    const f = await createWebFixture()
    expect((await f.app(new Request(`${APP}/reports`, { headers }))).status).toBe(status)
  })

  test('a fetch() is never answered with a redirect: Sec-Fetch-Mode cors on a page path gets 401 JSON', async () => {
    const f = await createWebFixture()
    const res = await f.app(new Request(`${APP}/reports`, { headers: { 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty', referer: `${APP}/reports?tab=2` } }))
    expect(res.status).toBe(401)
    expect(await res.json()).toEqual({ error: 'session_expired', login_url: '/auth/login?return_to=%2Freports%3Ftab%3D2' })
  })
})

describe('logout', () => {
  test('GET shows a confirm form; POST with the CSRF token revokes at the service, clears every cookie, and ends the service sign-in through end-session', async () => {
    const { f, b } = await signedIn()
    const calls = countCalls(f)
    const page = await b.send(`${APP}/auth/logout`)
    expect(page.status).toBe(200)
    const csrf = b.hidden('csrf')
    expect(csrf.length).toBeGreaterThan(20)
    const res = await b.send(`${APP}/auth/logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: APP }, body: `csrf=${encodeURIComponent(csrf)}` })
    expect(res.status).toBe(303)
    // The service advertises end_session_endpoint, so logout continues there; with a valid
    // id_token_hint it ends the service's sign-in at once and comes back to the app's home.
    const endSession = new URL(res.headers.get('location')!)
    expect(endSession.origin + endSession.pathname).toBe(`${ISSUER}/oauth/end-session`)
    expect(endSession.searchParams.get('post_logout_redirect_uri')).toBe(`${APP}/`)
    const back = await b.send(endSession)
    expect(back.status).toBe(303)
    const home = new URL(back.headers.get('location')!)
    expect(home.origin + home.pathname).toBe(`${APP}/`)
    expect(home.searchParams.get('state')).toBe(endSession.searchParams.get('state'))
    expect(calls.get('/oauth/revoke')).toBe(1)
    expect(cookieNames(b)).toEqual([])
    const sessions = (await (await f.svc.admin('GET', '/sessions?active=true')).json()) as { items: unknown[] }
    expect(sessions.items).toEqual([])
  })

  test('POST without the token, or from another origin, is refused and changes nothing', async () => {
    const { f, b } = await signedIn()
    const form = { 'content-type': 'application/x-www-form-urlencoded' }
    expect((await b.send(`${APP}/auth/logout`, { method: 'POST', headers: { ...form, origin: APP }, body: 'csrf=wrong' })).status).toBe(403)
    await b.send(`${APP}/auth/logout`)
    const csrf = b.hidden('csrf')
    expect((await b.send(`${APP}/auth/logout`, { method: 'POST', headers: { ...form, origin: 'https://evil.example' }, body: `csrf=${csrf}` })).status).toBe(403)
    expect((await b.send(`${APP}/auth/logout`, { method: 'POST', headers: { ...form, 'sec-fetch-site': 'cross-site' }, body: `csrf=${csrf}` })).status).toBe(403)
    expect((await b.send(`${APP}/api/me`)).status).toBe(200)
    void f
  })

  test('without end_session_endpoint in discovery: logout ends here and redirects to the post-logout path', async () => {
    const f = await createWebFixture({ postLogoutRedirectPath: '/bye' })
    const inner = f.transport.fetch
    f.transport.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const res = await inner(input, init)
      if (!String(input).endsWith('/.well-known/openid-configuration')) return res
      const { end_session_endpoint: _dropped, ...metadata } = (await res.json()) as Record<string, unknown>
      return Response.json(metadata)
    }) as typeof fetch
    const calls = countCalls(f)
    const b = browserFor(f)
    await signIn(f, b)
    await b.send(`${APP}/auth/logout`)
    const res = await b.send(`${APP}/auth/logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: APP }, body: `csrf=${b.hidden('csrf')}` })
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe('/bye')
    expect(calls.get('/oauth/revoke')).toBe(1)
    expect(cookieNames(b)).toEqual([])
  })

  test('with end_session_endpoint: id_token_hint, client_id, post_logout_redirect_uri and state go there', async () => {
    const f = await createWebFixture({ postLogoutRedirectPath: '/bye' })
    const b = browserFor(f)
    await signIn(f, b)
    await b.send(`${APP}/auth/logout`)
    const res = await b.send(`${APP}/auth/logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: APP }, body: `csrf=${b.hidden('csrf')}` })
    expect(res.status).toBe(303)
    const target = new URL(res.headers.get('location')!)
    expect(target.origin + target.pathname).toBe(`${ISSUER}/oauth/end-session`)
    expect(target.searchParams.get('id_token_hint')).toMatch(/^ey/)
    expect(target.searchParams.get('client_id')).toBe(f.clientId)
    expect(target.searchParams.get('post_logout_redirect_uri')).toBe(`${APP}/bye`)
    expect(target.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{22}$/)
  })
})

describe('back-channel logout and the revocation list', () => {
  test('a valid logout token for the sid ends that session at once, even with a valid access token', async () => {
    const events: { type: string }[] = []
    let signer!: Awaited<ReturnType<typeof createLogoutSigner>>
    const { f, b } = await signedIn({ onEvent: (e: { type: string }) => events.push(e) }, async (f) => void (signer = await createLogoutSigner(f)))
    const me = (await (await b.send(`${APP}/api/me`)).json()) as { sid: string; sub: string }
    const post = (token: string) =>
      f.app(new Request(`${APP}/auth/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `logout_token=${token}` }))
    const token = await signer.sign(logoutClaims(f, { sid: me.sid, sub: me.sub }))
    const ok = await post(token)
    expect(ok.status).toBe(200)
    expect(ok.headers.get('cache-control')).toBe('no-store')
    const replay = await post(token)
    expect(replay.status).toBe(400)
    expect(await replay.json()).toMatchObject({ error: 'invalid_request' })
    const apiRes = await b.send(`${APP}/api/me`, { headers: api })
    expect(apiRes.status).toBe(401)
    // The session cookies are gone; what is left is the marker that asks for the password next time.
    expect(cookieNames(b)).toEqual(['evergreen.reauth'])
    expect(events.map((e) => e.type)).toContain('backchannel_logout')
  })

  test('a logout token for the sub ends sessions that signed in before it; a later login is unaffected', async () => {
    let signer!: Awaited<ReturnType<typeof createLogoutSigner>>
    const { f, b } = await signedIn({}, async (f) => void (signer = await createLogoutSigner(f)))
    const me = (await (await b.send(`${APP}/api/me`)).json()) as { sub: string }
    const res = await f.app(new Request(`${APP}/auth/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `logout_token=${await signer.sign(logoutClaims(f, { sub: me.sub }))}` }))
    expect(res.status).toBe(200)
    expect((await b.send(`${APP}/dashboard`, { headers: nav })).status).toBe(303)
    f.svc.clock.advance(2)
    await signIn(f, b)
    expect((await b.send(`${APP}/api/me`)).status).toBe(200)
  })

  test('after a back-channel logout the next sign-in asks for the password (prompt=login); success removes the marker', async () => {
    let signer!: Awaited<ReturnType<typeof createLogoutSigner>>
    const { f, b } = await signedIn({}, async (f) => void (signer = await createLogoutSigner(f)))
    const me = (await (await b.send(`${APP}/api/me`)).json()) as { sid: string; sub: string }
    await f.app(new Request(`${APP}/auth/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `logout_token=${await signer.sign(logoutClaims(f, { sid: me.sid, sub: me.sub }))}` }))
    const denied = await b.send(`${APP}/api/me`, { headers: api })
    expect(denied.status).toBe(401)
    expect(denied.headers.getSetCookie()).toContain('evergreen.reauth=1; Max-Age=86400; Path=/; HttpOnly; SameSite=Lax')
    expect(cookieNames(b)).toEqual(['evergreen.reauth'])

    f.svc.clock.advance(30)
    const start = await b.send(`${APP}/auth/login?return_to=%2Fdashboard`)
    const authorize = new URL(start.headers.get('location')!)
    expect(authorize.searchParams.get('prompt')).toBe('login')
    // The browser is still signed in at the service, yet the service shows its form.
    const toLogin = await b.send(authorize)
    const form = await b.send(new URL(toLogin.headers.get('location')!, ISSUER))
    expect(form.status).toBe(200)
    expect(b.lastHtml).toContain('Sign in again to continue to <strong>dashboard</strong>.')
    const cb = await completeLogin(f, b, authorize.href)
    expect(cb.status).toBe(303)
    expect(cb.headers.get('location')).toBe('/dashboard')
    expect(cb.headers.getSetCookie()).toContain('evergreen.reauth=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax')
    expect(cookieNames(b)).not.toContain('evergreen.reauth')
    const again = (await (await b.send(`${APP}/api/me`)).json()) as { sid: string }
    expect(again.sid).not.toBe(me.sid)
    // The next sign-in is silent again.
    const later = await b.send(`${APP}/auth/login`)
    expect(new URL(later.headers.get('location')!).searchParams.has('prompt')).toBe(false)
  })

  test('an expired session (invalid_grant) and a fresh visitor sign in without prompt=login', async () => {
    const fresh = await createWebFixture()
    const visitor = await browserFor(fresh).send(`${APP}/auth/login`)
    expect(new URL(visitor.headers.get('location')!).searchParams.has('prompt')).toBe(false)

    const { f, b } = await signedIn()
    const sessions = (await (await f.svc.admin('GET', '/sessions?active=true')).json()) as { items: { id: string }[] }
    for (const s of sessions.items) await f.svc.admin('DELETE', `/sessions/${s.id}`)
    f.svc.clock.advance(901)
    const res = await b.send(`${APP}/api/me`, { headers: api })
    expect(res.status).toBe(401)
    expect(res.headers.getSetCookie().some((l) => l.startsWith('evergreen.reauth='))).toBe(false)
    const start = await b.send(`${APP}/auth/login`)
    expect(new URL(start.headers.get('location')!).searchParams.has('prompt')).toBe(false)
  })

  test('an authorization request stripped of prompt=login on its way is refused at the callback (auth_time too old)', async () => {
    const { f, b } = await signedIn()
    f.svc.clock.advance(30)
    b.jar(APP).set('evergreen.reauth', '1')
    const start = await b.send(`${APP}/auth/login?return_to=%2Fdashboard`)
    const authorize = new URL(start.headers.get('location')!)
    expect(authorize.searchParams.get('prompt')).toBe('login')
    authorize.searchParams.delete('prompt')
    const cb = await completeLogin(f, b, authorize.href)
    expect(cb.status).toBe(400)
    expect(await cb.text()).toContain('did not ask for your password again')
    expect(cookieNames(b)).toContain('evergreen.reauth')
  })

  test.each([
    ['no events', { events: undefined }, {}],
    ['with nonce', { nonce: 'n' }, {}],
    ['wrong aud', { aud: 'someone-else' }, {}],
    ['wrong iss', { iss: 'http://evil.test' }, {}],
    ['iat in the future', { iat: 1_800_000_000 + 3600 }, {}],
    ['too old', { iat: 1_800_000_000 - 3600, exp: undefined }, {}],
    ['neither sid nor sub', { sid: undefined, sub: undefined }, {}],
    ['wrong typ', {}, { typ: 'JWT' }],
    ['no jti', { jti: undefined }, {}],
  ])('a logout token with %s is a 400 JSON', async (_name, claims, header) => {
    const f = await createWebFixture()
    const signer = await createLogoutSigner(f)
    const all = { ...logoutClaims(f, { sid: 'sid_x', sub: 'usr_x' }), ...claims } as Record<string, unknown>
    for (const k of Object.keys(all)) if (all[k] === undefined) delete all[k]
    const res = await f.app(new Request(`${APP}/auth/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `logout_token=${await signer.sign(all, header)}` }))
    expect(res.status).toBe(400)
    expect(res.headers.get('content-type')).toContain('application/json')
  })

  test('signed by an unpublished key, or unsigned (alg none): 400', async () => {
    const f = await createWebFixture()
    const signer = await createLogoutSigner(f)
    const forged = await signer.sign(logoutClaims(f, { sid: 's' }), {}, 'unpublished')
    const none = `${btoa(JSON.stringify({ alg: 'none', typ: 'logout+jwt' })).replace(/=/g, '')}.${btoa(JSON.stringify(logoutClaims(f, { sid: 's' }))).replace(/=/g, '')}.`
    for (const token of [forged, none]) {
      const res = await f.app(new Request(`${APP}/auth/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `logout_token=${token}` }))
      expect(res.status).toBe(400)
    }
  })
})

describe('configuration', () => {
  test('every problem is listed in one typed error', () => {
    let err: unknown
    try {
      createEvergreenWeb({ issuer: 'http://auth.example.com', clientId: '', sessionSecret: 'a'.repeat(40), mountPath: 'auth', apiPaths: ['api'], scopes: ['bad scope'] })
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(WebConfigError)
    const e = err as WebConfigError
    expect(e.code).toBe('WEB_CONFIG_INVALID')
    expect(e.problems.map((p) => `${p.option}:${p.code}`)).toEqual([
      'issuer:INSECURE_URL',
      'clientId:REQUIRED',
      'sessionSecret:SECRET_WEAK',
      'mountPath:INVALID_PATH',
      'redirectPath:INVALID_PATH',
      'scopes:INVALID_VALUE',
      'apiPaths:INVALID_PATH',
    ])
  })

  test.each(['short', '0123456789abcdefghijklmnopqrstuvwxyz', 'abcdabcdabcdabcdabcdabcdabcdabcdabcd', 'x'.repeat(64)])('a weak session secret is refused: %s', (secret) => {
    expect(() => createEvergreenWeb({ issuer: 'https://auth.example.com', clientId: 'c', sessionSecret: secret })).toThrow(WebConfigError)
  })

  test('a strong secret passes', () => {
    expect(() => createEvergreenWeb({ issuer: 'https://auth.example.com', clientId: 'c', sessionSecret: strongSecret() })).not.toThrow()
  })
})

describe('return_to', () => {
  const origin = new URL('https://dash.example.com')
  test.each([
    ['/dashboard', '/dashboard'],
    ['/a/b?x=1#h', '/a/b?x=1#h'],
    ['/caf\u00e9', '/caf%C3%A9'],
  ])('%s is kept', (raw, want) => expect(safeReturnTo(raw, origin)).toBe(want))
  test.each(['//evil.example', '/\\evil.example', '/%09/evil.example', '/\t/evil.example', 'https://evil.example', '/%2F%2Fevil.example', '/%5Cevil.example', 'javascript:alert(1)', '', 'dashboard', '/\u0000', '/%E0%A4%A', `/${'a'.repeat(3000)}`])(
    '%# is refused',
    (raw) => expect(safeReturnTo(raw, origin)).toBeUndefined(),
  )
})

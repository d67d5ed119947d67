import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { CookieBrowser } from '../support/cookie-browser.js'
import { startDashboard, type DashboardProcess } from '../support/dashboard-process.js'
import { admin, startServerProcess, type ServerProcess } from '../support/server-process.js'

// examples/dashboard as a real child process (`node server.js`, the env contract only) against a
// real `evergreen serve` child: register the client through the admin API, sign in over HTTP
// through the real pages, call /api/me, then lose the access cookie and get it back by a
// transparent refresh.

let server: ServerProcess
let dashboard: DashboardProcess
let dashUrl = ''
let clientId = ''
const output = () => dashboard.output()
const user = { email: `dash-${Math.random().toString(36).slice(2, 8)}@example.test`, password: `pw-${Math.random().toString(36).slice(2)}-Correct-Horse` }

beforeAll(async () => {
  server = await startServerProcess()
  await admin(server, 'POST', '/users', { ...user, name: 'Dash User' })
  dashboard = await startDashboard(server)
  dashUrl = dashboard.url
  clientId = dashboard.clientId
})

afterAll(async () => {
  await dashboard?.stop()
  await server?.stop()
})

/** The CookieBrowser's jar; it keeps it private, and this test needs to drop one cookie. */
const jarOf = (b: CookieBrowser) => (b as unknown as { cookies: Map<string, string> }).cookies

describe('examples/dashboard', () => {
  test('public home; protected routes refuse without a session', async () => {
    const home = await fetch(`${dashUrl}/`)
    expect(home.status).toBe(200)
    expect(await home.text()).toContain('href="/auth/login?return_to=%2Fdashboard"')
    expect(home.headers.get('content-security-policy')).toContain("script-src 'self'")
    const me = await fetch(`${dashUrl}/api/me`)
    expect(me.status).toBe(401)
    expect(await me.json()).toEqual({ error: 'session_expired', login_url: '/auth/login?return_to=%2F' })
    const js = await fetch(`${dashUrl}/static/dashboard.js`)
    expect(js.status).toBe(200)
    expect(js.headers.get('content-type')).toContain('javascript')
    // Browsers fetch /favicon.ico on every origin; a 404 there is a console error on each page.
    expect((await fetch(`${dashUrl}/favicon.ico`)).status).toBe(204)
  })

  test('sign in over HTTP, /api/me, then a transparent refresh after losing the access cookie, then sign out', async () => {
    const dash = new CookieBrowser(dashUrl)
    const idp = new CookieBrowser(server.url)
    const start = await dash.get('/auth/login?return_to=/dashboard')
    expect(start.status).toBe(303)
    const authorize = new URL(start.headers.get('location')!)
    expect(authorize.origin + authorize.pathname).toBe(`${server.url}/authorize`)
    expect(authorize.searchParams.get('client_id')).toBe(clientId)
    expect(authorize.searchParams.get('redirect_uri')).toBe(`${dashUrl}/auth/callback`)
    const toLogin = await idp.get(authorize)
    expect(toLogin.status).toBe(303)
    const signedIn = await idp.signIn(toLogin, user.email, user.password)
    expect(signedIn.status, idp.lastHtml).toBe(303)
    const toApp = await idp.get(idp.locationOf(signedIn))
    expect(toApp.status).toBe(303)
    const callback = new URL(toApp.headers.get('location')!)
    expect(callback.origin + callback.pathname).toBe(`${dashUrl}/auth/callback`)
    const landed = await dash.get(callback)
    expect(landed.status).toBe(303)
    expect(landed.headers.get('location')).toBe('/dashboard')
    const names = [...jarOf(dash).keys()]
    expect(names.filter((n) => /^evergreen\.(at|rt)\.\d+$/.test(n))).toHaveLength(2)

    const page = await dash.get('/dashboard')
    expect(page.status).toBe(200)
    expect(dash.lastHtml).toContain(user.email)
    expect(dash.lastHtml).toContain('<script src="/static/dashboard.js"></script>')
    expect(dash.hiddenField('csrf').length).toBeGreaterThan(20)

    const me = await dash.get('/api/me')
    expect(me.status).toBe(200)
    const body = (await me.json()) as { sub: string; email: string; access_token_expires_at: number; session_expires_at: number }
    expect(body).toMatchObject({ email: user.email })
    expect(body.session_expires_at).toBeGreaterThan(body.access_token_expires_at - 1)

    // The browser evicted the access cookie: the next request refreshes and carries both new cookies.
    const accessName = names.find((n) => n.includes('.at.'))!
    const refreshName = names.find((n) => n.includes('.rt.'))!
    jarOf(dash).delete(accessName)
    const again = await dash.get('/api/me')
    expect(again.status).toBe(200)
    const lines = again.headers.getSetCookie()
    expect(lines.some((l) => /^evergreen\.at\.\d+=ey/.test(l))).toBe(true)
    expect(lines.some((l) => /^evergreen\.rt\.\d+=v1\./.test(l))).toBe(true)
    expect(lines.some((l) => l.startsWith(`${refreshName}=;`))).toBe(true)
    expect(output()).toContain('"type":"refresh.succeeded"')
    expect(output()).not.toMatch(/egr_|"ey[A-Za-z0-9_-]{20}/)

    // Sign out with the dashboard's form (CSRF token from the page).
    await dash.get('/dashboard')
    const out = await dash.post('/auth/logout', {})
    expect(out.status).toBe(303)
    expect([...jarOf(dash).keys()].filter((n) => n.startsWith('evergreen.'))).toEqual([])
    expect((await dash.get('/api/me')).status).toBe(401)
  })
})

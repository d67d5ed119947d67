import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { PageClient } from '../test-support/browser-client.js'
import { createTestService, json, type TestService } from '../test-support/harness.js'

// Regression: "Revoke all other sessions" left other browser sign-ins alive. They were not
// listed, could not be ended by the user or the admin, and a hijacked one kept minting new
// 90-day CLI credentials after the victim pressed "revoke all".

const PASSWORD = 'correct horse battery'
let svc: TestService
let userId: string

beforeEach(async () => {
  svc = await createTestService()
  userId = (await json<{ id: string }>(await svc.admin('POST', '/users', { email: 'ada@example.com', password: PASSWORD }), 201)).id
})
afterEach(async () => {
  await svc?.close()
})

async function signedIn(agent: string): Promise<PageClient> {
  const browser = new PageClient({ fetch: (path, init) => svc.fetch(path, { ...init, headers: { ...Object.fromEntries(new Headers(init?.headers)), 'user-agent': agent } }) })
  expect((await browser.login('ada@example.com', PASSWORD)).status).toBe(303)
  return browser
}

const mintCli = async (browser: PageClient, extra: Record<string, string> = {}) => {
  await browser.get('/settings/cli')
  return browser.post('/settings/cli', { name: 'laptop', lifetime: '7776000', ...extra })
}

describe('browser sign-ins on /settings/sessions', () => {
  test('are listed, this browser marked; "revoke all others" ends the hijacked one, which can no longer mint', async () => {
    const attacker = await signedIn('Thief/1.0')
    // The attacker has the mint form open, with a valid CSRF token for the stolen sign-in.
    await attacker.get('/settings/cli')
    const victim = await signedIn('Victim/2.0')
    const listing = await victim.get('/settings/sessions')
    const text = await listing.text()
    expect(text).toMatch(/Victim\/2\.0<\/span> <strong>\(this browser\)<\/strong>/)
    expect(text).toContain('Thief/1.0')
    expect(text.match(/data-login-session-id=/g)).toHaveLength(2)

    expect((await victim.post('/settings/sessions/revoke-all', {})).status).toBe(303)
    // The hijacked sign-in is gone: it is sent to /login and mints nothing.
    const refused = await attacker.post('/settings/cli', { name: 'backdoor', lifetime: '7776000' })
    expect(refused.headers.get('location')).toMatch(/^\/login/)
    expect(attacker.lastHtml).not.toContain('egc1_')
    expect((await attacker.get('/settings/cli')).headers.get('location')).toMatch(/^\/login/)
    // The victim's own browser stays signed in.
    expect((await victim.get('/settings/sessions')).status).toBe(200)
    const audit = await json<{ items: { data: { scope: string } }[] }>(await svc.admin('GET', '/audit?type=login_session.revoked'))
    expect(audit.items.map((e) => e.data.scope)).toEqual(['all_others'])
  })

  test('the user can end one other sign-in', async () => {
    const other = await signedIn('Other/1.0')
    const me = await signedIn('Me/1.0')
    await me.get('/settings/sessions')
    const id = /<tr data-login-session-id="([^"]+)">\s*<td><span title="Other\/1.0"/.exec(me.lastHtml)![1]!
    expect((await me.post('/settings/sessions/end-sign-in', { login_session_id: id })).headers.get('location')).toBe('/settings/sessions?revoked=sign_in')
    expect((await other.get('/settings/sessions')).headers.get('location')).toMatch(/^\/login/)
    expect((await me.get('/settings/sessions')).status).toBe(200)
    expect((await me.post('/settings/sessions/end-sign-in', { login_session_id: id })).status).toBe(404)
    const audit = await json<{ items: { user_id: string; data: Record<string, unknown> }[] }>(await svc.admin('GET', '/audit?type=login_session.revoked'))
    expect(audit.items).toMatchObject([{ user_id: userId, data: { reason: 'revoked_by_user', scope: 'one', login_session_id: id } }])
  })
})

describe('the admin API', () => {
  test('lists sign-ins per user, revokes one, revokes all; disabling the user ends them', async () => {
    const one = await signedIn('One/1.0')
    const two = await signedIn('Two/1.0')
    const three = await signedIn('Three/1.0')
    const list = await json<{ items: { id: string; user_agent: string; ip: string | null; created_at: number }[] }>(await svc.admin('GET', `/users/${userId}/login-sessions`))
    expect(list.items.map((l) => l.user_agent).sort()).toEqual(['One/1.0', 'Three/1.0', 'Two/1.0'])
    expect(JSON.stringify(list)).not.toMatch(/hash/)

    const target = list.items.find((l) => l.user_agent === 'One/1.0')!
    expect(await json(await svc.admin('DELETE', `/users/${userId}/login-sessions/${target.id}`))).toEqual({ revoked: 1 })
    expect((await one.get('/settings/sessions')).status).toBe(303)
    expect((await svc.admin('DELETE', `/users/${userId}/login-sessions/${target.id}`)).status).toBe(404)

    expect(await json(await svc.admin('DELETE', `/users/${userId}/login-sessions`))).toEqual({ revoked: 2 })
    expect((await two.get('/settings/sessions')).status).toBe(303)
    expect((await three.get('/settings/sessions')).status).toBe(303)
    // The same event as /settings/sessions writes (sessions/revoke-sign-in.ts).
    const audit = await json<{ items: { user_id: string; data: { scope: string } }[] }>(await svc.admin('GET', '/audit?type=login_session.revoked'))
    expect(audit.items.map((e) => e.data).sort((a, b) => a.scope.localeCompare(b.scope))).toEqual([
      { reason: 'revoked_by_admin', scope: 'all' },
      { reason: 'revoked_by_admin', scope: 'one', login_session_id: target.id },
    ])

    const four = await signedIn('Four/1.0')
    await json(await svc.admin('POST', `/users/${userId}/disable`))
    expect((await four.get('/settings/sessions')).status).toBe(303)
    expect(await svc.deps.store.listLoginSessions(userId, svc.clock.now())).toEqual([])
  })
})

describe('minting a CLI credential from an older sign-in', () => {
  test('asks for the password again after 5 minutes; a wrong one is counted and audited', async () => {
    const browser = await signedIn('Me/1.0')
    expect((await mintCli(browser)).status).toBe(200)

    svc.clock.advance(300)
    const asked = await mintCli(browser)
    expect(asked.status).toBe(401)
    expect(browser.lastHtml).toContain('name="password"')
    expect(browser.lastHtml).not.toContain('egc1_')

    const wrong = await browser.post('/settings/cli', { name: 'laptop', lifetime: '7776000', password: 'not it' })
    expect(wrong.status).toBe(401)
    expect(browser.lastHtml).not.toContain('egc1_')
    const failed = await json<{ items: { data: { reason: string; reauth?: boolean } }[] }>(await svc.admin('GET', '/audit?type=login.failed'))
    expect(failed.items.map((e) => e.data)).toEqual([{ reason: 'bad_credentials', reauth: true }])

    const ok = await browser.post('/settings/cli', { name: 'laptop', lifetime: '7776000', password: PASSWORD })
    expect(ok.status).toBe(200)
    expect(browser.lastHtml).toContain('egc1_')
    expect((await json<{ items: unknown[] }>(await svc.admin('GET', '/audit?type=login.reauthenticated'))).items).toHaveLength(1)
  })

  test('re-authentication shares the login limits', async () => {
    svc = await (async () => {
      await svc.close()
      return createTestService({ env: { EVERGREEN_RATE_LIMIT_LOGIN: '2' } })
    })()
    await json(await svc.admin('POST', '/users', { email: 'ada@example.com', password: PASSWORD }), 201)
    const browser = await signedIn('Me/1.0')
    svc.clock.advance(301)
    await browser.get('/settings/cli')
    for (let i = 0; i < 2; i++) expect((await browser.post('/settings/cli', { name: 'x', lifetime: '86400', password: 'wrong' })).status).toBe(401)
    expect((await browser.post('/settings/cli', { name: 'x', lifetime: '86400', password: PASSWORD })).status).toBe(429)
    // The same budget guards /login.
    const elsewhere = new PageClient(svc)
    expect((await elsewhere.login('ada@example.com', PASSWORD)).status).toBe(429)
  })
})

import { createHash, randomBytes } from 'node:crypto'
import { decodeCredential } from '@evergreen/core'
import { decodeJwt } from 'jose'
import type { Browser, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { startCallbackServer, type CallbackServer } from '../support/callback-server.js'
import { CHROMIUM_PATH, chromiumInstalled, launchChromium, openGuardedPage, type GuardedPage } from '../support/chromium.js'
import { createCodeClient, createTestUser, startInProcessServer, type InProcessServer, type TestUser } from '../support/in-process-server.js'
import { postForm } from '../support/server-process.js'

// The server-rendered pages in a real Chromium, driven the way a person would: by label and by
// role, with clicks and typing. Finding every field by its label and every button by its name
// also proves the pages are usable with a screen reader. Any page error, console error (CSP
// violations included) or unexpected error status fails the test; every step leaves a full-page
// screenshot in test-artifacts/screenshots/.

const available = chromiumInstalled()
const inCI = process.env.CI === 'true'
const CLI_CLIENT_ID = 'evergreen-cli'
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'

if (!available) {
  if (inCI) {
    test('Chromium is installed for the browser tests', () => {
      throw new Error(`${CHROMIUM_PATH} is missing: CI must run the browser tests (apt-get install chromium)`)
    })
  } else {
    console.warn(`\n⚠ ${CHROMIUM_PATH} is missing: the browser tests in test/browser/ are SKIPPED (with CI=true they fail).\n`)
  }
}

describe.skipIf(!available)('server-rendered pages in Chromium', { timeout: 90_000 }, () => {
  let server: InProcessServer
  let browser: Browser
  let guarded: GuardedPage | undefined
  const callbacks: CallbackServer[] = []

  beforeAll(async () => {
    server = await startInProcessServer()
    browser = await launchChromium()
  })

  afterAll(async () => {
    await browser?.close()
    await Promise.all(callbacks.map((c) => c.stop()))
    await server?.stop()
  })

  afterEach(async () => {
    // Closing throws when the page saw an error, which fails the test that just ran.
    const g = guarded
    guarded = undefined
    await g?.close()
  })

  async function open(testName: string): Promise<GuardedPage> {
    guarded = await openGuardedPage(browser, testName, { permissionsOrigin: server.url })
    return guarded
  }

  async function callbackServer(): Promise<CallbackServer> {
    const cb = await startCallbackServer()
    callbacks.push(cb)
    return cb
  }

  const h1 = (page: Page, name: string) => page.getByRole('heading', { level: 1, name, exact: true })

  /** Fills the /login form by its labels and presses the "Sign in" button. */
  async function signIn(page: Page, user: TestUser): Promise<void> {
    await h1(page, 'Sign in').waitFor()
    // Double-submit CSRF: without this cookie the form's token is useless and the POST is a 403.
    const cookies = await page.context().cookies(server.url)
    expect(cookies.some((c) => c.name.startsWith('evergreen_csrf_')), 'the sign-in page must set a pre-login evergreen_csrf_<id> cookie').toBe(true)
    await page.getByLabel('Email').fill(user.email)
    await page.getByLabel('Password').fill(user.password)
    await page.getByRole('button', { name: 'Sign in' }).click()
  }

  const tokenRequest = (params: Record<string, string>) => postForm(server.url, '/oauth/token', params)

  function pkce() {
    const verifier = randomBytes(32).toString('base64url')
    return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') }
  }

  function authorizeUrl(clientId: string, redirectUri: string, challenge: string, state: string, nonce: string): string {
    const url = new URL('/authorize', server.url)
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: redirectUri,
      scope: 'openid email',
      state,
      nonce,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    }).toString()
    return url.href
  }

  test('authorization code + PKCE: sign in, return to the client, exchange the code and refresh', async ({ task }) => {
    const { page, snap } = await open(task.name)
    const user = await createTestUser(server, 'pkce')
    const callback = await callbackServer()
    const clientId = await createCodeClient(server, { name: 'Dashboard', redirectUri: callback.redirectUri, firstParty: true })
    const { verifier, challenge } = pkce()
    const state = randomBytes(16).toString('base64url')
    const nonce = randomBytes(16).toString('base64url')

    await page.goto(authorizeUrl(clientId, callback.redirectUri, challenge, state, nonce))
    // Not signed in yet: /authorize sends the browser to /login, which comes back afterwards.
    expect(new URL(page.url()).pathname).toBe('/login')
    await h1(page, 'Sign in').waitFor()
    await snap('login')
    await signIn(page, user)

    // First-party client: no consent page, straight back to the redirect URI.
    const query = await callback.next()
    await page.waitForURL((u) => u.href.startsWith(callback.redirectUri))
    await h1(page, 'Test client').waitFor()
    await snap('callback')
    expect(query.get('state')).toBe(state)
    expect(query.get('iss')).toBe(server.url)
    expect(query.get('error')).toBeNull()
    const code = query.get('code')
    expect(code).toMatch(/^egac_/)

    const exchanged = await tokenRequest({
      grant_type: 'authorization_code',
      client_id: clientId,
      code: code!,
      redirect_uri: callback.redirectUri,
      code_verifier: verifier,
    })
    expect(exchanged.status, exchanged.text).toBe(200)
    const tokens = exchanged.body as { access_token: string; refresh_token: string; id_token: string }
    expect(decodeJwt(tokens.id_token)).toMatchObject({ iss: server.url, aud: clientId, sub: user.id, nonce, email: user.email })
    expect(decodeJwt(tokens.access_token)).toMatchObject({ iss: server.url, sub: user.id, client_id: clientId })

    const refreshed = await tokenRequest({ grant_type: 'refresh_token', client_id: clientId, refresh_token: tokens.refresh_token })
    expect(refreshed.status, refreshed.text).toBe(200)
    expect(refreshed.body.refresh_token).toMatch(/^egr_/)
    expect(refreshed.body.refresh_token).not.toBe(tokens.refresh_token)
    expect(decodeJwt(refreshed.body.access_token as string).sid).toBe(decodeJwt(tokens.access_token).sid)
  })

  test('third-party client: the consent page, Deny returns access_denied, Allow returns a code', async ({ task }) => {
    const { page, snap } = await open(task.name)
    const user = await createTestUser(server, 'consent')
    const callback = await callbackServer()
    const clientId = await createCodeClient(server, { name: 'Photo Printer', redirectUri: callback.redirectUri, firstParty: false })
    const { challenge } = pkce()
    const url = authorizeUrl(clientId, callback.redirectUri, challenge, 'st-1', 'n-1')

    await page.goto(url)
    await signIn(page, user)
    await h1(page, 'Allow Photo Printer?').waitFor()
    expect(await page.getByRole('listitem').allTextContents()).toEqual(['openid', 'email'])
    await snap('consent')
    await page.getByRole('button', { name: 'Deny' }).click()
    const denied = await callback.next()
    expect(Object.fromEntries(denied)).toMatchObject({ error: 'access_denied', state: 'st-1', iss: server.url })
    expect(denied.get('code')).toBeNull()
    await h1(page, 'Test client').waitFor()
    await snap('denied')

    // Still signed in: the consent page comes straight back.
    await page.goto(url)
    await h1(page, 'Allow Photo Printer?').waitFor()
    await page.getByRole('button', { name: 'Allow' }).click()
    const allowed = await callback.next()
    expect(allowed.get('code')).toMatch(/^egac_/)
    expect(allowed.get('state')).toBe('st-1')
    await h1(page, 'Test client').waitFor()
  })

  async function startDeviceFlow() {
    const res = await postForm(server.url, '/oauth/device_authorization', { client_id: CLI_CLIENT_ID })
    expect(res.status, res.text).toBe(200)
    return res.body as { device_code: string; user_code: string; verification_uri: string; verification_uri_complete: string; interval: number }
  }

  const pollDevice = (deviceCode: string) => tokenRequest({ grant_type: DEVICE_GRANT, client_id: CLI_CLIENT_ID, device_code: deviceCode })

  /** Opens verification_uri_complete, signs in, checks the prefilled code and presses Continue. */
  async function reachDeviceConfirmation(g: GuardedPage, user: TestUser, started: Awaited<ReturnType<typeof startDeviceFlow>>) {
    const { page, snap } = g
    expect(started.verification_uri).toBe(`${server.url}/device`)
    await page.goto(started.verification_uri_complete)
    expect(new URL(page.url()).pathname).toBe('/login')
    await snap('login')
    await signIn(page, user)
    await page.waitForURL((u) => u.pathname === '/device')
    await h1(page, 'Connect a device').waitFor()
    expect(await page.getByLabel('Code').inputValue()).toBe(started.user_code)
    await snap('code-prefilled')
    await page.getByRole('button', { name: 'Continue' }).click()
    await h1(page, 'Approve Evergreen CLI?').waitFor()
    await expect(page.getByText(started.user_code, { exact: true }).count()).resolves.toBe(1)
    await snap('confirm')
  }

  test('device flow: pending before approval, tokens after Approve', async ({ task }) => {
    const g = await open(task.name)
    const user = await createTestUser(server, 'device')
    const started = await startDeviceFlow()
    // RFC 8628 §3.5: until the person decides, the device is told to keep waiting.
    const pending = await pollDevice(started.device_code)
    expect(pending.status).toBe(400)
    expect(pending.body).toMatchObject({ error: 'authorization_pending' })

    await reachDeviceConfirmation(g, user, started)
    await g.page.getByRole('button', { name: 'Approve' }).click()
    await h1(g.page, 'Device connected').waitFor()
    await g.snap('connected')

    // The device polls once more. This is sooner than `interval` after the first poll (there is
    // no test clock against a real server); the server answers an approved code at any pace.
    const approved = await pollDevice(started.device_code)
    expect(approved.status, approved.text).toBe(200)
    expect(approved.body.refresh_token).toMatch(/^egr_/)
    expect(decodeJwt(approved.body.access_token as string)).toMatchObject({ sub: user.id, client_id: CLI_CLIENT_ID })
    const again = await pollDevice(started.device_code)
    expect(again.body).toMatchObject({ error: 'invalid_grant' })
  })

  test('device flow: Deny gives the polling device access_denied', async ({ task }) => {
    const g = await open(task.name)
    const user = await createTestUser(server, 'deny')
    const started = await startDeviceFlow()
    expect((await pollDevice(started.device_code)).body).toMatchObject({ error: 'authorization_pending' })

    await reachDeviceConfirmation(g, user, started)
    await g.page.getByRole('button', { name: 'Deny' }).click()
    await h1(g.page, 'Request denied').waitFor()
    await g.snap('denied')

    const denied = await pollDevice(started.device_code)
    expect(denied.status).toBe(400)
    expect(denied.body).toMatchObject({ error: 'access_denied' })
  })

  test('CLI credential: mint on /settings/cli, use it, revoke its row on /settings/sessions', async ({ task }) => {
    const { page, snap } = await open(task.name)
    const user = await createTestUser(server, 'cli')
    await page.goto(`${server.url}/settings/cli`)
    await signIn(page, user)
    await h1(page, 'CLI credential').waitFor()
    await page.getByLabel('Name').fill('laptop')
    await page.getByLabel('Lifetime without use').selectOption({ label: '30 days' })
    await snap('form')
    await page.getByRole('button', { name: 'Create credential' }).click()
    await h1(page, 'Your CLI credential').waitFor()
    await snap('minted')

    const command = (await page.locator('pre#login-command').textContent())?.trim() ?? ''
    expect(command).toMatch(/^evergreen login --token egc1_[A-Za-z0-9_-]+$/)
    // The Copy button is progressive enhancement: present once copy.js ran, and it really copies.
    await page.getByRole('button', { name: 'Copy command' }).click()
    await page.getByText('Copied to the clipboard.').waitFor()
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(command)

    const parsed = decodeCredential(command.slice('evergreen login --token '.length))
    if (!parsed.ok) throw new Error(`the credential on the page did not decode: ${parsed.error}`)
    expect(parsed.value.iss).toBe(server.url)
    expect(parsed.value.client_id).toBe(CLI_CLIENT_ID)
    const used = await tokenRequest({ grant_type: 'refresh_token', client_id: parsed.value.client_id, refresh_token: parsed.value.refresh_token })
    expect(used.status, used.text).toBe(200)
    // The chosen lifetime carries through rotation.
    expect(used.body.refresh_token_expires_in).toBe(2_592_000)
    const sessionId = decodeJwt(used.body.access_token as string).sid as string
    expect(sessionId).toBeTruthy()

    await page.getByRole('navigation', { name: 'Account' }).getByRole('link', { name: 'Sessions' }).click()
    await h1(page, 'Your sessions').waitFor()
    const row = page.locator(`tr[data-session-id="${sessionId}"]`)
    await expect(row.textContent()).resolves.toMatch(/Evergreen CLI\s*laptop.*CLI credential/s)
    await snap('sessions')
    await row.getByRole('button', { name: /^Revoke Evergreen CLI session/ }).click()
    await page.getByRole('status').filter({ hasText: 'The session was revoked.' }).waitFor()
    expect(await page.locator(`tr[data-session-id="${sessionId}"]`).count()).toBe(0)
    await snap('revoked')

    const after = await tokenRequest({ grant_type: 'refresh_token', client_id: parsed.value.client_id, refresh_token: used.body.refresh_token as string })
    expect(after.status).toBe(400)
    expect(after.body).toMatchObject({ error: 'invalid_grant', error_reason: 'revoked' })
  })

  test('keyboard only: Tab reaches email, password, then Sign in; a failed sign-in is announced', async ({ task }) => {
    const g = await open(task.name)
    const { page, snap } = g
    const user = await createTestUser(server, 'keys')
    const csrfCookieSet = async () => (await page.context().cookies(server.url)).some((c) => c.name.startsWith('evergreen_csrf_'))
    const active = () =>
      page.evaluate(() => {
        const el = document.activeElement
        return el ? { tag: el.tagName.toLowerCase(), id: el.id, text: (el.textContent ?? '').trim(), outline: getComputedStyle(el).outlineStyle } : null
      })

    await page.goto(`${server.url}/login`)
    await h1(page, 'Sign in').waitFor()
    // autofocus puts the caret in the email field straight away; Tab then walks the form in
    // reading order, and no hidden field or decoration takes a stop in between.
    expect((await active())?.id).toBe('email')
    const order: string[] = []
    for (let i = 0; i < 2; i++) {
      await page.keyboard.press('Tab')
      const el = await active()
      order.push(el?.id || `${el?.tag}:${el?.text}`)
    }
    expect(order).toEqual(['password', 'button:Sign in'])
    // The focused button shows a visible focus ring (:focus-visible) for keyboard users.
    expect((await active())?.outline).toBe('solid')
    await snap('button-focused')
    // Shift+Tab walks back the same way.
    await page.keyboard.press('Shift+Tab')
    expect((await active())?.id).toBe('password')
    await page.keyboard.press('Shift+Tab')
    expect((await active())?.id).toBe('email')

    expect(await csrfCookieSet(), 'the sign-in page must set a pre-login evergreen_csrf_<id> cookie').toBe(true)
    // Sign in with the keyboard alone: a wrong password first, which must be announced.
    await page.keyboard.type(user.email)
    await page.keyboard.press('Tab')
    await page.keyboard.type('not-the-password')
    g.expectDocumentStatus(401, '/login')
    await page.keyboard.press('Enter')
    await page.getByRole('alert').filter({ hasText: 'That email and password do not match an account.' }).waitFor()
    // The email is kept and the caret waits in the password field.
    expect(await page.getByLabel('Email').inputValue()).toBe(user.email)
    expect((await active())?.id).toBe('password')
    await snap('error')
    await page.keyboard.type(user.password)
    await page.keyboard.press('Enter')
    await h1(page, 'Your sessions').waitFor()
    await snap('signed-in')
  })

  test('two tabs opening /login at once in a fresh browser can both sign in', async ({ task }) => {
    const { page, context, snap } = await open(task.name)
    const user = await createTestUser(server, 'tabs')
    const second = await context.newPage()
    // Hold both GET /login responses until both requests have been answered, so neither tab's
    // request carried the other's cookie: the race a restored session of tabs produces.
    let answered = 0
    let release!: () => void
    const bothAnswered = new Promise<void>((resolve) => (release = resolve))
    const isLogin = (url: URL) => url.pathname === '/login'
    await context.route(isLogin, async (route) => {
      if (route.request().method() !== 'GET') return route.continue()
      const response = await route.fetch()
      if (++answered === 2) release()
      await bothAnswered
      await route.fulfill({ response })
    })
    await Promise.all([page.goto(`${server.url}/login`), second.goto(`${server.url}/login`)])
    await context.unroute(isLogin)
    for (const tab of [page, second]) {
      await tab.getByLabel('Email').fill(user.email)
      await tab.getByLabel('Password').fill(user.password)
      await tab.getByRole('button', { name: 'Sign in' }).click()
      await tab.getByRole('heading', { level: 1, name: 'Your sessions', exact: true }).waitFor()
    }
    await snap('both-tabs-signed-in')
  })

  test('signing out on /logout ends the browser session', async ({ task }) => {
    const { page, snap } = await open(task.name)
    const user = await createTestUser(server, 'logout')
    await page.goto(`${server.url}/logout`)
    await h1(page, 'Sign out').waitFor()
    await page.goto(`${server.url}/settings/sessions`)
    await signIn(page, user)
    await h1(page, 'Your sessions').waitFor()
    await page.goto(`${server.url}/logout`)
    await h1(page, 'Sign out').waitFor()
    await snap('confirm')
    await page.getByRole('main').getByRole('button', { name: 'Sign out of Evergreen' }).click()
    await h1(page, 'Sign in').waitFor()
    await page.goto(`${server.url}/settings/sessions`)
    expect(new URL(page.url()).pathname).toBe('/login')
    await h1(page, 'Sign in').waitFor()
  })
})

import { statSync } from 'node:fs'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { spawnCli, killSpawnedCli } from '../test-support/cli-child.js'
import { killAllChildren, runCli } from '../test-support/cli-process.js'
import { claimsOf, configDir, removeTmpDirs, startSessionServer, type SessionServer } from '../test-support/session-server.js'

// `evergreen login` as a person and a script use it: real CLI children against a real
// `evergreen serve` child, the approval done over HTTP the way a browser would.

let server: SessionServer
let userId: string
const EMAIL = 'ada@example.com'
const USER_CODE = /Enter\s+([A-Z]{4}-[A-Z]{4})/

beforeAll(async () => {
  server = await startSessionServer()
  userId = await server.createUser(EMAIL)
})
afterEach(async () => {
  await killSpawnedCli()
})
afterAll(async () => {
  await killAllChildren()
  removeTmpDirs()
})

describe('device flow', () => {
  test('shows the code and link on stderr, waits, and stores a renewing session once approved in the browser', async () => {
    const config = configDir()
    const login = spawnCli(['login', '--no-browser', '--issuer', server.issuer, '--refresh-token-ttl', '30d', '--json'], { env: config.env })
    const [, userCode] = await login.waitForStderr(USER_CODE)
    await login.waitForStderr(/Waiting for approval in the browser \(the code expires in 10 minutes; Ctrl-C to cancel\)/)
    expect(login.stderr()).toContain(`Open     ${server.issuer}/device`)
    expect(login.stderr()).toContain(`Or open ${server.issuer}/device?user_code=${userCode}`)
    expect(login.stderr()).not.toContain('Opened the link in your browser')
    expect(login.stdout()).toBe('')

    expect(await server.decideDevice(userCode!, EMAIL)).toContain('Device connected')
    expect(await login.exited()).toEqual({ code: 0, signal: null })
    // The email comes from userinfo (the access token names the user by id only).
    expect(login.stderr()).toContain(`Logged in to ${server.issuer} as ${EMAIL} (${userId}). It renews itself while in use, and ends after 30 days without use.`)
    const printed = JSON.parse(login.stdout()) as Record<string, unknown>
    expect(printed).toMatchObject({
      method: 'device',
      issuer: server.issuer,
      profile: 'default',
      client_id: 'evergreen-cli',
      account: { sub: userId },
      renewable: true,
      scope: 'openid email',
    })
    expect(printed.refresh_token_expires_in).toBeGreaterThan(2_592_000 - 30)
    // --json describes the session; it never carries a token.
    expect(login.stdout()).not.toMatch(/eyJ|egr_/)

    const [file] = config.files()
    expect(statSync(file!).mode & 0o777).toBe(0o600)
    const stored = config.read()
    expect(stored.refresh_token).toMatch(/^egr_/)

    const token = await runCli(['token'], { env: config.env })
    expect(token).toMatchObject({ code: 0, stderr: '' })
    expect(token.stdout.trim()).toBe(stored.access_token)
    const sid = claimsOf(stored.access_token).sid as string
    expect(await server.session(sid)).toMatchObject({ active: true, user_id: userId, client_id: 'evergreen-cli' })

    const who = await runCli(['whoami', '--json'], { env: config.env })
    expect(who.code).toBe(0)
    expect(JSON.parse(who.stdout)).toEqual({
      sub: userId,
      email: EMAIL,
      issuer: server.issuer,
      client_id: 'evergreen-cli',
      profile: 'default',
      claims_from: 'userinfo',
      session: 'store',
    })
  })

  test('denied in the browser: exit 1 with a message, nothing stored', async () => {
    const config = configDir()
    const login = spawnCli(['login', '--no-browser', '--issuer', server.issuer], { env: config.env })
    const [, userCode] = await login.waitForStderr(USER_CODE)
    expect(await server.decideDevice(userCode!, EMAIL, 'deny')).toContain('denied')
    expect(await login.exited()).toEqual({ code: 1, signal: null })
    expect(login.stderr()).toContain('error: the login was denied in the browser; nothing was stored')
    expect(config.files()).toEqual([])
  })

  test('Ctrl-C while waiting: exit 130 at once, nothing stored', async () => {
    const config = configDir()
    const login = spawnCli(['login', '--no-browser', '--issuer', server.issuer], { env: config.env })
    await login.waitForStderr(/Waiting for approval/)
    const started = performance.now()
    login.child.kill('SIGINT')
    expect(await login.exited()).toEqual({ code: 130, signal: null })
    expect(performance.now() - started).toBeLessThan(3_000)
    expect(login.stderr()).toContain('error: login cancelled; nothing was stored')
    expect(config.files()).toEqual([])
  })

  test('no issuer anywhere and no terminal to ask on: exit 1 saying how to name one', async () => {
    const r = await runCli(['login', '--no-browser'], { env: configDir().env })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('pass --issuer <url> or set EVERGREEN_ISSUER')
  })

  test('EVERGREEN_ISSUER stands in for --issuer, and the flag wins over it', async () => {
    const config = configDir()
    const viaEnv = spawnCli(['login', '--no-browser'], { env: { ...config.env, EVERGREEN_ISSUER: server.issuer } })
    await viaEnv.waitForStderr(new RegExp(`To log in to ${server.issuer}:`))
    viaEnv.child.kill('SIGINT')
    expect((await viaEnv.exited()).code).toBe(130)
    const flagWins = spawnCli(['login', '--no-browser', '--issuer', server.issuer], { env: { ...config.env, EVERGREEN_ISSUER: 'http://127.0.0.1:9' } })
    await flagWins.waitForStderr(new RegExp(`To log in to ${server.issuer}:`))
    flagWins.child.kill('SIGINT')
    expect((await flagWins.exited()).code).toBe(130)
  })
})

describe('--token and --with-token', () => {
  test('a minted credential: logged in, and the pasted copy is spent at once', async () => {
    const config = configDir()
    const minted = await server.mint(EMAIL, { scope: 'openid email', refresh_token_ttl: 7_776_000 })
    const r = await runCli(['login', '--token', minted.credential], { env: config.env })
    expect(r.code).toBe(0)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain(`Logged in to ${server.issuer} as ${userId}. It renews itself while in use, and ends after 90 days without use.`)
    const stored = config.read()
    expect(stored).toMatchObject({ issuer: server.issuer, client_id: 'evergreen-cli' })
    // The login refreshed: the store holds the successor, not the refresh token in the credential.
    expect(stored.refresh_token).not.toBe(minted.refresh_token)
    expect(claimsOf(stored.access_token).sid).toBe(minted.session_id)
  })

  test('--with-token reads the credential from stdin; --json describes the session', async () => {
    const config = configDir()
    const minted = await server.mint(EMAIL)
    const r = await runCli(['login', '--with-token', '--json'], { env: config.env, input: `${minted.credential}\n` })
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ method: 'credential', issuer: server.issuer, renewable: true, account: { sub: userId } })
  })

  test('a raw access JWT: stored access-only, with a warning of when it dies and where to get a renewable credential', async () => {
    const config = configDir()
    const minted = await server.mint(EMAIL)
    const r = await runCli(['login', '--token', minted.access_token, '--json'], { env: config.env })
    expect(r.code).toBe(0)
    const exp = new Date((claimsOf(minted.access_token).exp as number) * 1000).toISOString()
    expect(r.stderr).toContain(`warning: This is an access token, not a login credential: it cannot be renewed and stops working at ${exp}`)
    expect(r.stderr).toContain(`mint a CLI credential at ${server.issuer}/settings/cli`)
    expect(JSON.parse(r.stdout)).toMatchObject({ method: 'access_token', renewable: false, warning: expect.stringContaining('/settings/cli') })
    expect(config.read().refresh_token).toBeUndefined()
    expect((await runCli(['token'], { env: config.env })).stdout.trim()).toBe(minted.access_token)
  })

  test('garbage, a damaged credential, or both flags: exit 1 and nothing stored', async () => {
    const config = configDir()
    const minted = await server.mint(EMAIL)
    for (const args of [['--token', 'hello'], ['--token', minted.credential.slice(0, -4)], ['--token', minted.credential, '--with-token']]) {
      const r = await runCli(['login', ...args], { env: config.env })
      expect(r.code, args.join(' ')).toBe(1)
      expect(r.stderr).toMatch(/^error: /m)
      expect(r.stderr).not.toContain(minted.credential.slice(10, 40))
    }
    expect(config.files()).toEqual([])
  })

  test('a credential for one issuer with EVERGREEN_ISSUER naming another: refused before anything is sent', async () => {
    const config = configDir()
    const minted = await server.mint(EMAIL)
    const r = await runCli(['login', '--token', minted.credential], { env: { ...config.env, EVERGREEN_ISSUER: 'http://127.0.0.1:9' } })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`the credential belongs to ${server.issuer}`)
    expect(config.files()).toEqual([])
  })
})

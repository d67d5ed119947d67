import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { killAllChildren, runCli } from '../test-support/cli-process.js'
import { claimsOf, configDir, removeTmpDirs, startSessionServer, type ConfigDir, type SessionServer } from '../test-support/session-server.js'

// token, refresh, logout and whoami over the life of one session: real CLI children against a
// real `evergreen serve` child, each step checked against the admin API.

let server: SessionServer
let userId: string
const EMAIL = 'grace@example.com'

beforeAll(async () => {
  server = await startSessionServer()
  userId = await server.createUser(EMAIL)
})
afterAll(async () => {
  await killAllChildren()
  removeTmpDirs()
})

async function loggedIn(extra: Record<string, unknown> = {}): Promise<{ config: ConfigDir; sessionId: string }> {
  const config = configDir()
  const minted = await server.mint(EMAIL, { scope: 'openid email', ...extra })
  const r = await runCli(['login', '--token', minted.credential], { env: config.env })
  expect(r.code, r.stderr).toBe(0)
  return { config, sessionId: minted.session_id }
}

describe('token', () => {
  test('nothing stored: exit 4, nothing on stdout, and the remedy', async () => {
    const r = await runCli(['token'], { env: configDir().env })
    expect(r).toMatchObject({ code: 4, stdout: '' })
    expect(r.stderr).toBe('error: not logged in\nrun `evergreen login --issuer <url>` to log in\n')
  })

  test('a run of renewals — forced by `refresh`, and due because the stored access token expired — rotates the refresh token every time; the session stays active', async () => {
    const { config, sessionId } = await loggedIn()
    const seenRefresh = new Set([config.read().refresh_token])
    const seenAccess = new Set([config.read().access_token])
    for (let i = 0; i < 3; i++) {
      const forced = await runCli(['refresh'], { env: config.env })
      expect(forced.code, forced.stderr).toBe(0)
      expect(forced.stdout).toBe('')
      expect(forced.stderr).toMatch(/^Renewed the session of .+: new access token valid until \S+Z; the session now ends after \S+Z if unused\.\n$/)
      const afterForced = config.read()
      expect(seenRefresh.has(afterForced.refresh_token)).toBe(false)
      seenRefresh.add(afterForced.refresh_token)

      // A token used up on this machine's clock: `token` must renew before printing.
      config.expireAccessToken()
      const due = await runCli(['token'], { env: config.env })
      expect(due).toMatchObject({ code: 0, stderr: '' })
      const printed = due.stdout.trim()
      const afterDue = config.read()
      expect(printed).toBe(afterDue.access_token)
      expect(seenAccess.has(printed)).toBe(false)
      seenAccess.add(printed)
      expect(seenRefresh.has(afterDue.refresh_token)).toBe(false)
      seenRefresh.add(afterDue.refresh_token)
      expect(claimsOf(printed)).toMatchObject({ sid: sessionId, sub: userId, iss: server.issuer })
    }
    expect(seenRefresh.size).toBe(7)
    expect(await server.session(sessionId)).toMatchObject({ active: true, revoked_at: null })

    // Not due: the same token again, no network, nothing rewritten.
    const before = readFileSync(config.files()[0]!, 'utf8')
    const again = await runCli(['token'], { env: config.env })
    expect(again.stdout.trim()).toBe(config.read().access_token)
    expect(readFileSync(config.files()[0]!, 'utf8')).toBe(before)
  })

  test('--json: the token with its expiry and where it came from', async () => {
    const { config } = await loggedIn()
    const r = await runCli(['token', '--json'], { env: config.env })
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout) as Record<string, unknown>
    expect(out).toEqual({
      access_token: config.read().access_token,
      token_type: 'Bearer',
      expires_at: new Date(config.read().access_token_expires_at).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      issuer: server.issuer,
      source: 'store',
    })
  })

  test('EVERGREEN_TOKEN overrides the store, as it is', async () => {
    const { config } = await loggedIn()
    const r = await runCli(['token'], { env: { ...config.env, EVERGREEN_TOKEN: 'ci-token-value' } })
    expect(r).toMatchObject({ code: 0, stdout: 'ci-token-value\n', stderr: '' })
  })

  test('the token service down when a renewal is due: exit 1 with the provider\'s message, the store untouched', async () => {
    const own = await startSessionServer()
    await own.createUser(EMAIL)
    const config = configDir()
    const minted = await own.mint(EMAIL)
    expect((await runCli(['login', '--token', minted.credential], { env: config.env })).code).toBe(0)
    config.expireAccessToken()
    const before = readFileSync(config.files()[0]!, 'utf8')
    await own.serve.stop()

    const r = await runCli(['token'], { env: config.env })
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain(`token service unreachable at ${own.issuer}: could not connect`)
    expect(r.stderr).toContain('nothing stored was changed')
    expect(readFileSync(config.files()[0]!, 'utf8')).toBe(before)
    const refresh = await runCli(['refresh'], { env: config.env })
    expect(refresh.code).toBe(1)
    expect(readFileSync(config.files()[0]!, 'utf8')).toBe(before)
  })

  test('a session revoked at the server: the next renewal is exit 4, and the dead session is removed', async () => {
    const { config, sessionId } = await loggedIn()
    await server.admin('DELETE', `/sessions/${sessionId}`)
    config.expireAccessToken()
    const r = await runCli(['token'], { env: config.env })
    expect(r.code).toBe(4)
    // The session is gone from the store, but the remedy still names its issuer.
    expect(r.stderr).toBe(`error: the session was revoked\nrun \`evergreen login --issuer ${server.issuer}\` to log in again\n`)
    expect(config.files()).toEqual([])
  })
})

describe('logout', () => {
  test('revokes the session at the token service, then deletes it here', async () => {
    const { config, sessionId } = await loggedIn()
    const r = await runCli(['logout', '--json'], { env: config.env })
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({ issuer: server.issuer, profile: 'default', was_logged_in: true, revocation: 'revoked' })
    expect(r.stderr).toContain(`Logged out of ${server.issuer}: the token service ended the session`)
    expect(await server.session(sessionId)).toMatchObject({ active: false, revoked_at: expect.any(Number) })
    expect(config.files()).toEqual([])
    expect((await runCli(['token'], { env: config.env })).code).toBe(4)
    // Again: nothing to do, not an error.
    const again = await runCli(['logout'], { env: config.env })
    expect(again.code).toBe(0)
    expect(again.stderr).toContain('Not logged in; nothing to do.')
  })

  test('offline: deletes the local copy with a warning that the session lives on at the server', async () => {
    const own = await startSessionServer()
    await own.createUser(EMAIL)
    const config = configDir()
    expect((await runCli(['login', '--token', (await own.mint(EMAIL)).credential], { env: config.env })).code).toBe(0)
    await own.serve.stop()
    const r = await runCli(['logout'], { env: config.env })
    expect(r.code).toBe(0)
    expect(r.stderr).toContain(`Removed the session from this machine, but could not revoke it at ${own.issuer}`)
    expect(r.stderr).toContain(`warning: the session stays valid at the token service until it expires unused; end it now at ${own.issuer}/settings/sessions`)
    expect(config.files()).toEqual([])
  })
})

describe('whoami', () => {
  test('a session without the openid scope: the token\'s own claims, with a note saying so', async () => {
    const config = configDir()
    expect((await runCli(['login', '--token', (await server.mint(EMAIL)).credential], { env: config.env })).code).toBe(0)
    const r = await runCli(['whoami'], { env: config.env })
    expect(r.code).toBe(0)
    expect(r.stderr).toBe("note: showing the access token's own claims (the session lacks the openid scope that userinfo needs)\n")
    expect(r.stdout).toBe(`sub:     ${userId}\nissuer:  ${server.issuer}\nclient:  evergreen-cli\nprofile: default\nsession: stored login\n`)
  })

  test('revoked at the server: userinfo refuses, exit 4', async () => {
    const { config, sessionId } = await loggedIn()
    await server.admin('DELETE', `/sessions/${sessionId}`)
    const r = await runCli(['whoami'], { env: config.env })
    expect(r.code).toBe(4)
    expect(r.stderr).toContain(`run \`evergreen login --issuer ${server.issuer}\` to log in again`)
  })
})

describe('which session: flag, then environment, then the store', () => {
  test('two issuers under one profile: a note at login, then --issuer or EVERGREEN_ISSUER chooses, the flag winning', async () => {
    const other = await startSessionServer()
    await other.createUser(EMAIL)
    const config = configDir()
    expect((await runCli(['login', '--token', (await server.mint(EMAIL)).credential], { env: config.env })).code).toBe(0)
    const second = await runCli(['login', '--token', (await other.mint(EMAIL)).credential], { env: config.env })
    expect(second.code).toBe(0)
    expect(second.stderr).toContain(`note: this profile also has a login to ${server.issuer}; other commands need --issuer or EVERGREEN_ISSUER to choose`)

    const ambiguous = await runCli(['token'], { env: config.env })
    expect(ambiguous.code).toBe(1)
    expect(ambiguous.stderr).toContain('choose one with --issuer or EVERGREEN_ISSUER')
    const iss = async (args: string[], env: Record<string, string> = {}) => {
      const r = await runCli(['token', ...args], { env: { ...config.env, ...env } })
      expect(r.code, r.stderr).toBe(0)
      return claimsOf(r.stdout.trim()).iss
    }
    expect(await iss(['--issuer', other.issuer])).toBe(other.issuer)
    expect(await iss([], { EVERGREEN_ISSUER: server.issuer })).toBe(server.issuer)
    expect(await iss(['--issuer', other.issuer], { EVERGREEN_ISSUER: server.issuer })).toBe(other.issuer)
    await other.serve.stop()
  })

  test('profiles keep logins apart: --profile, then EVERGREEN_PROFILE', async () => {
    const config = configDir()
    const work = await server.mint(EMAIL)
    expect((await runCli(['login', '--profile', 'work', '--token', work.credential], { env: config.env })).code).toBe(0)
    const none = await runCli(['token'], { env: config.env })
    expect(none.code).toBe(4)
    const viaFlag = await runCli(['token', '--profile', 'work'], { env: config.env })
    expect(claimsOf(viaFlag.stdout.trim()).sid).toBe(work.session_id)
    const viaEnv = await runCli(['token'], { env: { ...config.env, EVERGREEN_PROFILE: 'work' } })
    expect(claimsOf(viaEnv.stdout.trim()).sid).toBe(work.session_id)
    const flagWins = await runCli(['token', '--profile', 'default'], { env: { ...config.env, EVERGREEN_PROFILE: 'work' } })
    expect(flagWins.code).toBe(4)
    expect(flagWins.stderr).toContain('not logged in')
  })
})

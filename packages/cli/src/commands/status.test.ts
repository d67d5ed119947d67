import { chmodSync, readFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { killAllChildren, runCli } from '../test-support/cli-process.js'
import { configDir, removeTmpDirs, startSessionServer, type ConfigDir, type SessionServer } from '../test-support/session-server.js'

// `evergreen status` as a doctor: real CLI children against a real `evergreen serve` child.

let server: SessionServer
let userId: string
const EMAIL = 'katherine@example.com'

beforeAll(async () => {
  server = await startSessionServer()
  userId = await server.createUser(EMAIL)
})
afterAll(async () => {
  await killAllChildren()
  removeTmpDirs()
})

async function loggedIn(on: SessionServer = server): Promise<{ config: ConfigDir; sessionId: string }> {
  const config = configDir()
  const minted = await on.mint(EMAIL, { refresh_token_ttl: 2_592_000 })
  const r = await runCli(['login', '--token', minted.credential], { env: config.env })
  expect(r.code, r.stderr).toBe(0)
  return { config, sessionId: minted.session_id }
}

interface Check {
  name: string
  status: 'ok' | 'warn' | 'fail'
  message: string
  remedy?: string
}

const check = (json: { checks: Check[] }, name: string) => json.checks.find((c) => c.name === name)

test('--json of a healthy login: store, permissions, issuer, account, expiries, and a live refresh that rotated the token', async () => {
  const { config } = await loggedIn()
  const before = config.read()
  const r = await runCli(['status', '--json'], { env: config.env })
  expect(r.code, r.stderr).toBe(0)
  expect(r.stderr).toBe('')
  const out = JSON.parse(r.stdout) as Record<string, unknown> & { checks: Check[] }
  const file = config.files()[0]!
  expect(out).toMatchObject({
    ok: true,
    profile: 'default',
    source: 'store',
    store: { backend: 'file', location: dirname(file), reason: 'EVERGREEN_STORE=file', file, file_mode: '0600', dir_mode: '0700' },
    issuer: server.issuer,
    issuer_reachable: true,
    client_id: 'evergreen-cli',
    account: { sub: userId },
    renewable: true,
    refresh_check: 'ok',
    env_token: false,
    env_token_shadows_store: false,
  })
  expect(out.access_token_expires_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
  expect(out.access_token_expires_in).toBeGreaterThan(850)
  expect(out.refresh_token_expires_in).toBeGreaterThan(2_592_000 - 30)
  expect(out.checks.map((c) => [c.name, c.status])).toEqual([
    ['store', 'ok'],
    ['permissions', 'ok'],
    ['issuer', 'ok'],
    ['account', 'ok'],
    ['access token', 'ok'],
    ['refresh token', 'ok'],
    ['key binding', 'ok'],
    ['live refresh', 'ok'],
  ])
  expect(config.read().refresh_token).not.toBe(before.refresh_token)
  expect(r.stdout).not.toContain(config.read().access_token)
})

test('human output, and --no-refresh-check leaves the session untouched', async () => {
  const { config } = await loggedIn()
  const before = readFileSync(config.files()[0]!, 'utf8')
  const r = await runCli(['status', '--no-refresh-check'], { env: config.env })
  expect(r.code).toBe(0)
  expect(r.stdout).toMatch(/^evergreen status \(profile default\)\n/)
  expect(r.stdout).toMatch(/✓ issuer\s+http:\/\/127\.0\.0\.1:\d+ is reachable/)
  expect(r.stdout).toMatch(/✓ access token\s+expires in 15 minutes/)
  expect(r.stdout).toMatch(/✓ refresh token\s+expires in 30 days .* unless used; each renewal extends it/)
  expect(r.stdout).toMatch(/✓ live refresh\s+skipped \(--no-refresh-check\)/)
  expect(readFileSync(config.files()[0]!, 'utf8')).toBe(before)
})

test('not logged in: exit 4 with the remedy', async () => {
  const config = configDir()
  const r = await runCli(['status'], { env: config.env })
  expect(r.code).toBe(4)
  expect(r.stdout).toMatch(/✗ session\s+not logged in\n\s+→ run `evergreen login --issuer <url>`/)
  expect(r.stderr).toBe('error: not logged in\nrun `evergreen login --issuer <url>`\n')
  const json = await runCli(['status', '--json', '--issuer', server.issuer], { env: config.env })
  expect(json.code).toBe(4)
  expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, source: 'none', issuer: server.issuer, issuer_reachable: true })
})

test('EVERGREEN_TOKEN set over a stored login: a warning that it shadows the login, exit 0', async () => {
  const { config } = await loggedIn()
  const r = await runCli(['status', '--json', '--no-refresh-check'], { env: { ...config.env, EVERGREEN_TOKEN: 'ci-token' } })
  expect(r.code).toBe(0)
  const out = JSON.parse(r.stdout) as { checks: Check[] }
  expect(out).toMatchObject({ ok: true, source: 'env', env_token: true, env_token_shadows_store: true })
  expect(check(out, 'EVERGREEN_TOKEN')).toMatchObject({
    status: 'warn',
    message: `is set and shadows the stored login for ${server.issuer}: commands use the variable, not the login`,
    remedy: 'unset EVERGREEN_TOKEN to use the stored login',
  })
})

test('a session file others can read: exit 1 and the chmod that fixes it', async () => {
  const { config } = await loggedIn()
  const file = config.files()[0]!
  chmodSync(file, 0o644)
  const r = await runCli(['status', '--no-refresh-check'], { env: config.env })
  expect(r.code).toBe(1)
  expect(r.stdout).toContain(`✗ permissions`)
  expect(r.stderr).toBe(`error: ${file}: the file is 0644; other users may read the session\nrun \`chmod 600 ${file}\`\n`)
})

test('revoked at the server: the live refresh fails, exit 4, and the remedy names the issuer', async () => {
  const { config, sessionId } = await loggedIn()
  await server.admin('DELETE', `/sessions/${sessionId}`)
  const r = await runCli(['status'], { env: config.env })
  expect(r.code).toBe(4)
  expect(r.stdout).toMatch(/✗ live refresh\s+the session was revoked\n\s+→ run `evergreen login --issuer http:\/\/127\.0\.0\.1:\d+` to log in again/)
  expect(config.files()).toEqual([])
})

test('the issuer unreachable: exit 1, the refresh check skipped, the store untouched', async () => {
  const own = await startSessionServer()
  await own.createUser(EMAIL)
  const { config } = await loggedIn(own)
  const before = readFileSync(config.files()[0]!, 'utf8')
  await own.serve.stop()
  const r = await runCli(['status', '--json'], { env: config.env })
  expect(r.code).toBe(1)
  const out = JSON.parse(r.stdout) as { checks: Check[] }
  expect(out).toMatchObject({ ok: false, issuer_reachable: false, refresh_check: 'skipped' })
  expect(check(out, 'issuer')).toMatchObject({ status: 'fail', remedy: 'check your network, and --issuer / EVERGREEN_ISSUER' })
  expect(r.stderr).toContain(`error: ${own.issuer} cannot be reached`)
  expect(readFileSync(config.files()[0]!, 'utf8')).toBe(before)
})

test('an access-only login (a pasted JWT): a warning with the way to a renewable credential, exit 0', async () => {
  const config = configDir()
  const minted = await server.mint(EMAIL)
  expect((await runCli(['login', '--token', minted.access_token], { env: config.env })).code).toBe(0)
  const r = await runCli(['status', '--json'], { env: config.env })
  expect(r.code).toBe(0)
  const out = JSON.parse(r.stdout) as { checks: Check[] }
  expect(out).toMatchObject({ ok: true, renewable: false, refresh_check: 'skipped' })
  expect(check(out, 'refresh token')).toMatchObject({ status: 'warn', remedy: expect.stringContaining(`${server.issuer}/settings/cli`) })
})

import { execFileSync, fork, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { formatRefreshToken } from '@evergreen/core'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startServer, type RunningServer } from '../../../server/src/node/serve.js'
import { loadSettings } from '../../../server/src/settings.js'
import { createSessionClient } from '../client.js'
import type { DebugEvent } from '../debug.js'
import type { StoredSession } from '../session.js'
import type { SessionKey } from '../store/types.js'
import { createFileStore } from './file-store.js'
import { keyFileName } from './key-file-name.js'
import { createFileLock } from './lock.js'

// Issue 4 (seeds 000 and 002): parallel CLI invocations are separate OS processes sharing one
// store. These tests run real processes against the real token service over real sockets.

const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url))
const CHILD = fileURLToPath(new URL('./test-support/session-child.js', import.meta.url))
const ADMIN_KEY = 'ega_client-cross-process-admin-key-0123456789'

let server: RunningServer
let issuer: string
let clientId: string
let userId: string

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const address = s.address()
      const port = typeof address === 'object' && address ? address.port : 0
      s.close(() => resolve(port))
    })
  })
}

async function admin<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${issuer}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`${method} ${path} → ${res.status}: ${text}`)
  return JSON.parse(text) as T
}

interface Minted {
  access_token: string
  refresh_token: string
  expires_in: number
  refresh_token_expires_in: number
  session_id: string
}

async function refreshOutcomes(): Promise<Record<string, number>> {
  // Metrics are served on the service's separate, token-free listener (EVERGREEN_METRICS_PORT).
  const text = await (await fetch(`${server.metricsUrl}/metrics`)).text()
  const out: Record<string, number> = {}
  for (const m of text.matchAll(/^evergreen_refresh_total\{outcome="([^"]+)"\} (\d+)$/gm)) out[m[1]!] = Number(m[2])
  return out
}

/** A config dir holding one session whose access token has (locally) expired. */
async function expiredSessionDir(minted: Minted): Promise<{ dir: string; key: SessionKey; file: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'evergreen-xp-'))
  const key = { issuer, profile: 'default' }
  const now = Date.now()
  const session: StoredSession = {
    version: 1,
    issuer,
    client_id: clientId,
    access_token: minted.access_token,
    access_token_expires_at: now - 1_000,
    refresh_token: minted.refresh_token,
    refresh_token_expires_at: now + minted.refresh_token_expires_in * 1000,
    token_type: 'Bearer',
    obtained_at: now - minted.expires_in * 1000 - 1_000,
  }
  await createFileStore({ dir }).write(key, session)
  return { dir, key, file: join(dir, 'sessions', `${keyFileName(key)}.json`) }
}

function spawnChild(mode: string, dir: string, extraEnv: Record<string, string> = {}): { child: ChildProcess; stderr: () => string } {
  const child = fork(CHILD, [], {
    cwd: REPO_ROOT,
    execArgv: [],
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', EG_MODE: mode, EG_ISSUER: issuer, EVERGREEN_CONFIG_DIR: dir, ...extraEnv },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  })
  let err = ''
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d))
  return { child, stderr: () => err }
}

type ChildResult = { ok: true; token: string; events: DebugEvent[] } | { ok: false; name: string; code: string; message: string; events: DebugEvent[] }

/** Starts n `get` children, releases them together once all are ready, collects their results. */
async function getTokensInParallel(n: number, dir: string): Promise<ChildResult[]> {
  const children = Array.from({ length: n }, () => spawnChild('get', dir))
  const ready = children.map(({ child, stderr }) => messageOf(child, 'ready', stderr))
  const results = children.map(({ child, stderr }) => messageOf<ChildResult>(child, 'result', stderr))
  await Promise.all(ready)
  for (const { child } of children) child.send('go')
  return Promise.all(results)
}

function messageOf<T = unknown>(child: ChildProcess, type: string, stderr: () => string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: { type?: string }) => {
      if (m?.type === type) {
        child.off('exit', onExit)
        child.off('message', onMessage)
        resolve(m as T)
      }
    }
    const onExit = (code: number | null, signal: string | null) => reject(new Error(`child exited (${code ?? signal}) before "${type}":\n${stderr()}`))
    child.on('message', onMessage)
    child.once('exit', onExit)
  })
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode })
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
}

beforeAll(async () => {
  // The children import the SDK from dist/: build it (and core) first.
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  execFileSync(process.execPath, [tsc, '-b', 'packages/client'], { cwd: REPO_ROOT, stdio: 'pipe' })

  const port = await freePort()
  const settings = loadSettings(
    {},
    {
      EVERGREEN_HOST: '127.0.0.1',
      EVERGREEN_PORT: String(port),
      EVERGREEN_ISSUER: `http://127.0.0.1:${port}`,
      EVERGREEN_DATA_DIR: mkdtempSync(join(tmpdir(), 'evergreen-xp-server-')),
      EVERGREEN_ADMIN_KEY: ADMIN_KEY,
      EVERGREEN_RATE_LIMIT_TOKEN: '0',
      EVERGREEN_METRICS_PORT: '0',
      EVERGREEN_LOG_LEVEL: 'silent',
    },
  )
  server = await startServer(settings)
  issuer = server.url
  userId = (await admin<{ id: string }>('POST', '/users', { email: `xp-${Math.random().toString(36).slice(2)}@example.test` })).id
  clientId = (
    await admin<{ client_id: string }>('POST', '/clients', { name: 'cli', grant_types: ['refresh_token'], token_endpoint_auth_method: 'none' })
  ).client_id
}, 120_000)

afterAll(async () => {
  await server?.stop()
})

const mint = () => admin<Minted>('POST', '/tokens', { user: userId, client_id: clientId })

describe('cross-process refresh (issue 4)', () => {
  test('20 processes with an expired access token: exactly one refresh reaches the server, all get a valid token', async () => {
    const minted = await mint()
    const { dir, key } = await expiredSessionDir(minted)
    const before = await refreshOutcomes()

    const results = await getTokensInParallel(20, dir)

    const failures = results.filter((r) => !r.ok)
    expect(failures).toEqual([])
    const tokens = new Set(results.map((r) => (r.ok ? r.token : '')))
    expect(tokens.size).toBe(1)
    const [token] = [...tokens]
    expect(token).not.toBe(minted.access_token)

    // Exactly one refresh grant, and it was a real rotation, not a grace-window replay.
    const after = await refreshOutcomes()
    expect((after.rotated ?? 0) - (before.rotated ?? 0)).toBe(1)
    expect((after.grace_replay ?? 0) - (before.grace_replay ?? 0)).toBe(0)
    expect(Object.keys(after).filter((k) => k !== 'rotated' && k !== 'grace_replay')).toEqual([])
    const started = results.flatMap((r) => r.events.filter((e) => e.type === 'refresh_started'))
    expect(started).toEqual([{ type: 'refresh_started', reason: 'access_expiring' }])
    expect(results.flatMap((r) => r.events).filter((e) => e.type === 'refresh_skipped')).toHaveLength(19)

    // The store is one valid JSON session holding the successor; the session is still active.
    const stored = await createFileStore({ dir }).read(key)
    expect(stored).toMatchObject({ access_token: token, issuer, client_id: clientId })
    expect(stored!.refresh_token).not.toBe(minted.refresh_token)
    expect(readdirSync(join(dir, 'sessions'))).toHaveLength(1)
    expect((await admin<{ active: boolean }>('GET', `/sessions/${minted.session_id}`)).active).toBe(true)

    // The token the children got is a valid access token of this issuer.
    const { payload } = await jwtVerify(token!, createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`)), { issuer })
    expect(payload).toMatchObject({ sub: userId, sid: minted.session_id })
    rmSync(dir, { recursive: true, force: true })
  }, 90_000)

  test('a process killed with SIGKILL while holding the lock: the stale lock is broken and the others succeed', async () => {
    const minted = await mint()
    const { dir, key } = await expiredSessionDir(minted)
    const before = await refreshOutcomes()

    const holder = spawnChild('hold-lock', dir)
    await messageOf(holder.child, 'locked', holder.stderr)
    holder.child.kill('SIGKILL')
    expect((await exitOf(holder.child)).signal).toBe('SIGKILL')
    expect(readdirSync(join(dir, 'locks'))).toEqual([`${keyFileName(key)}.lock`])

    const startedAt = performance.now()
    const results = await getTokensInParallel(19, dir)
    const waited = performance.now() - startedAt

    expect(results.filter((r) => !r.ok)).toEqual([])
    expect(new Set(results.map((r) => (r.ok ? r.token : ''))).size).toBe(1)
    const after = await refreshOutcomes()
    expect((after.rotated ?? 0) - (before.rotated ?? 0)).toBe(1)
    expect((after.grace_replay ?? 0) - (before.grace_replay ?? 0)).toBe(0)
    expect((await admin<{ active: boolean }>('GET', `/sessions/${minted.session_id}`)).active).toBe(true)
    // Bounded by the 10 s stale threshold, not the 30 s lock timeout.
    expect(waited).toBeLessThan(25_000)
    expect(readdirSync(join(dir, 'locks'))).toEqual([])
    rmSync(dir, { recursive: true, force: true })
  }, 90_000)

  test('a crash between writing the temp file and the rename leaves the previous session intact and readable', async () => {
    const minted = await mint()
    const { dir, key, file } = await expiredSessionDir(minted)
    const bytesBefore = readFileSync(file)
    const previous = await createFileStore({ dir }).read(key)

    const replacement = { ...previous!, access_token: 'replacement', obtained_at: 1 }
    const writer = spawnChild('crash-write', dir, { EG_SESSION: JSON.stringify(replacement) })
    const exit = await exitOf(writer.child)
    expect(exit.signal).toBe('SIGKILL')

    expect(readFileSync(file).equals(bytesBefore)).toBe(true)
    expect(await createFileStore({ dir }).read(key)).toEqual(previous)
    // The dead writer's temp file is there (fsynced, complete) but never under the real name…
    const leftovers = readdirSync(join(dir, 'sessions')).filter((n) => n.endsWith('.tmp'))
    expect(leftovers).toHaveLength(1)
    // …and the next write cleans it up.
    await createFileStore({ dir }).write(key, { ...previous!, obtained_at: 2 })
    expect(readdirSync(join(dir, 'sessions'))).toEqual([`${keyFileName(key)}.json`])
    rmSync(dir, { recursive: true, force: true })
  }, 30_000)
})

describe('refusals and outages against the real server', () => {
  function clientFor(dir: string, events: DebugEvent[] = [], issuerUrl = issuer) {
    return createSessionClient({ issuer: issuerUrl, store: createFileStore({ dir }), lock: createFileLock({ dir }), env: {}, debug: (e) => events.push(e) })
  }

  test('a revoked session: AuthError revoked, and the stored session is gone', async () => {
    const minted = await mint()
    const { dir, file } = await expiredSessionDir(minted)
    await admin('DELETE', `/sessions/${minted.session_id}`)
    await expect(clientFor(dir).getValidToken()).rejects.toMatchObject({ name: 'AuthError', reason: 'revoked', code: 'AUTH_REVOKED' })
    expect(() => readFileSync(file)).toThrow(/ENOENT/)
  })

  test('an unknown refresh token (invalid_grant not_found): AuthError session_expired, and the stored session is gone', async () => {
    const minted = await mint()
    const { dir, key, file } = await expiredSessionDir({ ...minted, refresh_token: formatRefreshToken(crypto.getRandomValues(new Uint8Array(32))) })
    const events: DebugEvent[] = []
    await expect(clientFor(dir, events).getValidToken()).rejects.toMatchObject({ reason: 'session_expired', code: 'AUTH_SESSION_EXPIRED', serverReason: 'not_found' })
    expect(await createFileStore({ dir }).read(key)).toBeUndefined()
    expect(() => readFileSync(file)).toThrow(/ENOENT/)
    expect(events).toContainEqual({ type: 'session_deleted', why: 'invalid_grant:not_found' })
  })

  test('token service down (closed port): ProviderError, and the store is byte-identical', async () => {
    const minted = await mint()
    const closed = `http://127.0.0.1:${await freePort()}`
    const dir = mkdtempSync(join(tmpdir(), 'evergreen-xp-'))
    const key = { issuer: closed, profile: 'default' }
    const now = Date.now()
    await createFileStore({ dir }).write(key, {
      version: 1,
      issuer: closed,
      client_id: clientId,
      access_token: minted.access_token,
      access_token_expires_at: now - 1_000,
      refresh_token: minted.refresh_token,
      token_type: 'Bearer',
      obtained_at: now - 901_000,
    })
    const file = join(dir, 'sessions', `${keyFileName(key)}.json`)
    const bytes = readFileSync(file)
    await expect(clientFor(dir, [], closed).getValidToken()).rejects.toMatchObject({ name: 'ProviderError', code: 'PROVIDER_UNAVAILABLE' })
    expect(readFileSync(file).equals(bytes)).toBe(true)
    expect(readdirSync(join(dir, 'locks'))).toEqual([])
  })
})

describe('a DPoP-bound session across processes and rotations (RFC 9449)', () => {
  const EMAIL = `dpop-${Math.random().toString(36).slice(2)}@example.test`
  const PASSWORD = 'correct horse battery staple'

  /** A device login with DPoP, approved by a person in the pages, stored in a fresh file store. */
  async function boundLogin(): Promise<{ dir: string; key: SessionKey; file: string; session: StoredSession; sid: string }> {
    const { PageClient } = await import('../../../server/src/test-support/browser-client.js')
    const { startDeviceLogin } = await import('../device-login.js')
    const { loginWithTokenResponse } = await import('../token-response-login.js')
    let approved = false
    const login = await startDeviceLogin({
      issuer,
      clientId: 'evergreen-cli',
      scope: 'openid',
      dpop: true,
      // Approves in the pages instead of waiting out the interval: the poll that follows succeeds.
      sleep: async () => {
        if (approved) return
        approved = true
        const browser = PageClient.overHttp(issuer)
        await browser.login(EMAIL, PASSWORD)
        await browser.get(`/device?user_code=${encodeURIComponent(login.user_code)}`)
        await browser.post('/device', { user_code: login.user_code })
        await browser.post('/device/decision', { user_code: login.user_code, decision: 'approve' })
      },
    })
    expect(login.dpop_key).toMatchObject({ alg: 'ES256', bound_at_issuance: true })
    const tokens = await login.wait()
    const dir = mkdtempSync(join(tmpdir(), 'evergreen-xp-dpop-'))
    const store = createFileStore({ dir })
    const { key, session } = await loginWithTokenResponse({ store, lock: createFileLock({ dir }), issuer, clientId: 'evergreen-cli', tokens, receivedAt: login.polled_at!, dpopKey: login.dpop_key })
    const sid = (JSON.parse(Buffer.from(session.access_token.split('.')[1]!, 'base64url').toString('utf8')) as { sid: string }).sid
    return { dir, key, file: join(dir, 'sessions', `${keyFileName(key)}.json`), session, sid }
  }

  async function expireAccessToken(dir: string, key: SessionKey): Promise<StoredSession> {
    const store = createFileStore({ dir })
    const current = (await store.read(key))!
    const expired = { ...current, access_token_expires_at: Date.now() - 1_000 }
    await store.write(key, expired)
    return expired
  }

  beforeAll(async () => {
    await admin('POST', '/users', { email: EMAIL, password: PASSWORD })
  })

  test('bound from issuance; without the key the refresh token is refused and the session survives; 20 processes per rotation → exactly one refresh each, the key kept in the 0600 file', async () => {
    const { dir, key, file, session, sid } = await boundLogin()
    const jkt = session.dpop!.jkt
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(readdirSync(join(dir, 'sessions'))).toEqual([`${keyFileName(key)}.json`])

    // A thief with the stored refresh token but not the key: refused, and nothing is spent.
    const { token_endpoint: tokenEndpoint } = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as { token_endpoint: string }
    const stolen = await fetch(tokenEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', client_id: 'evergreen-cli', refresh_token: session.refresh_token! }),
    })
    expect(stolen.status).toBe(400)
    expect(((await stolen.json()) as { error: string }).error).toBe('invalid_dpop_proof')
    // …nor with a valid proof of a key of their own.
    const { generateDpopKey } = await import('../dpop-key.js')
    const { createDpopHandle } = await import('../dpop.js')
    const thiefKey = createDpopHandle(await generateDpopKey({ boundAtIssuance: true }), { now: () => Date.now(), nonces: new Map() })
    const withOwnKey = await fetch(tokenEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: await thiefKey.proof('POST', tokenEndpoint) },
      body: new URLSearchParams({ grant_type: 'refresh_token', client_id: 'evergreen-cli', refresh_token: session.refresh_token! }),
    })
    expect(withOwnKey.status).toBe(400)
    expect(((await withOwnKey.json()) as { error: string }).error).toMatch(/^(invalid_grant|invalid_dpop_proof)$/)
    expect((await admin<{ active: boolean }>('GET', `/sessions/${sid}`)).active).toBe(true)

    let previous = session
    for (let round = 0; round < 2; round++) {
      await expireAccessToken(dir, key)
      const before = await refreshOutcomes()
      const results = await getTokensInParallel(20, dir)
      expect(results.filter((r) => !r.ok)).toEqual([])
      const tokens = new Set(results.map((r) => (r.ok ? r.token : '')))
      expect(tokens.size).toBe(1)
      const after = await refreshOutcomes()
      expect((after.rotated ?? 0) - (before.rotated ?? 0)).toBe(1)
      expect((after.grace_replay ?? 0) - (before.grace_replay ?? 0)).toBe(0)
      expect(results.flatMap((r) => r.events).filter((e) => e.type === 'refresh_started')).toHaveLength(1)

      // Rotated, the same key stored beside the new tokens, in the same private file.
      const stored = (await createFileStore({ dir }).read(key))!
      expect(stored.access_token).toBe([...tokens][0])
      expect(stored.refresh_token).not.toBe(previous.refresh_token)
      expect(stored.dpop).toEqual(session.dpop)
      expect(statSync(file).mode & 0o777).toBe(0o600)
      expect(readdirSync(join(dir, 'sessions'))).toEqual([`${keyFileName(key)}.json`])
      previous = stored
    }
    expect((await admin<{ active: boolean }>('GET', `/sessions/${sid}`)).active).toBe(true)
    expect(jkt).toMatch(/^[A-Za-z0-9_-]{43}$/)
    rmSync(dir, { recursive: true, force: true })
  }, 120_000)
})

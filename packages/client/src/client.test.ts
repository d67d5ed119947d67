import { describe, expect, test, vi } from 'vitest'
import { isReplayable } from './authenticated-fetch.js'
import { createSessionClient, type SessionClientOptions } from './client.js'
import type { DebugEvent } from './debug.js'
import { AuthError, ProviderError } from './errors.js'
import { createMemoryStore } from './store/memory.js'
import type { SessionKey, SessionStore } from './store/types.js'
import { createFakeProvider, FAKE_CLIENT_ID, FAKE_ISSUER, fakeSession } from './test-support/fake-provider.js'

const T0 = 1_900_000_000_000
const KEY: SessionKey = { issuer: FAKE_ISSUER, profile: 'default' }

function setup(accessLeftMs: number, opts: Partial<SessionClientOptions> & { session?: Parameters<typeof fakeSession>[2] } = {}) {
  let t = T0
  const provider = createFakeProvider()
  const store = createMemoryStore([[KEY, fakeSession(T0, accessLeftMs, opts.session)]])
  const events: DebugEvent[] = []
  const client = createSessionClient({
    issuer: FAKE_ISSUER,
    store,
    fetch: provider.fetch,
    now: () => t,
    env: {},
    debug: (e) => events.push(e),
    ...opts,
  })
  return { client, store, provider, events, advance: (ms: number) => void (t += ms) }
}

describe('getValidToken: leeway and backstop (injected clock)', () => {
  test('more than the leeway left: the stored token, no lock, no network', async () => {
    const lock = { withLock: vi.fn() }
    const { client, provider } = setup(31_000, { lock })
    expect(await client.getValidToken()).toBe('at-0')
    expect(provider.refreshes).toBe(0)
    expect(lock.withLock).not.toHaveBeenCalled()
  })

  test('at the leeway: refreshes (access_expiring) and stores the rotated session', async () => {
    const { client, provider, store, events } = setup(30_000)
    expect(await client.getValidToken()).toBe('at-1')
    expect(provider.refreshes).toBe(1)
    const stored = await store.read(KEY)
    expect(stored).toMatchObject({ access_token: 'at-1', refresh_token: 'rt-1', access_token_expires_at: T0 + 900_000 })
    expect(events.find((e) => e.type === 'refresh_started')).toEqual({ type: 'refresh_started', reason: 'access_expiring' })
  })

  test('the clock moving past the leeway triggers the refresh', async () => {
    const { client, provider, advance } = setup(120_000)
    expect(await client.getValidToken()).toBe('at-0')
    advance(89_000)
    expect(await client.getValidToken()).toBe('at-0')
    advance(2_000)
    expect(await client.getValidToken()).toBe('at-1')
    expect(provider.refreshes).toBe(1)
  })

  test('a custom leeway', async () => {
    const { client, provider } = setup(100_000, { leewaySeconds: 120, session: { obtained_at: T0 - 800_000 } })
    expect(await client.getValidToken()).toBe('at-1')
    expect(provider.refreshes).toBe(1)
  })

  test('refresh token near its expiry: refreshes although the access token is fresh (refresh_backstop)', async () => {
    const { client, provider, events } = setup(600_000, { session: { refresh_token_expires_at: T0 + 59_000 } })
    expect(await client.getValidToken()).toBe('at-1')
    expect(provider.refreshes).toBe(1)
    expect(events).toContainEqual({ type: 'refresh_started', reason: 'refresh_backstop' })
  })

  test('refresh token outside the backstop: no refresh', async () => {
    const { client, provider } = setup(600_000, { session: { refresh_token_expires_at: T0 + 61_000 } })
    expect(await client.getValidToken()).toBe('at-0')
    expect(provider.refreshes).toBe(0)
  })

  test('a token shorter-lived than twice the leeway is used for half its life, not refreshed on every call', async () => {
    // 40 s token obtained just now: leeway becomes 20 s.
    const { client, provider } = setup(40_000, { session: { obtained_at: T0 } })
    expect(await client.getValidToken()).toBe('at-0')
    expect(provider.refreshes).toBe(0)
  })
})

describe('single flight', () => {
  test('10 concurrent calls in one process make one network refresh', async () => {
    const { client, provider, events } = setup(0)
    provider.delayMs = 50
    const tokens = await Promise.all(Array.from({ length: 10 }, () => client.getValidToken()))
    expect(new Set(tokens)).toEqual(new Set(['at-1']))
    expect(provider.refreshes).toBe(1)
    expect(events.filter((e) => e.type === 'refresh_joined')).toHaveLength(9)
  })

  test('two clients on one store and lock: the second re-reads and finds a fresh token', async () => {
    const provider = createFakeProvider()
    provider.delayMs = 30
    const store = createMemoryStore([[KEY, fakeSession(T0, 0)]])
    const { createInProcessLock } = await import('./lock.js')
    const lock = createInProcessLock()
    const events: DebugEvent[] = []
    const make = () => createSessionClient({ issuer: FAKE_ISSUER, store, lock, fetch: provider.fetch, now: () => T0, env: {}, debug: (e) => events.push(e) })
    const [a, b] = await Promise.all([make().getValidToken(), make().getValidToken()])
    expect([a, b]).toEqual(['at-1', 'at-1'])
    expect(provider.refreshes).toBe(1)
    expect(events).toContainEqual({ type: 'refresh_skipped', reason: 'reread_fresh' })
  })
})

describe('failures', () => {
  test('nothing stored: AuthError not_logged_in', async () => {
    const client = createSessionClient({ issuer: FAKE_ISSUER, store: createMemoryStore(), env: {} })
    await expect(client.getValidToken()).rejects.toMatchObject({ name: 'AuthError', reason: 'not_logged_in', code: 'AUTH_NOT_LOGGED_IN' })
  })

  test.each([
    ['revoked', 'revoked', 'AUTH_REVOKED'],
    ['reused', 'reused', 'AUTH_REUSED'],
    ['expired_idle', 'session_expired', 'AUTH_SESSION_EXPIRED'],
    ['not_found', 'session_expired', 'AUTH_SESSION_EXPIRED'],
    [undefined, 'session_expired', 'AUTH_SESSION_EXPIRED'],
  ])('invalid_grant (%s) deletes the session and throws AuthError %s', async (serverReason, reason, code) => {
    const { client, provider, store, events } = setup(0)
    provider.failWith = () => Response.json({ error: 'invalid_grant', ...(serverReason ? { error_reason: serverReason } : {}) }, { status: 400 })
    const err = await client.getValidToken().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AuthError)
    expect(err).toMatchObject({ reason, code })
    expect(await store.read(KEY)).toBeUndefined()
    expect(events).toContainEqual({ type: 'refresh_failed', reason: 'access_expiring', code: 'OAUTH_RESPONSE_ERROR' })
  })

  test('invalid_grant while the store already holds another session (a racing writer): that session is kept', async () => {
    const { client, provider, store } = setup(0)
    const other = fakeSession(T0, 600_000, { access_token: 'other-at', refresh_token: 'rt-other' })
    provider.failWith = () => {
      void store.write(KEY, other)
      return Response.json({ error: 'invalid_grant', error_reason: 'reused' }, { status: 400 })
    }
    expect(await client.getValidToken()).toBe('other-at')
    expect(await store.read(KEY)).toEqual(other)
  })

  test('invalid_grant superseded: re-reads the store and retries once with the newer token; the session is never deleted', async () => {
    const { client, provider, store } = setup(0)
    // Another process sharing the credential rotated it and stored the result outside our lock.
    const newer = fakeSession(T0, 0, { access_token: 'at-newer', refresh_token: 'rt-newer' })
    provider.failWith = () => {
      provider.failWith = undefined
      provider.current = 'rt-newer'
      void store.write(KEY, newer)
      return Response.json({ error: 'invalid_grant', error_reason: 'superseded' }, { status: 400 })
    }
    const token = await client.getValidToken()
    expect(provider.refreshes).toBe(2)
    expect(token).not.toBe('at-newer')
    expect(await store.read(KEY)).toMatchObject({ access_token: token, refresh_token: provider.current })
  })

  test('invalid_grant superseded with nothing newer stored: AuthError superseded, the stored session kept, one try only', async () => {
    const { client, provider, store } = setup(0)
    provider.failWith = () => Response.json({ error: 'invalid_grant', error_reason: 'superseded' }, { status: 400 })
    const before = await store.read(KEY)
    const err = await client.getValidToken().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AuthError)
    expect(err).toMatchObject({ reason: 'superseded', code: 'AUTH_SUPERSEDED', serverReason: 'superseded' })
    expect(await store.read(KEY)).toEqual(before)
    expect(provider.refreshes).toBe(1)
  })

  test('invalid_grant superseded twice in a row: stops after one retry and keeps the store', async () => {
    const { client, provider, store } = setup(0)
    let n = 0
    provider.failWith = () => {
      n++
      void store.write(KEY, fakeSession(T0, 0, { refresh_token: `rt-newer-${n}` }))
      return Response.json({ error: 'invalid_grant', error_reason: 'superseded' }, { status: 400 })
    }
    await expect(client.getValidToken()).rejects.toMatchObject({ code: 'AUTH_SUPERSEDED' })
    expect(provider.refreshes).toBe(2)
    expect(await store.read(KEY)).toMatchObject({ refresh_token: 'rt-newer-2' })
  })

  test.each([
    ['503', () => Response.json({ error: 'temporarily_unavailable' }, { status: 503 })],
    ['500 html', () => new Response('<h1>oops</h1>', { status: 500 })],
    ['429', () => new Response('slow down', { status: 429 })],
    ['404 from a proxy', () => new Response('<h1>not found</h1>', { status: 404 })],
  ])('%s: ProviderError, the store untouched', async (_name, answer) => {
    const { client, provider, store } = setup(0)
    provider.failWith = answer
    const before = JSON.stringify(await store.read(KEY))
    await expect(client.getValidToken()).rejects.toBeInstanceOf(ProviderError)
    expect(JSON.stringify(await store.read(KEY))).toBe(before)
  })

  test('network failure: ProviderError PROVIDER_UNAVAILABLE, the store untouched', async () => {
    const store = createMemoryStore([[KEY, fakeSession(T0, 0)]])
    const client = createSessionClient({
      issuer: FAKE_ISSUER,
      store,
      now: () => T0,
      env: {},
      fetch: () => Promise.reject(new TypeError('fetch failed')),
    })
    await expect(client.getValidToken()).rejects.toMatchObject({ name: 'ProviderError', code: 'PROVIDER_UNAVAILABLE' })
    expect(await store.read(KEY)).toEqual(fakeSession(T0, 0))
  })

  test('access-only session past its expiry: AuthError access_only_expired with the remedy as a code, not a CLI instruction', async () => {
    const { client, provider } = setup(-1, { session: { refresh_token: undefined, refresh_token_expires_at: undefined } })
    const err = (await client.getValidToken().catch((e: unknown) => e)) as AuthError
    expect(err).toMatchObject({ reason: 'access_only_expired', code: 'AUTH_ACCESS_ONLY_EXPIRED', remedy: 'mint_credential', issuer: FAKE_ISSUER })
    expect(err.expiresAt).toBeTypeOf('number')
    expect(err.message).not.toMatch(/evergreen |--|\/settings\//)
    expect(provider.refreshes).toBe(0)
  })

  test('access-only session inside the leeway is still handed out (it cannot be renewed anyway)', async () => {
    const { client } = setup(10_000, { session: { refresh_token: undefined, refresh_token_expires_at: undefined } })
    expect(await client.getValidToken()).toBe('at-0')
  })

  test('a store failure is a StorageError, never "not logged in"', async () => {
    const { StorageError } = await import('./errors.js')
    const broken: SessionStore = {
      ...createMemoryStore(),
      read: () => Promise.reject(new StorageError('STORAGE_UNAVAILABLE', 'disk gone')),
    }
    const client = createSessionClient({ issuer: FAKE_ISSUER, store: broken, env: {} })
    await expect(client.getValidToken()).rejects.toMatchObject({ name: 'StorageError', code: 'STORAGE_UNAVAILABLE' })
  })
})

describe('EVERGREEN_TOKEN', () => {
  test('overrides the store: returned as-is, nothing read, no network', async () => {
    const store = createMemoryStore()
    const read = vi.spyOn(store, 'read')
    const fetch = vi.fn<typeof globalThis.fetch>()
    const client = createSessionClient({ store, fetch, env: { EVERGREEN_TOKEN: 'ci-token' } })
    expect(await client.getValidToken()).toBe('ci-token')
    expect(read).not.toHaveBeenCalled()
    expect(fetch).not.toHaveBeenCalled()
    expect((await client.status()).source).toBe('env')
  })

  test('the fetch wrapper sends it and does not try to refresh on 401', async () => {
    const fetch = vi.fn<typeof globalThis.fetch>(async () => new Response('no', { status: 401 }))
    const client = createSessionClient({ store: createMemoryStore(), fetch, env: { EVERGREEN_TOKEN: 'ci-token' } })
    const res = await client.fetch('https://api.test/x')
    expect(res.status).toBe(401)
    expect(fetch).toHaveBeenCalledTimes(1)
    expect(new Headers(fetch.mock.calls[0]![1]!.headers).get('authorization')).toBe('Bearer ci-token')
  })
})

describe('fetch wrapper', () => {
  test('adds the bearer token; keeps the caller\'s headers', async () => {
    const { client, provider } = setup(600_000)
    const seen: Request[] = []
    provider.api = (req) => {
      seen.push(req)
      return new Response('ok')
    }
    await client.fetch('https://api.test/me', { headers: { accept: 'text/plain' } })
    expect(seen[0]!.headers.get('authorization')).toBe('Bearer at-0')
    expect(seen[0]!.headers.get('accept')).toBe('text/plain')
  })

  test('401: forces one refresh and retries once with the new token', async () => {
    const { client, provider, events } = setup(600_000)
    const auth: string[] = []
    provider.api = async (req) => {
      auth.push(`${req.headers.get('authorization')} ${await req.text()}`)
      return new Response(null, { status: req.headers.get('authorization') === 'Bearer at-0' ? 401 : 200 })
    }
    const res = await client.fetch('https://api.test/thing', { method: 'POST', body: 'payload' })
    expect(res.status).toBe(200)
    expect(auth).toEqual(['Bearer at-0 payload', 'Bearer at-1 payload'])
    expect(provider.refreshes).toBe(1)
    expect(events).toContainEqual({ type: 'refresh_started', reason: 'unauthorized_retry' })
  })

  test('a second 401 goes back to the caller: one retry only', async () => {
    const { client, provider } = setup(600_000)
    let calls = 0
    provider.api = () => {
      calls++
      return new Response(null, { status: 401 })
    }
    const res = await client.fetch('https://api.test/thing')
    expect(res.status).toBe(401)
    expect(calls).toBe(2)
    expect(provider.refreshes).toBe(1)
  })

  test('a ReadableStream body is not replayed', async () => {
    const { client, provider } = setup(600_000)
    let calls = 0
    provider.api = async (req) => {
      calls++
      await req.text()
      return new Response(null, { status: 401 })
    }
    const body = new ReadableStream({ start: (c) => (c.enqueue(new TextEncoder().encode('x')), c.close()) })
    const res = await client.fetch('https://api.test/upload', { method: 'POST', body, duplex: 'half' } as RequestInit)
    expect(res.status).toBe(401)
    expect(calls).toBe(1)
    expect(provider.refreshes).toBe(0)
  })

  test('replayable bodies', () => {
    expect(isReplayable('https://x')).toBe(true)
    expect(isReplayable('https://x', { body: 'a' })).toBe(true)
    expect(isReplayable('https://x', { body: new URLSearchParams('a=1') })).toBe(true)
    expect(isReplayable('https://x', { body: new Blob(['a']) })).toBe(true)
    expect(isReplayable('https://x', { body: new ArrayBuffer(2) })).toBe(true)
    expect(isReplayable('https://x', { body: new Uint8Array(2) })).toBe(true)
    expect(isReplayable('https://x', { body: new ReadableStream() })).toBe(false)
    expect(isReplayable(new Request('https://x', { method: 'POST', body: 'a' }))).toBe(false)
    expect(isReplayable(new Request('https://x'))).toBe(true)
  })
})

describe('debug trace', () => {
  test('says why it refreshed and never prints a token', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {})
    try {
      const { client } = setup(0, { env: { EVERGREEN_DEBUG: '1' }, debug: undefined })
      await client.getValidToken()
      const lines = errors.mock.calls.map((c) => String(c[0]))
      expect(lines).toContain('evergreen: refresh_started reason=access_expiring')
      expect(lines.some((l) => l.startsWith('evergreen: refresh_succeeded reason=access_expiring'))).toBe(true)
      expect(lines.join('\n')).not.toMatch(/at-\d|rt-\d/)
    } finally {
      errors.mockRestore()
    }
  })
})

describe('logout and status', () => {
  test('logout revokes the refresh token, then deletes', async () => {
    const { client, provider, store } = setup(600_000)
    expect(await client.logout()).toEqual({ wasLoggedIn: true, revocation: 'revoked' })
    expect(provider.revocations).toEqual(['rt-0'])
    expect(await store.read(KEY)).toBeUndefined()
    await expect(client.getValidToken()).rejects.toMatchObject({ reason: 'not_logged_in' })
  })

  test('logout with the token service unreachable still deletes locally and says revocation did not happen', async () => {
    const store = createMemoryStore([[KEY, fakeSession(T0, 600_000)]])
    const client = createSessionClient({ issuer: FAKE_ISSUER, store, env: {}, now: () => T0, fetch: () => Promise.reject(new TypeError('fetch failed')) })
    const result = await client.logout()
    expect(result).toMatchObject({ wasLoggedIn: true, revocation: 'failed', error: { code: 'PROVIDER_UNAVAILABLE' } })
    expect(await store.read(KEY)).toBeUndefined()
  })

  test('status describes the session without any token', async () => {
    const { client } = setup(600_000)
    const status = await client.status()
    expect(status).toMatchObject({
      source: 'store',
      store: { backend: 'memory' },
      profile: 'default',
      issuer: FAKE_ISSUER,
      client_id: FAKE_CLIENT_ID,
      renewable: true,
      access_token_expires_at: T0 + 600_000,
    })
    expect(JSON.stringify(status)).not.toMatch(/at-0|rt-0/)
  })

  test('without an issuer, the only stored issuer for the profile is used; two are ambiguous', async () => {
    const store = createMemoryStore([[KEY, fakeSession(T0, 600_000)]])
    const client = createSessionClient({ store, env: {}, now: () => T0 })
    expect(await client.getValidToken()).toBe('at-0')
    await store.write({ issuer: 'https://other.test', profile: 'default' }, fakeSession(T0, 600_000, { issuer: 'https://other.test' }))
    // This client remembers the issuer it found; a new one cannot choose between two.
    expect(await client.getValidToken()).toBe('at-0')
    await expect(createSessionClient({ store, env: {}, now: () => T0 }).getValidToken()).rejects.toMatchObject({ code: 'CONFIG_AMBIGUOUS_ISSUER' })
    // Profiles keep accounts apart.
    await store.write({ issuer: 'https://other.test', profile: 'work' }, fakeSession(T0, 600_000, { issuer: 'https://other.test', access_token: 'work-at' }))
    const work = createSessionClient({ store, env: {}, now: () => T0, profile: 'work' })
    expect(await work.getValidToken()).toBe('work-at')
  })
})

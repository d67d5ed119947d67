import { beforeEach, describe, expect, test } from 'vitest'
import { PageClient } from '../../server/src/test-support/browser-client.js'
import { createTestService, json, type TestService } from '../../server/src/test-support/harness.js'
import { createSessionClient } from './client.js'
import { startDeviceLogin, type StartDeviceLoginOptions } from './device-login.js'
import { DeviceLoginError, OAuthResponseError, ProviderError } from './errors.js'
import { createMemoryStore } from './store/memory.js'
import { loginWithTokenResponse } from './token-response-login.js'

// The device login against the real token service in process (app.fetch, injected clock): the
// injected sleep moves the server's clock instead of waiting, so slow_down is the server's own.

const ISSUER = 'http://evergreen.test'
const PASSWORD = 'correct horse battery'

let svc: TestService
let browser: PageClient
let sleeps: number[]

beforeEach(async () => {
  svc = await createTestService()
  await json(await svc.admin('POST', '/users', { email: 'ada@example.com', password: PASSWORD }), 201)
  browser = new PageClient(svc)
  sleeps = []
})

/** startDeviceLogin wired to the in-process service; `onSleep(n)` runs during the n-th wait. */
function start(onSleep: (call: number, ms: number) => Promise<number | void> | number | void = () => {}, extra: Partial<StartDeviceLoginOptions> = {}) {
  return startDeviceLogin({
    issuer: ISSUER,
    clientId: 'evergreen-cli',
    scope: 'openid email',
    fetch: async (input, init) => svc.app.fetch(new Request(input, init)),
    now: () => svc.clock.now() * 1000,
    sleep: async (ms) => {
      sleeps.push(ms)
      // The hook may advance the clock by less than asked (a client polling too fast).
      const advanced = await onSleep(sleeps.length, ms)
      svc.clock.advance((advanced ?? ms) / 1000)
    },
    ...extra,
  })
}

async function decide(userCode: string, decision: 'approve' | 'deny'): Promise<void> {
  await browser.login('ada@example.com', PASSWORD)
  await browser.get(`/device?user_code=${userCode}`)
  await browser.post('/device', { user_code: userCode })
  const res = await browser.post('/device/decision', { user_code: userCode, decision })
  expect(res.status).toBe(200)
}

describe('startDeviceLogin against the token service', () => {
  test('shows the code, waits through authorization_pending, returns tokens the session client can use', async () => {
    const login: Awaited<ReturnType<typeof start>> = await start(async (call) => {
      if (call === 3) await decide(login.user_code, 'approve')
    }, { refreshTokenTtl: 2_592_000 })
    expect(login.user_code).toMatch(/^[A-Z]{4}-[A-Z]{4}$/)
    expect(login.verification_uri).toBe(`${ISSUER}/device`)
    expect(login.verification_uri_complete).toBe(`${ISSUER}/device?user_code=${login.user_code}`)
    expect(login).toMatchObject({ expires_in: 600, interval: 5, expires_at: (svc.clock.now() + 600) * 1000 })

    const receivedAt = svc.clock.now() * 1000
    const tokens = await login.wait()
    // Two pending polls, then the approved one: each after a full interval.
    expect(sleeps).toEqual([5_000, 5_000, 5_000])
    expect(tokens).toMatchObject({ token_type: 'Bearer', refresh_token: expect.stringMatching(/^egr_/), refresh_token_expires_in: 2_592_000, scope: 'openid email' })

    const store = createMemoryStore()
    const { key, session } = await loginWithTokenResponse({ store, issuer: `${ISSUER}/`, clientId: 'evergreen-cli', tokens, receivedAt })
    expect(key).toEqual({ issuer: ISSUER, profile: 'default' })
    expect(session.refresh_token_expires_at).toBe(receivedAt + 2_592_000_000)
    const client = createSessionClient({ store, env: {}, now: () => svc.clock.now() * 1000, fetch: async (i, init) => svc.app.fetch(new Request(i, init)) })
    expect(await client.getValidToken()).toBe(tokens.access_token)
    expect(await client.status()).toMatchObject({ source: 'store', issuer: ISSUER, client_id: 'evergreen-cli', renewable: true })
    expect(await client.refresh({ force: true })).not.toBe(tokens.access_token)
  })

  test('slow_down: the interval grows by 5 s for every later poll', async () => {
    const login: Awaited<ReturnType<typeof start>> = await start(async (call, ms) => {
      if (call === 2) return 1_000 // polls after 1 s: too fast, the server answers slow_down
      if (call === 4) await decide(login.user_code, 'approve')
      return ms
    })
    await login.wait()
    expect(sleeps).toEqual([5_000, 5_000, 10_000, 10_000])
    expect(login.interval).toBe(10)
  })

  test('denied in the browser: DeviceLoginError access_denied', async () => {
    const login: Awaited<ReturnType<typeof start>> = await start(async (call) => {
      if (call === 1) await decide(login.user_code, 'deny')
    })
    const err = await login.wait().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DeviceLoginError)
    expect(err).toMatchObject({ code: 'DEVICE_ACCESS_DENIED', reason: 'access_denied' })
  })

  test('nobody approves: expired_token once the code has expired, without polling a dead code', async () => {
    const login = await start((_call, ms) => ms * 20)
    await expect(login.wait()).rejects.toMatchObject({ name: 'DeviceLoginError', code: 'DEVICE_CODE_EXPIRED', reason: 'expired_token' })
    // 5 s × 20 per wait: the 6th wait passes the 600 s lifetime, and that ends it.
    expect(sleeps).toHaveLength(6)
  })

  test('an abort while waiting (Ctrl-C) is cancelled, promptly, with the real timer', async () => {
    const login = await start(undefined, { sleep: undefined })
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 30)
    const started = performance.now()
    await expect(login.wait(controller.signal)).rejects.toMatchObject({ name: 'DeviceLoginError', code: 'DEVICE_LOGIN_CANCELLED', reason: 'cancelled' })
    expect(performance.now() - started).toBeLessThan(1_000)
    // Already aborted: no wait at all.
    await expect(login.wait(AbortSignal.abort())).rejects.toMatchObject({ reason: 'cancelled' })
  })

  test('a scope the client may not have is the server\'s OAuth error, before any code is shown', async () => {
    await json(await svc.admin('POST', '/clients', { client_id: 'narrow', name: 'Narrow', grant_types: ['urn:ietf:params:oauth:grant-type:device_code'], token_endpoint_auth_method: 'none', allowed_scopes: ['openid'] }), 201)
    const err = await start(undefined, { clientId: 'narrow', scope: 'openid admin' }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OAuthResponseError)
    expect(err).toMatchObject({ error: 'invalid_scope' })
  })
})

describe('startDeviceLogin against a scripted token service', () => {
  const FAKE = 'https://auth.fake.test'
  type Answer = Response | Error
  function scripted(polls: Answer[], device: Answer = Response.json({ device_code: 'egd_x', user_code: 'BCDF-GHJK', verification_uri: `${FAKE}/device`, expires_in: 600 })) {
    const seen: Array<{ path: string; form: URLSearchParams }> = []
    const fetchImpl: typeof fetch = async (input, init) => {
      const req = new Request(input, init)
      const path = new URL(req.url).pathname
      if (path === '/.well-known/openid-configuration') {
        return Response.json({ issuer: FAKE, token_endpoint: `${FAKE}/token`, device_authorization_endpoint: `${FAKE}/device_authorization` })
      }
      seen.push({ path, form: new URLSearchParams(await req.text()) })
      const answer = path === '/device_authorization' ? device : polls.shift()
      if (!answer) throw new Error('unexpected request')
      if (answer instanceof Error) throw answer
      return answer
    }
    return { fetchImpl, seen }
  }
  const oauthError = (error: string) => Response.json({ error }, { status: 400 })
  const tokens = { access_token: 'at', token_type: 'bearer', expires_in: 900, refresh_token: 'rt', refresh_token_expires_in: 86_400 }
  const run = (fetchImpl: typeof fetch, extra: Partial<StartDeviceLoginOptions> = {}) =>
    startDeviceLogin({ issuer: FAKE, clientId: 'cli', fetch: fetchImpl, now: () => 0, sleep: async (ms) => void sleeps.push(ms), ...extra })

  test('sends the RFC 8628 forms; no interval means 5 s', async () => {
    const { fetchImpl, seen } = scripted([oauthError('authorization_pending'), Response.json(tokens)])
    const login = await run(fetchImpl, { scope: 'openid', refreshTokenTtl: 3_600 })
    expect(login.interval).toBe(5)
    expect(login.verification_uri_complete).toBeUndefined()
    expect(await login.wait()).toMatchObject({ access_token: 'at', token_type: 'Bearer' })
    expect(Object.fromEntries(seen[0]!.form)).toEqual({ client_id: 'cli', scope: 'openid', refresh_token_ttl: '3600' })
    expect(Object.fromEntries(seen[1]!.form)).toEqual({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: 'egd_x', client_id: 'cli' })
  })

  test('an unreachable token service mid-login backs off and carries on; too many in a row gives up', async () => {
    const down = () => new TypeError('fetch failed')
    const { fetchImpl } = scripted([down(), down(), oauthError('authorization_pending'), Response.json(tokens)])
    await (await run(fetchImpl)).wait()
    expect(sleeps).toEqual([5_000, 10_000, 20_000, 5_000])

    sleeps = []
    const again = scripted([down(), down(), down(), down()])
    const err = await (await run(again.fetchImpl)).wait().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ProviderError)
    expect(err).toMatchObject({ code: 'PROVIDER_UNAVAILABLE' })
  })

  test('the server\'s expired_token is DeviceLoginError expired_token; another OAuth error passes through', async () => {
    await expect((await run(scripted([oauthError('expired_token')]).fetchImpl)).wait()).rejects.toMatchObject({ reason: 'expired_token' })
    await expect((await run(scripted([oauthError('invalid_grant')]).fetchImpl)).wait()).rejects.toMatchObject({ name: 'OAuthResponseError', error: 'invalid_grant' })
  })

  test('a broken device authorization response, or none advertised, is a ProviderError', async () => {
    const broken = scripted([], Response.json({ device_code: 'x', user_code: 'y', verification_uri: 'javascript:alert(1)', expires_in: 600 }))
    await expect(run(broken.fetchImpl)).rejects.toMatchObject({ name: 'ProviderError', code: 'PROVIDER_INVALID_RESPONSE' })
    const unavailable = scripted([], new Response('upstream down', { status: 503 }))
    await expect(run(unavailable.fetchImpl)).rejects.toMatchObject({ name: 'ProviderError', code: 'PROVIDER_UNAVAILABLE', status: 503 })
    const none: typeof fetch = async () => Response.json({ issuer: FAKE, token_endpoint: `${FAKE}/token` })
    await expect(run(none)).rejects.toThrow(/does not advertise a device_authorization_endpoint/)
  })
})

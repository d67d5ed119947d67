import { afterEach, expect, test, vi } from 'vitest'
import { hashSecret } from '../crypto/hash.js'
import { createTestService, mint, seedUserAndClient, type TestService } from '../test-support/harness.js'
import { startMaintenance } from './maintenance.js'

let svc: TestService
afterEach(async () => {
  vi.useRealTimers()
  await svc?.close()
})

test('maintenance prunes refresh tokens a day past expiry and keeps live ones', async () => {
  // Only the interval timers are faked: the clock the service reads is the injected one.
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] })
  svc = await createTestService()
  const { userId, clientId } = await seedUserAndClient(svc)
  const old = await mint(svc, userId, clientId, { refresh_token_ttl: 3600 })
  svc.clock.advance(3600 + 86_400 + 1)
  const live = await mint(svc, userId, clientId)
  const stop = startMaintenance(svc.deps, { pruneSeconds: 10, keyReloadSeconds: 10 })
  await vi.advanceTimersByTimeAsync(10_000)
  stop()
  expect(await svc.deps.store.findRefreshToken(hashSecret(old.refresh_token))).toBeUndefined()
  expect(await svc.deps.store.findRefreshToken(hashSecret(live.refresh_token))).toBeDefined()
  // The session row itself stays, for the audit trail and /settings/sessions history.
  expect(await svc.deps.store.getSession(old.session_id)).toBeDefined()
})

test('maintenance deletes dynamically registered clients whose unused expiry passed, and only those', async () => {
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] })
  svc = await createTestService({ env: { EVERGREEN_DYNAMIC_REGISTRATION: 'true', EVERGREEN_REGISTERED_CLIENT_TTL: '3600' } })
  const register = async () => {
    const res = await svc.fetch('/oauth/register', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: ['http://127.0.0.1/cb'], grant_types: ['authorization_code', 'refresh_token'] }),
    })
    expect(res.status).toBe(201)
    return ((await res.json()) as { client_id: string }).client_id
  }
  const stale = await register()
  svc.clock.advance(3000)
  const fresh = await register()
  svc.clock.advance(601)
  const stop = startMaintenance(svc.deps, { pruneSeconds: 10, keyReloadSeconds: 10 })
  await vi.advanceTimersByTimeAsync(10_000)
  stop()
  // The round runs its store calls after the tick; wait for them rather than for a time.
  await vi.waitFor(async () => expect(await svc.deps.store.getClient(stale)).toBeUndefined())
  expect(await svc.deps.store.getClient(fresh)).toBeDefined()
})

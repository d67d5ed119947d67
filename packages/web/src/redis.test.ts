import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { createRedisRevocationList, type RedisRevocationList } from './redis.js'
import { APP, browserFor, createWebFixture, signIn } from './test-support/fixture.js'
import { describeRedis, redisUrl } from './test-support/redis.js'
import { createLogoutSigner, logoutClaims } from './test-support/logout-tokens.js'
import { createEvergreenWeb } from './web.js'

// Two processes' revocation lists on the real Redis at 127.0.0.1:6379, each with its own
// connections, as two app servers would have. A fresh prefix per run keeps runs apart.

const prefix = `evergreen:test:${Math.random().toString(36).slice(2)}:`
const lists: RedisRevocationList[] = []
const open = async () => {
  const list = createRedisRevocationList({ redis: redisUrl, prefix })
  lists.push(list)
  await list.ready
  return list
}

async function within(ms: number, check: () => boolean): Promise<number> {
  const start = performance.now()
  while (!check()) {
    if (performance.now() - start > ms) throw new Error(`not true within ${ms} ms`)
    await new Promise((r) => setTimeout(r, 5))
  }
  return performance.now() - start
}

describeRedis('Redis revocation list', () => {
  let a: RedisRevocationList
  let b: RedisRevocationList

  beforeAll(async () => {
    a = await open()
    b = await open()
  })

  afterAll(async () => {
    await Promise.all(lists.map((l) => l.close()))
    const redis = new Redis(redisUrl)
    const keys = await redis.keys(`${prefix}*`)
    if (keys.length) await redis.del(...keys)
    await redis.quit()
  })

  test('a sid denied on one instance is denied on the other within a second', async () => {
    const identity = { sid: 'sid_shared_1', sub: 'usr_1', loginAt: 100 }
    expect(a.isRevoked(identity)).toBe(false)
    expect(b.isRevoked(identity)).toBe(false)
    await a.revoke({ sid: identity.sid }, 60)
    expect(a.isRevoked(identity)).toBe(true)
    const ms = await within(1000, () => b.isRevoked(identity))
    expect(ms).toBeLessThan(1000)
    expect(b.isRevoked({ ...identity, sid: 'sid_other' })).toBe(false)
  })

  test('a user entry ends sessions that signed in at or before it, on both', async () => {
    await b.revoke({ sub: 'usr_2', before: 500 }, 60)
    await within(1000, () => a.isRevoked({ sid: undefined, sub: 'usr_2', loginAt: 500 }))
    expect(a.isRevoked({ sid: 'x', sub: 'usr_2', loginAt: 501 })).toBe(false)
  })

  test('an instance started later loads what is already listed', async () => {
    await a.revoke({ sid: 'sid_before_start' }, 60)
    const c = await open()
    expect(c.isRevoked({ sid: 'sid_before_start', sub: 'u', loginAt: 0 })).toBe(true)
  })

  test('claimOnce is once across instances (a replayed logout-token jti)', async () => {
    const key = `jti:${Math.random()}`
    const results = await Promise.all([a.claimOnce(key, 60), b.claimOnce(key, 60), a.claimOnce(key, 60)])
    expect(results.filter(Boolean)).toHaveLength(1)
  })

  test('entries expire with their TTL', async () => {
    await a.revoke({ sid: 'sid_short' }, 0.2)
    await within(1000, () => b.isRevoked({ sid: 'sid_short', sub: 'u', loginAt: 0 }))
    const redis = new Redis(redisUrl)
    await within(600, () => false).catch(() => undefined)
    expect(await redis.exists(`${prefix}revoked:sid:sid_short`)).toBe(0)
    await redis.quit()
  })

  test('end to end: a back-channel logout received by app server A ends the session on app server B', async () => {
    const f = await createWebFixture()
    const signer = await createLogoutSigner(f)
    const b1 = browserFor(f)
    await signIn(f, b1)
    const serverA = createEvergreenWeb({ ...f.options, revocationList: a })
    const serverB = createEvergreenWeb({ ...f.options, revocationList: b })
    const me = () => serverB.require(new Request(`${APP}/api/me`, { headers: { cookie: b1.cookieHeader(), accept: 'application/json' } }))
    const before = await me()
    expect(before.type).toBe('session')
    const sid = (before as { session: { sid: string } }).session.sid
    const res = await serverA.handle(new Request(`${APP}/auth/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `logout_token=${await signer.sign(logoutClaims(f, { sid }))}` }))
    expect(res.type === 'response' && res.response.status).toBe(200)
    await within(1000, () => b.isRevoked({ sid, sub: '', loginAt: 0 }))
    const after = await me()
    expect(after.type === 'response' && after.response.status).toBe(401)
  })
})

import { createServer, type Server } from 'node:net'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { PageClient } from '../test-support/browser-client.js'
import { createTestService, json, type TestService } from '../test-support/harness.js'

// A shared limit backend that does not answer: each limit does what it promises — the token
// endpoint and the admin API count per node, sign-in and device-code entry refuse with 503 and
// Retry-After — and nothing becomes a 500. The "Redis" here accepts connections and never
// answers, the worst case: a hang must become the fallback within the command timeout.

let silent: Server
let svc: TestService
const PASSWORD = 'correct horse battery'

beforeEach(async () => {
  silent = createServer(() => {})
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  const port = (silent.address() as { port: number }).port
  svc = await createTestService({ env: { EVERGREEN_REDIS_URL: `redis://127.0.0.1:${port}`, EVERGREEN_RATE_LIMIT_TOKEN: '3', EVERGREEN_RATE_LIMIT_ADMIN: '2' } })
  expect(svc.deps.limits.kind).toBe('redis')
})
afterEach(async () => {
  await svc?.close()
  silent.close()
})

describe('limits whose backend is down', () => {
  test('the token endpoint counts per node: answers as usual, then 429 with Retry-After past the budget', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 4; i++) {
      const res = await svc.form('/oauth/token', { grant_type: 'client_credentials', client_id: 'cli_nope', client_secret: 'x' })
      statuses.push(res.status)
      if (res.status === 429) expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
    }
    expect(statuses).toEqual([401, 401, 401, 429])
  })

  test('the admin API still serves the right key', async () => {
    const res = await svc.admin('GET', '/users')
    expect(res.status).toBe(200)
    const wrong = await svc.fetch('/admin/v1/users', { headers: { authorization: 'Bearer wrong-key-0123456789' } })
    expect(wrong.status).toBe(401)
  })

  test('sign-in fails closed: 503 with Retry-After, the password is not checked, no 500', async () => {
    await json(await svc.admin('POST', '/users', { email: 'ada@example.com', password: PASSWORD }), 201)
    const browser = new PageClient(svc)
    await browser.get('/login')
    const res = await browser.post('/login', { email: 'ada@example.com', password: PASSWORD })
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe('30')
    expect(res.headers.getSetCookie().some((c) => /evergreen_session=[^;]/.test(c))).toBe(false)
    expect(await res.text()).toContain('briefly unavailable')
  })
})

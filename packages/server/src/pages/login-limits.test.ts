import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { PageClient } from '../test-support/browser-client.js'
import { createTestService, json, type TestService } from '../test-support/harness.js'

// Sign-in limits count an attempt before the password is checked, and a throttled flood is one
// audit row, not one per request.

const PASSWORD = 'correct horse battery'
let svc: TestService

beforeEach(async () => {
  svc = await createTestService()
  await json(await svc.admin('POST', '/users', { email: 'ada@example.com', password: PASSWORD }), 201)
})
afterEach(async () => {
  await svc?.close()
})

const auditReasons = async () =>
  (await json<{ items: { data: { reason?: string } }[] }>(await svc.admin('GET', '/audit?type=login.failed&limit=100'))).items.map((e) => e.data.reason)

describe('login limits', () => {
  test('25 concurrent wrong passwords against a limit of 10: 10 are checked, 15 are refused unchecked', async () => {
    const browser = new PageClient(svc)
    await browser.get('/login')
    const csrf = browser.csrf()
    const statuses = await Promise.all(
      Array.from({ length: 25 }, () => browser.post('/login', { csrf, email: 'ada@example.com', password: 'wrong' }).then((r) => r.status)),
    )
    expect(statuses.filter((s) => s === 401)).toHaveLength(10)
    expect(statuses.filter((s) => s === 429)).toHaveLength(15)
  })

  test('a throttled flood writes one audit row, not one per request', async () => {
    const browser = new PageClient(svc)
    await browser.get('/login')
    for (let i = 0; i < 10; i++) await browser.post('/login', { email: 'ada@example.com', password: 'wrong' })
    for (let i = 0; i < 20; i++) expect((await browser.post('/login', { email: 'ada@example.com', password: 'wrong' })).status).toBe(429)
    const reasons = await auditReasons()
    expect(reasons.filter((r) => r === 'bad_credentials')).toHaveLength(10)
    expect(reasons.filter((r) => r === 'throttled')).toHaveLength(1)
  })
})

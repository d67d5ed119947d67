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

describe('account lockout by a stranger', () => {
  let proxied: TestService
  beforeEach(async () => {
    proxied = await createTestService({ env: { EVERGREEN_TRUST_PROXY: 'true' } })
    await json(await proxied.admin('POST', '/users', { email: 'ada@example.com', password: PASSWORD }), 201)
  })
  afterEach(async () => {
    await proxied?.close()
  })

  /** A browser behind our (single) proxy, which reports its address in X-Forwarded-For. */
  const from = async (address: string) => {
    const browser = new PageClient(proxied)
    await browser.get('/login')
    return (password: string) => browser.post('/login', { email: 'ada@example.com', password }, { headers: { 'x-forwarded-for': address } })
  }

  test('an attacker exhausting the account limit does not lock the owner out of a clean address', async () => {
    const attacker = await from('198.51.100.66')
    for (let i = 0; i < 10; i++) expect((await attacker('wrong')).status).toBe(401)
    expect((await attacker('wrong')).status).toBe(429)
    // The attacker's address stays refused, even with the right password.
    expect((await attacker(PASSWORD)).status).toBe(429)
    const owner = await from('203.0.113.7')
    const res = await owner(PASSWORD)
    expect(res.status).toBe(303)
    expect(res.headers.get('set-cookie')).toContain('evergreen_session=')
    // The owner's sign-in does not hand the attacker a fresh account budget.
    const elsewhere = await from('198.51.100.67')
    expect((await elsewhere('wrong')).status).toBe(401)
    expect((await (await from('198.51.100.68'))('wrong')).status).toBe(401)
    expect((await attacker('wrong')).status).toBe(429)
  })

  test('clean addresses get a smaller budget, one try each, while the account limit is spent', async () => {
    const attacker = await from('198.51.100.66')
    for (let i = 0; i < 10; i++) await attacker('wrong')
    const statuses: number[] = []
    for (let i = 1; i <= 6; i++) statuses.push((await (await from(`192.0.2.${i}`))('wrong')).status)
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429])
    const second = await from('192.0.2.1')
    expect((await second(PASSWORD)).status).toBe(429)
  })
})

describe('email matching at sign-in', () => {
  test('a Kelvin-sign look-alike of the address is another account, not this one', async () => {
    const browser = new PageClient(svc)
    await browser.get('/login')
    await json(await svc.admin('POST', '/users', { email: 'kate@example.com', password: PASSWORD }), 201)
    expect((await browser.post('/login', { email: '\u212Aate@example.com', password: PASSWORD })).status).toBe(401)
    expect((await browser.post('/login', { email: 'KATE@example.com', password: PASSWORD })).status).toBe(303)
  })

  test('the admin API can create the Kelvin-sign address next to the ASCII one', async () => {
    await json(await svc.admin('POST', '/users', { email: 'kate@example.com' }), 201)
    await json(await svc.admin('POST', '/users', { email: '\u212Aate@example.com' }), 201)
    expect((await svc.admin('POST', '/users', { email: 'Kate@Example.com' })).status).toBe(409)
  })
})

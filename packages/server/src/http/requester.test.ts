import { afterEach, describe, expect, test } from 'vitest'
import { loadSettings, SettingsError } from '../settings.js'
import { createTestService, json, type TestService } from '../test-support/harness.js'

// With trust-proxy on, the caller's address comes from the right of X-Forwarded-For: the
// left-most entry is whatever the caller sent, so trusting it bypassed per-address limits and
// forged audit addresses.

let svc: TestService | undefined
afterEach(async () => {
  await svc?.close()
  svc = undefined
})

/** A request as @hono/node-server hands it over: with the socket peer in `env.incoming`. */
function fromPeer(s: TestService, peer: string, path: string, init: RequestInit) {
  return Promise.resolve(s.app.fetch(new Request(`http://evergreen.test${path}`, init), { incoming: { socket: { remoteAddress: peer } } }))
}

const tokenPost = (xff: string) => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': xff },
  body: 'grant_type=refresh_token&client_id=nobody&refresh_token=egr_x',
})

describe('client address behind a proxy', () => {
  test('trusted proxy list: a caller rotating the left-most X-Forwarded-For entry is still one address to the rate limit', async () => {
    svc = await createTestService({ env: { EVERGREEN_TRUST_PROXY: 'true', EVERGREEN_TRUSTED_PROXIES: '10.0.0.0/8, fd00::/8', EVERGREEN_RATE_LIMIT_TOKEN: '3' } })
    const statuses: number[] = []
    for (let i = 0; i < 5; i++) {
      // The caller sends "198.51.100.i"; our proxy (10.0.0.5, behind fd00::1) appends what it saw.
      const res = await fromPeer(svc, '::ffff:10.0.0.5', '/oauth/token', tokenPost(`198.51.100.${i}, 203.0.113.7, fd00::1`))
      statuses.push(res.status)
    }
    expect(statuses.slice(0, 3).every((s) => s !== 429)).toBe(true)
    expect(statuses.slice(3)).toEqual([429, 429])
  })

  test('trust-proxy alone takes the right-most entry (one proxy): the audit records it, not the forged one', async () => {
    svc = await createTestService({ env: { EVERGREEN_TRUST_PROXY: 'true' } })
    await json(await svc.admin('POST', '/users', { email: 'ada@example.com', password: 'correct horse battery' }), 201)
    const login = await svc.fetch('/login')
    const cookie = login.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ')
    const csrf = /name="csrf" value="([^"]+)"/.exec(await login.text())![1]!
    await fromPeer(svc, '10.0.0.5', '/login', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, 'x-forwarded-for': '192.0.2.66, 203.0.113.7' },
      body: new URLSearchParams({ csrf, email: 'ada@example.com', password: 'wrong' }).toString(),
    })
    const audit = await json<{ items: { type: string; ip: string | null }[] }>(await svc.admin('GET', '/audit?type=login.failed'))
    expect(audit.items.map((e) => e.ip)).toEqual(['203.0.113.7'])
  })
})

describe('clientAddress', async () => {
  const { clientAddress } = await import('./requester.js')
  const proxies = { trustProxy: true, trustedProxies: ['10.0.0.0/8', '2001:db8::/32'], trustProxyHops: 1 }
  const hops = (n: number) => ({ trustProxy: true, trustedProxies: [], trustProxyHops: n })

  test.each([
    ['off: the socket, whatever the header says', { trustProxy: false, trustedProxies: [], trustProxyHops: 1 }, '10.0.0.1', '1.2.3.4', '10.0.0.1'],
    ['list: right-most untrusted hop', proxies, '10.0.0.1', '6.6.6.6, 1.2.3.4, 10.9.9.9', '1.2.3.4'],
    ['list: IPv6 proxies and a mapped peer', proxies, '::ffff:10.0.0.1', '6.6.6.6, 2001:db8::7, [2001:db8::8]:443', '6.6.6.6'],
    ['list: an untrusted peer means the header is ignored', proxies, '198.51.100.1', '1.2.3.4', '198.51.100.1'],
    ['list: every hop trusted, the left-most', proxies, '10.0.0.1', '10.0.0.2', '10.0.0.2'],
    ['list: a non-address where the caller should be falls back to the proxy that passed it', proxies, '10.0.0.1', 'evil, nonsense', '10.0.0.1'],
    ['list: ports are dropped', proxies, '10.0.0.1', '1.2.3.4:5555', '1.2.3.4'],
    ['hops 1: the right-most entry', hops(1), '10.0.0.1', '6.6.6.6, 1.2.3.4', '1.2.3.4'],
    ['hops 2: the second from the right', hops(2), '10.0.0.1', '6.6.6.6, 1.2.3.4, 10.0.0.9', '1.2.3.4'],
    ['hops 3 with fewer hops: the left-most', hops(3), '10.0.0.1', '1.2.3.4', '1.2.3.4'],
    ['no header: the socket', hops(1), '10.0.0.1', undefined, '10.0.0.1'],
  ])('%s', (_name, proxy, peer, xff, expected) => {
    expect(clientAddress(peer, xff, proxy)).toBe(expected)
  })
})

describe('proxy settings', () => {
  test('CIDRs are validated, and the list or the hop count needs trust-proxy', () => {
    expect(loadSettings({}, { EVERGREEN_TRUST_PROXY: 'true', EVERGREEN_TRUSTED_PROXIES: '10.0.0.0/8,fd00::/8, 192.0.2.1' }).trustedProxies).toEqual(['10.0.0.0/8', 'fd00::/8', '192.0.2.1'])
    expect(() => loadSettings({}, { EVERGREEN_TRUST_PROXY: 'true', EVERGREEN_TRUSTED_PROXIES: '10.0.0.0/33' })).toThrow(SettingsError)
    expect(() => loadSettings({}, { EVERGREEN_TRUST_PROXY: 'true', EVERGREEN_TRUSTED_PROXIES: 'proxy.internal' })).toThrow(SettingsError)
    expect(() => loadSettings({}, { EVERGREEN_TRUSTED_PROXIES: '10.0.0.0/8' })).toThrow(/only apply with EVERGREEN_TRUST_PROXY/)
    expect(() => loadSettings({}, { EVERGREEN_TRUST_PROXY: 'true', EVERGREEN_TRUSTED_PROXIES: '10.0.0.0/8', EVERGREEN_TRUST_PROXY_HOPS: '2' })).toThrow(/not both/)
  })
})

import { mkdtempSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { afterEach, expect, test } from 'vitest'
import { loadSettings } from '../settings.js'
import { ADMIN_KEY, createClock } from '../test-support/harness.js'
import { startServer, type RunningServer } from './serve.js'
import { createTokenRoute } from './token-route.js'

// The Node fast path for POST /oauth/token (node/token-route.ts) must answer exactly as the Hono
// route does. Both are on one real server: `POST /oauth/token` takes the fast path (the first
// test proves which requests it claims), `POST /oauth/token?` — the same route to Hono, which
// ignores the empty query — takes the Hono path. Same counters, same clock, same store.

let running: RunningServer | undefined
let plain: http.Server | undefined
afterEach(async () => {
  await running?.stop()
  running = undefined
  await new Promise<void>((done) => (plain ? plain.close(() => done()) : done()))
  plain = undefined
})

interface Answer {
  status: number
  headers: Record<string, string>
  body: string
}

/** One raw HTTP/1.1 request over a fresh connection: exact bytes, no client-side rewriting. */
function send(url: string, method: string, path: string, headers: Record<string, string | string[]>, body?: Buffer | string): Promise<Answer> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const h: Record<string, string> = {}
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h[k] = Array.isArray(v) ? v.join(', ') : v
        resolve({ status: res.statusCode ?? 0, headers: h, body: Buffer.concat(chunks).toString('utf8') })
      })
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** The headers that must agree: everything but the per-response date and the connection's own. */
function comparable(a: Answer, withLength = true): Record<string, string> {
  const { date: _d, connection: _c, 'keep-alive': _k, 'content-length': length, ...rest } = a.headers
  return withLength ? { ...rest, 'content-length': length ?? '' } : rest
}

async function start(env: Record<string, string> = {}) {
  const lines: Record<string, unknown>[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>)
      done()
    },
  })
  const settings = loadSettings({}, {
    EVERGREEN_PORT: '0',
    EVERGREEN_DATA_DIR: mkdtempSync(join(tmpdir(), 'evergreen-fast-')),
    EVERGREEN_ADMIN_KEY: ADMIN_KEY,
    EVERGREEN_SECRET: 'test-secret-0123456789-0123456789-abcdef',
    EVERGREEN_RATE_LIMIT_TOKEN: '0',
    EVERGREEN_MAX_BODY_BYTES: '2048',
    ...env,
  })
  const clock = createClock()
  running = await startServer(settings, { now: clock.now, logger: pino({ level: 'info' }, sink) })
  const url = running.url
  const admin = async (path: string, body: unknown) => {
    const res = await fetch(`${url}/admin/v1${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    expect(res.status).toBeLessThan(300)
    return (await res.json()) as Record<string, string>
  }
  const user = await admin('/users', { email: 'fast@example.test' })
  const client = await admin('/clients', { name: 'fast', grant_types: ['refresh_token'], token_endpoint_auth_method: 'none' })
  const mint = async () => (await admin('/tokens', { user: user.id, client_id: client.client_id })).refresh_token!
  return { url, clientId: client.client_id!, mint, lines, service: running.service }
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

test('the fast path claims POST /oauth/token only and answers it by itself', async () => {
  const { service, mint, clientId } = await start()
  const route = createTokenRoute(service)
  plain = http.createServer((incoming, outgoing) => {
    if (!route(incoming, outgoing)) outgoing.writeHead(599).end()
  })
  await new Promise<void>((done) => plain!.listen(0, '127.0.0.1', () => done()))
  const url = `http://127.0.0.1:${(plain.address() as AddressInfo).port}`
  const body = `grant_type=refresh_token&client_id=${clientId}&refresh_token=${await mint()}`
  const ok = await send(url, 'POST', '/oauth/token', FORM, body)
  expect(ok.status).toBe(200)
  expect(JSON.parse(ok.body)).toMatchObject({ token_type: 'Bearer', refresh_token: expect.stringMatching(/^egr_/) })
  for (const [method, path] of [['GET', '/oauth/token'], ['POST', '/oauth/token?'], ['POST', '/oauth/revoke'], ['POST', '/oauth/token/']]) {
    expect((await send(url, method!, path!, FORM, method === 'GET' ? undefined : 'x=1')).status, `${method} ${path}`).toBe(599)
  }
})

test('success and every kind of refusal are the same on the fast path and the Hono path', async () => {
  const { url, clientId, mint, lines, service } = await start()
  const refresh = async (t: string) => `grant_type=refresh_token&client_id=${clientId}&refresh_token=${t}`
  const cases: [string, string, Record<string, string | string[]>, (() => Promise<string | Buffer>) | undefined, number][] = [
    ['405', 'GET', {}, undefined, 405],
    ['wrong content type', 'POST', { 'content-type': 'application/json' }, async () => '{}', 400],
    ['declared body over the limit', 'POST', FORM, async () => `grant_type=refresh_token&pad=${'a'.repeat(3000)}`, 413],
    ['chunked body over the limit', 'POST', { ...FORM, 'transfer-encoding': 'chunked' }, async () => `grant_type=x&pad=${'a'.repeat(3000)}`, 413],
    ['repeated parameter', 'POST', FORM, async () => 'grant_type=refresh_token&grant_type=refresh_token', 400],
    ['NUL in the form', 'POST', FORM, async () => 'grant_type=refresh%00token', 400],
    ['invalid UTF-8', 'POST', FORM, async () => Buffer.from([0x67, 0x3d, 0xff, 0xfe]), 400],
    ['no grant_type', 'POST', FORM, async () => 'client_id=x', 400],
    ['unsupported grant_type', 'POST', FORM, async () => 'grant_type=password&client_id=x', 400],
    ['no client', 'POST', FORM, async () => 'grant_type=refresh_token&refresh_token=egr_x', 401],
    ['malformed Basic', 'POST', { ...FORM, authorization: 'Basic !!!' }, async () => 'grant_type=refresh_token&refresh_token=egr_x', 401],
    ['two Authorization headers', 'POST', { ...FORM, authorization: ['Basic !!!', 'Basic ???'] }, async () => 'grant_type=refresh_token&refresh_token=egr_x', 401],
    ['malformed refresh token', 'POST', FORM, async () => refresh('egr_not-a-token'), 400],
    ['body and header tokens differ', 'POST', { ...FORM, 'evergreen-refresh-token': 'egr_other' }, () => refresh('egr_one'), 400],
    ['a spent token after the grace window', 'POST', FORM, async () => {
      const t = await mint()
      expect((await send(url, 'POST', '/oauth/token', FORM, await refresh(t))).status).toBe(200)
      return refresh(t)
    }, 400],
  ]
  for (const [name, method, headers, body, status] of cases) {
    // The reuse case needs the window passed before the replay on each path.
    const fastBody = await body?.()
    if (name.startsWith('a spent')) running!.service.deps.settings.refreshGraceSeconds = 0
    const fast = await send(url, method, '/oauth/token', headers, fastBody)
    const honoBody = await body?.()
    const hono = await send(url, method, '/oauth/token?', headers, honoBody)
    running!.service.deps.settings.refreshGraceSeconds = 30
    expect(fast.status, name).toBe(status)
    expect(hono.status, name).toBe(status)
    expect(fast.body, name).toBe(hono.body)
    expect(comparable(fast), name).toEqual(comparable(hono))
    expect(fast.headers['cache-control'], name).toBe('no-store')
    expect(fast.headers['x-content-type-options'], name).toBe('nosniff')
  }

  // Success: different tokens, the same shape and headers.
  const fast = await send(url, 'POST', '/oauth/token', FORM, await refresh(await mint()))
  const hono = await send(url, 'POST', '/oauth/token?', FORM, await refresh(await mint()))
  expect(fast.status).toBe(200)
  expect(hono.status).toBe(200)
  expect(comparable(fast, false)).toEqual(comparable(hono, false))
  expect(fast.headers['cache-control']).toBe('no-store')
  const [f, h] = [JSON.parse(fast.body) as Record<string, unknown>, JSON.parse(hono.body) as Record<string, unknown>]
  expect(Object.keys(f).sort()).toEqual(Object.keys(h).sort())
  expect({ ...f, access_token: 0, refresh_token: 0 }).toEqual({ ...h, access_token: 0, refresh_token: 0 })

  // Both paths counted and logged every request, under the route template.
  const metric = await service.deps.metrics.registry.getSingleMetricAsString('evergreen_http_requests_total')
  expect(metric).toMatch(/evergreen_http_requests_total\{route="\/oauth\/token",method="POST",status="200"\} [1-9]/)
  expect(metric).toMatch(/evergreen_http_requests_total\{route="\/oauth\/token",method="POST",status="413"\} 4/)
  const logged = lines.filter((l) => l.msg === 'request' && l.path === '/oauth/token')
  // Per path: the 15 cases (405 included), the success, and the first spend of the reuse case.
  expect(logged.filter((l) => l.status === 200)).toHaveLength(2 + 2)
  expect(logged.filter((l) => l.status === 413)).toHaveLength(4)
  expect(logged.length).toBe(2 * 15 + 2 + 2)
  // No token reaches the log on either path.
  expect(JSON.stringify(lines)).not.toMatch(/egr_[A-Za-z0-9]{20}/)
})

test('429 is the same on both paths, and both count against one limit', async () => {
  const { url } = await start({ EVERGREEN_RATE_LIMIT_TOKEN: '2' })
  const body = 'grant_type=password'
  expect((await send(url, 'POST', '/oauth/token', FORM, body)).status).toBe(400)
  expect((await send(url, 'POST', '/oauth/token?', FORM, body)).status).toBe(400)
  const fast = await send(url, 'POST', '/oauth/token', FORM, body)
  const hono = await send(url, 'POST', '/oauth/token?', FORM, body)
  expect(fast.status).toBe(429)
  expect(hono.status).toBe(429)
  expect(fast.body).toBe(hono.body)
  expect(JSON.parse(fast.body)).toMatchObject({ error: 'temporarily_unavailable' })
  expect(comparable(fast)).toEqual(comparable(hono))
  expect(Number(fast.headers['retry-after'])).toBeGreaterThan(0)
})

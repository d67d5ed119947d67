import type { AddressInfo } from 'node:net'
import express from 'express'
import { Hono } from 'hono'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createTestService, mint, seedUserAndClient, type TestService } from '../../server/src/test-support/harness.js'
import { requireToken as expressRequireToken } from './express.js'
import { requireToken, resourceMetadata } from './hono.js'
import { createResourceServer, type ResourceServer, type ResourceServerOptions } from './index.js'

// The `cors` option against the real Evergreen app: preflights and actual responses (refusals
// included) for allowed origins only, nothing without the option, and both adapters.

const RESOURCE = 'https://mcp.example/mcp'
const HOST = 'http://localhost:6274'
const STRANGER = 'https://evil.example'

let svc: TestService
let token: string

const resourceServer = (extra: Partial<ResourceServerOptions> = {}): ResourceServer =>
  createResourceServer({
    resource: RESOURCE,
    issuer: 'http://evergreen.test',
    now: svc.clock.now,
    fetch: (input, init) => Promise.resolve(svc.app.fetch(new Request(input, init))),
    cors: { origins: [HOST] },
    ...extra,
  })

const preflightOf = (origin: string, url = 'https://mcp.example/mcp') =>
  new Request(url, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, mcp-protocol-version' } })
const call = (headers: Record<string, string>) => new Request('https://mcp.example/mcp', { method: 'POST', headers })
const cors = (res: Response) => ({ origin: res.headers.get('access-control-allow-origin'), expose: res.headers.get('access-control-expose-headers'), vary: res.headers.get('vary') })

beforeAll(async () => {
  svc = await createTestService()
  const { userId, clientId } = await seedUserAndClient(svc, { allowed_audiences: [RESOURCE] })
  token = (await mint(svc, userId, clientId, { resource: RESOURCE })).access_token
})

describe('the core', () => {
  test('a preflight from an allowed origin: 204 echoing it, with methods and the MCP request headers', async () => {
    const res = await resourceServer().handle(preflightOf(HOST), () => new Response('reached'))
    expect(res.status).toBe(204)
    expect(res.headers.get('access-control-allow-origin')).toBe(HOST)
    expect(res.headers.get('access-control-allow-credentials')).toBeNull()
    expect(res.headers.get('access-control-allow-methods')).toBe('GET, POST, DELETE')
    expect(res.headers.get('access-control-allow-headers')).toBe('authorization, content-type, dpop, mcp-protocol-version, mcp-session-id, last-event-id')
    expect(res.headers.get('vary')).toBe('Origin')
  })

  test('a preflight from any other origin is 403 without CORS headers', async () => {
    const res = await resourceServer().handle(preflightOf(STRANGER), () => new Response('reached'))
    expect(res.status).toBe(403)
    expect(res.headers.get('access-control-allow-origin')).toBeNull()
  })

  test('the 401 challenge and a served response are readable by the allowed origin only', async () => {
    const rs = resourceServer()
    const refused = await rs.handle(call({ origin: HOST }), () => new Response('reached'))
    expect(refused.status).toBe(401)
    expect(cors(refused)).toEqual({ origin: HOST, expose: 'WWW-Authenticate, Mcp-Session-Id', vary: 'Origin' })
    const served = await rs.handle(call({ origin: HOST, authorization: `Bearer ${token}` }), () => new Response('reached'))
    expect(await served.text()).toBe('reached')
    expect(cors(served)).toEqual({ origin: HOST, expose: 'WWW-Authenticate, Mcp-Session-Id', vary: 'Origin' })
    const stranger = await rs.handle(call({ origin: STRANGER, authorization: `Bearer ${token}` }), () => new Response('reached'))
    expect(cors(stranger)).toEqual({ origin: null, expose: null, vary: 'Origin' })
    // A response with immutable headers (a fetched one) is copied, not lost.
    const immutable = await rs.handle(call({ origin: HOST, authorization: `Bearer ${token}` }), () => Response.redirect('https://mcp.example/elsewhere', 307))
    expect(cors(immutable).origin).toBe(HOST)
  })

  test('without the option nothing changes: a preflight is refused as a request without a token, no CORS headers', async () => {
    const rs = resourceServer({ cors: undefined })
    expect(rs.preflight(preflightOf(HOST))).toBeUndefined()
    const res = await rs.handle(preflightOf(HOST), () => new Response('reached'))
    expect(res.status).toBe(401)
    expect(cors(res)).toEqual({ origin: null, expose: null, vary: null })
  })

  test('the metadata stays public to every origin, with or without the option', async () => {
    const res = resourceServer().metadataResponse(new Request('https://mcp.example/.well-known/oauth-protected-resource/mcp', { headers: { origin: STRANGER } }))!
    expect(res.headers.get('access-control-allow-origin')).toBe('*')
  })

  test('an allow-list entry that is not an origin is a TypeError at start-up', () => {
    for (const origin of ['*', 'https://app.example/', 'https://app.example/path', 'app.example']) {
      expect(() => resourceServer({ cors: { origins: [origin] } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }))
    }
  })
})

describe('adapters', () => {
  test('Hono: requireToken answers the preflight and adds the headers to the route’s response', async () => {
    const rs = resourceServer()
    const app = new Hono()
    app.use(resourceMetadata(rs))
    app.all('/mcp', requireToken(rs), (c) => c.json({ sub: c.get('evergreenToken').subject }))
    const preflight = await app.request(preflightOf(HOST))
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-origin')).toBe(HOST)
    const served = await app.request(call({ origin: HOST, authorization: `Bearer ${token}` }))
    expect(served.status).toBe(200)
    expect(cors(served)).toEqual({ origin: HOST, expose: 'WWW-Authenticate, Mcp-Session-Id', vary: 'Origin' })
  })

  describe('Express, on a real HTTP server', () => {
    let base: string
    let close: () => Promise<void>
    beforeAll(async () => {
      const app = express()
      const listening = app.listen(0, '127.0.0.1')
      await new Promise<void>((resolve) => listening.once('listening', () => resolve()))
      base = `http://127.0.0.1:${(listening.address() as AddressInfo).port}`
      const rs = resourceServer({ resource: `${base}/mcp` })
      app.all('/mcp', expressRequireToken(rs), (req, res) => void res.json({ sub: req.evergreenToken!.subject }))
      close = () => new Promise((resolve) => listening.close(() => resolve()))
      const { userId, clientId } = await seedUserAndClient(svc, { allowed_audiences: [`${base}/mcp`] })
      token = (await mint(svc, userId, clientId, { resource: `${base}/mcp` })).access_token
    })
    afterAll(() => close?.())

    test('preflight, refusal and a served request carry the headers for the allowed origin', async () => {
      const preflight = await fetch(`${base}/mcp`, { method: 'OPTIONS', headers: { origin: HOST, 'access-control-request-method': 'POST' } })
      expect(preflight.status).toBe(204)
      expect(preflight.headers.get('access-control-allow-origin')).toBe(HOST)
      const refused = await fetch(`${base}/mcp`, { method: 'POST', headers: { origin: HOST } })
      expect(refused.status).toBe(401)
      expect(cors(refused).origin).toBe(HOST)
      const served = await fetch(`${base}/mcp`, { method: 'POST', headers: { origin: HOST, authorization: `Bearer ${token}` } })
      expect(served.status).toBe(200)
      expect(cors(served)).toEqual({ origin: HOST, expose: 'WWW-Authenticate, Mcp-Session-Id', vary: 'Origin' })
    })
  })
})

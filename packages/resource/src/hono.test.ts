import { Hono } from 'hono'
import { beforeAll, expect, test } from 'vitest'
import { createTestService, mint, seedUserAndClient, type TestService } from '../../server/src/test-support/harness.js'
import { requireToken, resourceMetadata } from './hono.js'
import { createResourceServer } from './index.js'

// The Hono adapter against the real Evergreen app: metadata, the challenge, a per-route scope.

const RESOURCE = 'https://api.example/v1'
let svc: TestService
let app: Hono
let token: string
let userId: string

beforeAll(async () => {
  svc = await createTestService()
  const rs = createResourceServer({
    resource: RESOURCE,
    issuer: 'http://evergreen.test',
    now: svc.clock.now,
    fetch: (input, init) => Promise.resolve(svc.app.fetch(new Request(input, init))),
  })
  app = new Hono()
  app.use(resourceMetadata(rs))
  app.get('/v1/notes', requireToken(rs, { scopes: ['notes:read'] }), (c) => c.json({ sub: c.get('evergreenToken').subject }))
  app.post('/v1/notes', requireToken(rs, { scopes: ['notes:write'] }), (c) => c.json({ written: true }))
  const seeded = await seedUserAndClient(svc, { allowed_scopes: ['notes:read', 'notes:write'], allowed_audiences: [RESOURCE] })
  userId = seeded.userId
  token = (await mint(svc, userId, seeded.clientId, { resource: RESOURCE, scope: 'notes:read' })).access_token
})

const at = (path: string, init?: RequestInit) => app.request(`https://api.example${path}`, init)

test('metadata at the path-suffixed well-known URL', async () => {
  const res = await at('/.well-known/oauth-protected-resource/v1')
  expect(res.status).toBe(200)
  expect(await res.json()).toMatchObject({ resource: RESOURCE, authorization_servers: ['http://evergreen.test'] })
})

test('the route reads the verified token; a route needing another scope answers 403 naming it', async () => {
  expect((await at('/v1/notes')).status).toBe(401)
  const ok = await at('/v1/notes', { headers: { authorization: `Bearer ${token}` } })
  expect(await ok.json()).toEqual({ sub: userId })
  const denied = await at('/v1/notes', { method: 'POST', headers: { authorization: `Bearer ${token}` } })
  expect(denied.status).toBe(403)
  expect(denied.headers.get('www-authenticate')).toContain('error="insufficient_scope"')
  expect(denied.headers.get('www-authenticate')).toContain('scope="notes:write"')
})

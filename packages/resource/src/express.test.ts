import type { AddressInfo } from 'node:net'
import express from 'express'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { createTestService, mint, seedUserAndClient, type TestService } from '../../server/src/test-support/harness.js'
import { requireToken, resourceMetadata } from './express.js'
import { createResourceServer } from './index.js'

// The Express adapter on a real HTTP server, verifying tokens from the real Evergreen app.

let svc: TestService
let base: string
let close: () => Promise<void>
let userId: string
let clientId: string

beforeAll(async () => {
  svc = await createTestService()
  const app = express()
  const listening = app.listen(0, '127.0.0.1')
  await new Promise<void>((resolve) => listening.once('listening', () => resolve()))
  base = `http://127.0.0.1:${(listening.address() as AddressInfo).port}`
  const rs = createResourceServer({
    resource: `${base}/api`,
    issuer: 'http://evergreen.test',
    scopes: ['notes:read'],
    now: svc.clock.now,
    fetch: (input, init) => Promise.resolve(svc.app.fetch(new Request(input, init))),
  })
  app.use(resourceMetadata(rs))
  app.get('/api/notes', requireToken(rs), (req, res) => {
    res.json({ sub: req.evergreenToken!.subject, auth: { clientId: req.auth!.clientId, scopes: req.auth!.scopes, resource: String(req.auth!.resource) } })
  })
  close = () => new Promise((resolve) => listening.close(() => resolve()))
  ;({ userId, clientId } = await seedUserAndClient(svc, { allowed_scopes: ['notes:read'], allowed_audiences: [`${base}/api`] }))
})

afterAll(() => close?.())

test('metadata, 401 challenge, and a verified token reaching the route as req.evergreenToken and req.auth', async () => {
  const meta = await fetch(`${base}/.well-known/oauth-protected-resource/api`)
  expect(await meta.json()).toMatchObject({ resource: `${base}/api`, authorization_servers: ['http://evergreen.test'] })

  const anonymous = await fetch(`${base}/api/notes`)
  expect(anonymous.status).toBe(401)
  expect(anonymous.headers.get('www-authenticate')).toMatch(new RegExp(`^Bearer resource_metadata="${base}/.well-known/oauth-protected-resource/api", scope="notes:read"`))

  const { access_token } = await mint(svc, userId, clientId, { resource: `${base}/api`, scope: 'notes:read' })
  const ok = await fetch(`${base}/api/notes`, { headers: { authorization: `Bearer ${access_token}` } })
  expect(ok.status).toBe(200)
  expect(await ok.json()).toEqual({ sub: userId, auth: { clientId, scopes: ['notes:read'], resource: `${base}/api` } })

  svc.clock.advance(svc.settings.accessTokenTtl + 10)
  const expired = await fetch(`${base}/api/notes`, { headers: { authorization: `Bearer ${access_token}` } })
  expect(expired.status).toBe(401)
  expect(await expired.json()).toEqual({ error: 'invalid_token', error_description: 'the access token expired' })
})

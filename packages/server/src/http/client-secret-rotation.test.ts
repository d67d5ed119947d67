import { afterAll, beforeAll, expect, test } from 'vitest'
import { createTestService, json, type TestService } from '../test-support/harness.js'

let svc: TestService
let clientId: string
let firstSecret: string

beforeAll(async () => {
  svc = await createTestService()
  const created = await json<{ client_id: string; client_secret: string }>(
    await svc.admin('POST', '/clients', { name: 'svc', grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic' }),
    201,
  )
  clientId = created.client_id
  firstSecret = created.client_secret
})
afterAll(() => svc.close())

const basic = (id: string, secret: string) => ({ authorization: `Basic ${btoa(`${id}:${secret}`)}` })
const token = (secret: string) => svc.form('/oauth/token', { grant_type: 'client_credentials' }, basic(clientId, secret))

test('after a rotation both secrets work until the overlap ends, then only the new one', async () => {
  const rotated = await json<{ client_secret: string; previous_secret_expires_at: number }>(
    await svc.admin('POST', `/clients/${clientId}/secret`, { overlap: 86_400 }),
  )
  expect(rotated.client_secret).not.toBe(firstSecret)
  expect(rotated.previous_secret_expires_at).toBe(svc.clock.now() + 86_400)

  expect((await token(firstSecret)).status).toBe(200)
  expect((await token(rotated.client_secret)).status).toBe(200)

  svc.clock.advance(86_399)
  expect((await token(firstSecret)).status).toBe(200)
  svc.clock.advance(1)
  const refused = await token(firstSecret)
  expect(refused.status).toBe(401)
  expect(await refused.json()).toMatchObject({ error: 'invalid_client' })
  expect((await token(rotated.client_secret)).status).toBe(200)

  // The view shows when the overlap ends, never a hash.
  const view = await json<Record<string, unknown>>(await svc.admin('GET', `/clients/${clientId}`))
  expect(view.previous_secret_expires_at).toBe(rotated.previous_secret_expires_at)
  expect(view).not.toHaveProperty('previous_secret_hash')
  expect(view).not.toHaveProperty('secret_hash')

  const audit = await json<{ items: { type: string; data: Record<string, unknown> }[] }>(
    await svc.admin('GET', `/audit?type=client.secret_rotated`),
  )
  expect(audit.items).toHaveLength(1)
  expect(audit.items[0]!.data).toMatchObject({ overlap_seconds: 86_400 })
})

test('a rotation without overlap ends the old secret at once, and only two secrets are ever valid', async () => {
  const a = await json<{ client_secret: string }>(await svc.admin('POST', `/clients/${clientId}/secret`, { overlap: 3600 }))
  const b = await json<{ client_secret: string; previous_secret_expires_at: number | null }>(
    await svc.admin('POST', `/clients/${clientId}/secret`, {}),
  )
  expect(b.previous_secret_expires_at).toBeNull()
  expect((await token(a.client_secret)).status).toBe(401)
  expect((await token(b.client_secret)).status).toBe(200)
})

test('a client without a secret has none to rotate', async () => {
  const pub = await json<{ client_id: string }>(
    await svc.admin('POST', '/clients', { name: 'cli', grant_types: ['refresh_token'], token_endpoint_auth_method: 'none' }),
    201,
  )
  expect((await svc.admin('POST', `/clients/${pub.client_id}/secret`, { overlap: 60 })).status).toBe(400)
  expect((await svc.admin('POST', '/clients/nope/secret', {})).status).toBe(404)
})

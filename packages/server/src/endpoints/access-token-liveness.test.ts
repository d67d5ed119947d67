import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { signAccessToken } from '../sessions/access-token.js'
import { createTestService, json, mint, seedUserAndClient, type TestService } from '../test-support/harness.js'

// Regression: a deleted client's client_credentials tokens stayed active (no session, so
// introspection checked only signature and expiry) and revocation could not end them.

let svc: TestService
beforeEach(async () => {
  svc = await createTestService()
})
afterEach(async () => {
  await svc?.close()
})

async function confidential(name: string) {
  return json<{ client_id: string; client_secret: string }>(
    await svc.admin('POST', '/clients', { name, grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_post' }),
    201,
  )
}

async function serviceToken(client: { client_id: string; client_secret: string }) {
  const res = await json<{ access_token: string }>(
    await svc.form('/oauth/token', { grant_type: 'client_credentials', client_id: client.client_id, client_secret: client.client_secret }),
  )
  return res.access_token
}

describe('session-less access tokens', () => {
  test("a deleted client's client_credentials token is inactive at introspection", async () => {
    const rs = await confidential('rs')
    const worker = await confidential('worker')
    const token = await serviceToken(worker)
    const ask = async () => json<{ active: boolean }>(await svc.form('/oauth/introspect', { token, client_id: rs.client_id, client_secret: rs.client_secret }))
    expect(await ask()).toMatchObject({ active: true, sub: worker.client_id })
    expect((await svc.admin('DELETE', `/clients/${worker.client_id}`)).status).toBe(204)
    expect(await ask()).toEqual({ active: false })
  })

  test('RFC 7009 revocation of a client_credentials token denies its jti until exp, by its own client only', async () => {
    const rs = await confidential('rs')
    const worker = await confidential('worker')
    const other = await confidential('other')
    const token = await serviceToken(worker)
    const ask = async () => json<{ active: boolean }>(await svc.form('/oauth/introspect', { token, client_id: rs.client_id, client_secret: rs.client_secret }))

    const foreign = await svc.form('/oauth/revoke', { token, client_id: other.client_id, client_secret: other.client_secret })
    expect(await json(foreign, 400)).toMatchObject({ error: 'unauthorized_client' })
    expect(await ask()).toMatchObject({ active: true })

    expect((await svc.form('/oauth/revoke', { token, client_id: worker.client_id, client_secret: worker.client_secret })).status).toBe(200)
    expect(await ask()).toEqual({ active: false })
    const audit = await json<{ items: { type: string; client_id: string }[] }>(await svc.admin('GET', '/audit?type=access_token.revoked'))
    expect(audit.items).toMatchObject([{ type: 'access_token.revoked', client_id: worker.client_id }])
    // A fresh token of the same client is unaffected.
    const fresh = await serviceToken(worker)
    expect(await json(await svc.form('/oauth/introspect', { token: fresh, client_id: rs.client_id, client_secret: rs.client_secret }))).toMatchObject({ active: true })
  })
})

describe('session access tokens', () => {
  test("a token naming a live session but another subject is inactive, and userinfo refuses it", async () => {
    const rs = await confidential('rs')
    const ada = await seedUserAndClient(svc)
    const issued = await mint(svc, ada.userId, ada.clientId, { scope: 'openid' })
    // Signed by our own key (as a bug elsewhere, or a mix-up of sessions, could produce it).
    const forged = signAccessToken(svc.deps, { sub: 'usr_someone_else', client_id: ada.clientId, scope: 'openid', audience: null, sid: issued.session_id }, 300)
    const ask = async (token: string) => json<{ active: boolean }>(await svc.form('/oauth/introspect', { token, client_id: rs.client_id, client_secret: rs.client_secret }))
    expect(await ask(issued.access_token)).toMatchObject({ active: true })
    expect(await ask(forged)).toEqual({ active: false })
    expect((await svc.fetch('/userinfo', { headers: { authorization: `Bearer ${forged}` } })).status).toBe(401)
    expect((await svc.fetch('/userinfo', { headers: { authorization: `Bearer ${issued.access_token}` } })).status).toBe(200)
  })

  test("a deleted client's session token fails userinfo", async () => {
    const ada = await seedUserAndClient(svc)
    const issued = await mint(svc, ada.userId, ada.clientId, { scope: 'openid' })
    // Sessions are revoked with the client; the client check stands on its own too, so a forged
    // or lagging session row cannot keep a deleted client's token alive.
    const token = signAccessToken(svc.deps, { sub: ada.userId, client_id: 'cli_gone', scope: 'openid', audience: null, sid: issued.session_id }, 300)
    expect((await svc.fetch('/userinfo', { headers: { authorization: `Bearer ${token}` } })).status).toBe(401)
  })
})

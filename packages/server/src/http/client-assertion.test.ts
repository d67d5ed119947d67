import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose'
import * as oauth from 'oauth4webapi'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createClock, createTestService, json, type TestService } from '../test-support/harness.js'

const ISSUER = 'http://evergreen.test'
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

interface MachineClient {
  clientId: string
  key: CryptoKey
  kid: string
}

async function keyPair(kid: string): Promise<{ key: CryptoKey; jwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256')
  return { key: privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } }
}

async function registerMachine(svc: TestService, client: Record<string, unknown>): Promise<string> {
  const created = await json<{ client_id: string; client_secret?: string }>(
    await svc.admin('POST', '/clients', {
      name: 'machine',
      grant_types: ['client_credentials'],
      token_endpoint_auth_method: 'private_key_jwt',
      ...client,
    }),
    201,
  )
  expect(created.client_secret).toBeUndefined()
  return created.client_id
}

function assertion(svc: TestService, m: MachineClient, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}) {
  const now = svc.clock.now()
  return new SignJWT({ jti: crypto.randomUUID(), ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: m.kid, ...header })
    .setIssuer(m.clientId)
    .setSubject(m.clientId)
    .setAudience((claims.aud as string | undefined) ?? ISSUER)
    .setIssuedAt(now)
    .setExpirationTime((claims.exp as number | undefined) ?? now + 60)
    .sign(m.key)
}

function clientCredentials(svc: TestService, jwt: string, extra: Record<string, string> = {}) {
  return svc.form('/oauth/token', { grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: jwt, ...extra })
}

async function expectInvalidClient(res: Response) {
  expect(res.status).toBe(401)
  expect(await res.json()).toMatchObject({ error: 'invalid_client' })
}

describe('private_key_jwt with inline jwks', () => {
  let svc: TestService
  let m: MachineClient

  beforeAll(async () => {
    // oauth4webapi signs with the real clock, so the service runs on it too.
    svc = await createTestService({ clock: createClock(Math.floor(Date.now() / 1000)) })
    const { key, jwk } = await keyPair('k1')
    const clientId = await registerMachine(svc, { jwks: { keys: [jwk] } })
    m = { clientId, key, kid: 'k1' }
  })
  afterAll(() => svc.close())

  test('oauth4webapi PrivateKeyJwt client_credentials works unmodified', async () => {
    const as: oauth.AuthorizationServer = await oauth.processDiscoveryResponse(
      new URL(ISSUER),
      await svc.fetch('/.well-known/oauth-authorization-server'),
    )
    expect(as.token_endpoint_auth_methods_supported).toContain('private_key_jwt')
    expect(as.token_endpoint_auth_signing_alg_values_supported).toContain('ES256')
    expect(as.token_endpoint_auth_signing_alg_values_supported).not.toContain('HS256')
    const client: oauth.Client = { client_id: m.clientId }
    const res = await oauth.clientCredentialsGrantRequest(as, client, oauth.PrivateKeyJwt({ key: m.key, kid: m.kid }), new URLSearchParams(), {
      [oauth.customFetch]: async (url, init) => svc.app.fetch(new Request(url, init)),
      [oauth.allowInsecureRequests]: true,
    })
    const tokens = await oauth.processClientCredentialsResponse(as, client, res)
    expect(tokens.access_token).toBeTruthy()
    expect(tokens.refresh_token).toBeUndefined()
  })

  test('the token endpoint URL is an accepted audience too', async () => {
    const res = await clientCredentials(svc, await assertion(svc, m, { aud: `${ISSUER}/oauth/token` }))
    expect(res.status).toBe(200)
  })

  test('a replayed jti is invalid_client', async () => {
    const jwt = await assertion(svc, m)
    expect((await clientCredentials(svc, jwt)).status).toBe(200)
    await expectInvalidClient(await clientCredentials(svc, jwt))
  })

  test('a wrong aud is invalid_client', async () => {
    await expectInvalidClient(await clientCredentials(svc, await assertion(svc, m, { aud: 'https://elsewhere.example' })))
  })

  test('HS256 is invalid_client even when signed with the JWK set text', async () => {
    const now = svc.clock.now()
    const jwt = await new SignJWT({ jti: crypto.randomUUID() })
      .setProtectedHeader({ alg: 'HS256', kid: m.kid })
      .setIssuer(m.clientId).setSubject(m.clientId).setAudience(ISSUER).setIssuedAt(now).setExpirationTime(now + 60)
      .sign(new TextEncoder().encode('a-shared-secret-the-server-never-accepts'))
    await expectInvalidClient(await clientCredentials(svc, jwt))
  })

  test('an expired assertion is invalid_client', async () => {
    const jwt = await assertion(svc, m, { exp: svc.clock.now() - 120 })
    await expectInvalidClient(await clientCredentials(svc, jwt))
  })

  test('an assertion valid too far ahead is invalid_client', async () => {
    await expectInvalidClient(await clientCredentials(svc, await assertion(svc, m, { exp: svc.clock.now() + 3600 })))
  })

  test('a missing jti is invalid_client', async () => {
    const now = svc.clock.now()
    const jwt = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: m.kid })
      .setIssuer(m.clientId).setSubject(m.clientId).setAudience(ISSUER).setIssuedAt(now).setExpirationTime(now + 60)
      .sign(m.key)
    await expectInvalidClient(await clientCredentials(svc, jwt))
  })

  test('an unknown kid is invalid_client', async () => {
    await expectInvalidClient(await clientCredentials(svc, await assertion(svc, m, {}, { kid: 'not-registered' })))
  })

  test('a key the client did not register is invalid_client', async () => {
    const other = await keyPair('k1')
    await expectInvalidClient(await clientCredentials(svc, await assertion(svc, { ...m, key: other.key })))
  })

  test('a secret is refused for a private_key_jwt client', async () => {
    await expectInvalidClient(await svc.form('/oauth/token', { grant_type: 'client_credentials', client_id: m.clientId, client_secret: 'egs_guess' }))
  })

  test('revocation and introspection accept the assertion too', async () => {
    const got = await json<{ access_token: string }>(await clientCredentials(svc, await assertion(svc, m)))
    const introspected = await svc.form('/oauth/introspect', {
      token: got.access_token, client_assertion_type: ASSERTION_TYPE, client_assertion: await assertion(svc, m),
    })
    expect(introspected.status).toBe(200)
    expect(await introspected.json()).toMatchObject({ active: true })
    const revoked = await svc.form('/oauth/revoke', {
      token: got.access_token, client_assertion_type: ASSERTION_TYPE, client_assertion: await assertion(svc, m),
    })
    expect(revoked.status).toBe(200)
  })
})

describe('private_key_jwt with jwks_uri', () => {
  let svc: TestService
  let server: Server
  let fetched = 0
  let m: MachineClient

  beforeAll(async () => {
    const { key, jwk } = await keyPair('remote-1')
    server = createServer((req, res) => {
      fetched++
      if (req.url === '/huge') {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ keys: [jwk], pad: 'x'.repeat(200_000) }))
        return
      }
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ keys: [jwk] }))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    svc = await createTestService()
    const clientId = await registerMachine(svc, { jwks_uri: `${base}/jwks.json` })
    m = { clientId, key, kid: 'remote-1' }
    const hugeId = await registerMachine(svc, { jwks_uri: `${base}/huge` })
    hugeClient = { clientId: hugeId, key, kid: 'remote-1' }
  })
  let hugeClient: MachineClient
  afterAll(async () => {
    await svc.close()
    await new Promise((resolve) => server.close(resolve))
  })

  test('keys come from the loopback jwks_uri, fetched once and cached', async () => {
    expect((await clientCredentials(svc, await assertion(svc, m))).status).toBe(200)
    expect((await clientCredentials(svc, await assertion(svc, m))).status).toBe(200)
    expect(fetched).toBe(1)
  })

  test('an oversized JWKS document is refused', async () => {
    await expectInvalidClient(await clientCredentials(svc, await assertion(svc, hugeClient)))
  })

  test('registration refuses a plain-http jwks_uri off loopback', async () => {
    const res = await svc.admin('POST', '/clients', {
      name: 'm', grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'http://keys.example/jwks.json',
    })
    expect(res.status).toBe(400)
  })

  test('registration refuses a private key in jwks', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true })
    const res = await svc.admin('POST', '/clients', {
      name: 'm', grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [await exportJWK(privateKey)] },
    })
    expect(res.status).toBe(400)
  })
})

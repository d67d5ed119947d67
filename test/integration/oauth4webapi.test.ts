import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import * as oauth from 'oauth4webapi'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createFixture, mintSession, type Fixture, type ServerProcess, startServerProcess } from '../support/server-process.js'

// A third-party, standards-strict OAuth client (panva/oauth4webapi v3) used exactly as its
// README shows, against the real service in a child process. If Evergreen drifts from RFC 6749 /
// 7009 / 7662 / 8414 in a way a careful client notices, this file fails.

let server: ServerProcess
let fx: Fixture
let as: oauth.AuthorizationServer
let jwks: ReturnType<typeof createRemoteJWKSet>

const insecure = { [oauth.allowInsecureRequests]: true } as const

beforeAll(async () => {
  server = await startServerProcess()
  fx = await createFixture(server, 'o4w')
  const issuer = new URL(server.url)
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure))
  jwks = createRemoteJWKSet(new URL(as.jwks_uri!))
})

afterAll(async () => {
  await server?.stop()
})

/** Verifies an access token the way a resource server would: JWKS over HTTP, RFC 9068 typ. */
async function verifyAccessToken(token: string, audience: string) {
  const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer: as.issuer, audience, typ: 'at+jwt' })
  expect(protectedHeader.alg).toBe('ES256')
  expect(as.access_token_signing_alg_values_supported).toContain(protectedHeader.alg)
  return payload
}

describe('discovery', () => {
  test('both well-known documents satisfy oauth4webapi and agree', async () => {
    const issuer = new URL(server.url)
    const oauth2 = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oauth2' }))
    expect(oauth2).toEqual(as)
    expect(as.issuer).toBe(server.url)
    expect(as.token_endpoint).toBe(`${server.url}/oauth/token`)
    expect(as.revocation_endpoint).toBe(`${server.url}/oauth/revoke`)
    expect(as.introspection_endpoint).toBe(`${server.url}/oauth/introspect`)
    expect(as.grant_types_supported).toEqual(expect.arrayContaining(['refresh_token', 'client_credentials']))
  })

  // Regression: the default issuer used to be built from the configured port before listening,
  // so `serve --port 0` advertised `http://127.0.0.1:0` and a standards client refused discovery.
  test('with --port 0, discovery names the port the server actually listens on', async () => {
    const ephemeral = await startServerProcess({ ephemeralPort: true })
    try {
      const issuer = new URL(ephemeral.url)
      const meta = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure))
      expect(meta.token_endpoint).toBe(`${ephemeral.url}/oauth/token`)
    } finally {
      await ephemeral.stop()
    }
  })
})

describe('refresh rotation through oauth4webapi', () => {
  test('a public client (None auth) refreshes repeatedly; every refresh token is new, every access token verifies', async () => {
    const client: oauth.Client = { client_id: fx.publicClientId }
    const minted = await mintSession(server, fx.userId, fx.publicClientId)
    const seen = new Set<string>([minted.refresh_token])
    let refreshToken = minted.refresh_token
    const rounds = 6
    for (let i = 0; i < rounds; i++) {
      const res = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), refreshToken, insecure)
      const tokens = await oauth.processRefreshTokenResponse(as, client, res)
      expect(tokens.token_type).toBe('bearer') // oauth4webapi normalises to lowercase
      expect(tokens.refresh_token).toMatch(/^egr_/)
      expect(seen.has(tokens.refresh_token!)).toBe(false)
      seen.add(tokens.refresh_token!)
      expect(tokens.expires_in).toBeGreaterThan(0)
      expect(tokens.refresh_token_expires_in).toBeGreaterThan(0)
      const claims = await verifyAccessToken(tokens.access_token, fx.publicClientId)
      expect(claims).toMatchObject({ sub: fx.userId, sid: minted.session_id, client_id: fx.publicClientId })
      refreshToken = tokens.refresh_token!
    }
    expect(seen.size).toBe(rounds + 1)
  })

  test('a confidential client (ClientSecretBasic) refreshes, and its tokens pass validateJwtAccessToken', async () => {
    const client: oauth.Client = { client_id: fx.confidentialClientId }
    const auth = oauth.ClientSecretBasic(fx.confidentialClientSecret)
    const minted = await mintSession(server, fx.userId, fx.confidentialClientId)
    let refreshToken = minted.refresh_token
    for (let i = 0; i < 5; i++) {
      const tokens = await oauth.processRefreshTokenResponse(
        as,
        client,
        await oauth.refreshTokenGrantRequest(as, client, auth, refreshToken, insecure),
      )
      expect(tokens.refresh_token).not.toBe(refreshToken)
      refreshToken = tokens.refresh_token!
      // oauth4webapi's own RFC 9068 resource-server check, fetching the JWKS itself.
      const request = new Request('http://resource.test/', { headers: { authorization: `Bearer ${tokens.access_token}` } })
      const claims = await oauth.validateJwtAccessToken(as, request, fx.confidentialClientId, insecure)
      expect(claims).toMatchObject({ sub: fx.userId, sid: minted.session_id, client_id: fx.confidentialClientId })
    }
  })

  test('the wrong client secret is refused (invalid_client, 401)', async () => {
    const client: oauth.Client = { client_id: fx.confidentialClientId }
    const minted = await mintSession(server, fx.userId, fx.confidentialClientId)
    const res = await oauth.refreshTokenGrantRequest(as, client, oauth.ClientSecretBasic('egs_wrong-secret'), minted.refresh_token, insecure)
    expect(res.status).toBe(401)
    const err = await oauth.processRefreshTokenResponse(as, client, res).then(
      () => undefined,
      (e: unknown) => e,
    )
    // RFC 6749 §5.2: a failed Basic authentication carries WWW-Authenticate, which oauth4webapi v3
    // reports as a challenge error rather than a ResponseBodyError.
    expect(err).toBeInstanceOf(oauth.WWWAuthenticateChallengeError)
    const challenge = err as oauth.WWWAuthenticateChallengeError
    expect(challenge.status).toBe(401)
    expect(challenge.cause[0]?.scheme).toBe('basic')
    expect(await challenge.response.json()).toMatchObject({ error: 'invalid_client' })
  })
})

describe('introspection and revocation through oauth4webapi', () => {
  test('introspect active tokens, revoke the refresh token, then everything is inactive and refresh is invalid_grant', async () => {
    const publicClient: oauth.Client = { client_id: fx.publicClientId }
    const resourceServer: oauth.Client = { client_id: fx.confidentialClientId }
    const rsAuth = oauth.ClientSecretBasic(fx.confidentialClientSecret)
    const introspect = async (token: string) =>
      oauth.processIntrospectionResponse(as, resourceServer, await oauth.introspectionRequest(as, resourceServer, rsAuth, token, insecure))

    const minted = await mintSession(server, fx.userId, fx.publicClientId)
    const tokens = await oauth.processRefreshTokenResponse(
      as,
      publicClient,
      await oauth.refreshTokenGrantRequest(as, publicClient, oauth.None(), minted.refresh_token, insecure),
    )
    const accessToken = tokens.access_token
    const refreshToken = tokens.refresh_token!

    const at = await introspect(accessToken)
    expect(at).toMatchObject({ active: true, sub: fx.userId, client_id: fx.publicClientId, sid: minted.session_id, iss: as.issuer })
    const rt = await introspect(refreshToken)
    expect(rt).toMatchObject({ active: true, token_type: 'refresh_token', client_id: fx.publicClientId, sid: minted.session_id })
    // The spent predecessor is no longer an active token.
    expect(await introspect(minted.refresh_token)).toEqual({ active: false })
    expect(await introspect('not-a-token')).toEqual({ active: false })

    await oauth.processRevocationResponse(await oauth.revocationRequest(as, publicClient, oauth.None(), refreshToken, insecure))

    expect(await introspect(refreshToken)).toEqual({ active: false })
    expect(await introspect(accessToken)).toEqual({ active: false })

    const res = await oauth.refreshTokenGrantRequest(as, publicClient, oauth.None(), refreshToken, insecure)
    const err = await oauth.processRefreshTokenResponse(as, publicClient, res).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(oauth.ResponseBodyError)
    const rbe = err as oauth.ResponseBodyError
    expect(rbe.error).toBe('invalid_grant')
    expect(rbe.status).toBe(400)
    expect(rbe.cause).toMatchObject({ error: 'invalid_grant', error_reason: 'revoked' })
  })

  test('revoking an unknown token is 200, as RFC 7009 §2.2 requires', async () => {
    const publicClient: oauth.Client = { client_id: fx.publicClientId }
    await expect(
      oauth.processRevocationResponse(await oauth.revocationRequest(as, publicClient, oauth.None(), 'egr_unknown', insecure)),
    ).resolves.toBeUndefined()
  })

  test('introspection refuses a public client', async () => {
    const publicClient: oauth.Client = { client_id: fx.publicClientId }
    const res = await oauth.introspectionRequest(as, publicClient, oauth.None(), 'anything', insecure)
    expect(res.status).toBe(401)
    await res.body?.cancel()
  })
})

describe('client_credentials through oauth4webapi', () => {
  test('a confidential client gets a verifiable access token and no refresh token', async () => {
    const client: oauth.Client = { client_id: fx.confidentialClientId }
    const res = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(fx.confidentialClientSecret), {}, insecure)
    const tokens = await oauth.processClientCredentialsResponse(as, client, res)
    expect(tokens.refresh_token).toBeUndefined()
    expect(tokens.token_type).toBe('bearer')
    expect(decodeProtectedHeader(tokens.access_token).typ).toBe('at+jwt')
    const claims = await verifyAccessToken(tokens.access_token, fx.confidentialClientId)
    expect(claims.sub).toBe(fx.confidentialClientId)
    expect(claims.client_id).toBe(fx.confidentialClientId)
    expect(claims.sid).toBeUndefined()
  })

  test('a public client may not use it (unauthorized_client)', async () => {
    const client: oauth.Client = { client_id: fx.publicClientId }
    const res = await oauth.clientCredentialsGrantRequest(as, client, oauth.None(), {}, insecure)
    const err = await oauth.processClientCredentialsResponse(as, client, res).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(oauth.ResponseBodyError)
    expect((err as oauth.ResponseBodyError).error).toBe('unauthorized_client')
  })
})

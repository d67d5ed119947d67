import { createRemoteJWKSet, jwtVerify } from 'jose'
import * as oauth from 'oauth4webapi'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { admin, createFixture, mintSession, type Fixture, type ServerProcess, startServerProcess } from '../support/server-process.js'

// Issue "Agents act for people": a real `evergreen serve` child, and an agent that is a third-party
// client library (panva/oauth4webapi v3, unmodified: genericTokenEndpointRequest with the RFC 8693 grant
// type) exchanging a person's token for a delegated one, which a resource server verifies over
// JWKS and whose revocation follows the parent's.

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const AT = 'urn:ietf:params:oauth:token-type:access_token'
const WORKSPACE = 'https://workspace.example/api'
const insecure = { [oauth.allowInsecureRequests]: true } as const

let server: ServerProcess
let fx: Fixture
let as: oauth.AuthorizationServer
let agent: { client_id: string; client_secret: string }

beforeAll(async () => {
  server = await startServerProcess()
  fx = await createFixture(server, 'exchange')
  await admin(server, 'PATCH', `/clients/${fx.publicClientId}`, { allowed_scopes: ['read', 'write'], allowed_audiences: [WORKSPACE] })
  agent = await admin(server, 'POST', '/clients', {
    name: 'Research agent',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: [EXCHANGE, 'refresh_token'],
    token_exchange: { subject_clients: [fx.publicClientId], allowed_scopes: ['read'], allowed_resources: [WORKSPACE], max_refresh_ttl: 7 * 86_400 },
  })
  const issuer = new URL(server.url)
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure))
})

afterAll(async () => {
  await server?.stop()
})

describe('token exchange through oauth4webapi against `evergreen serve`', () => {
  test('discovery lists the grant; the exchange yields a delegated token with act; revoking the parent ends it', async () => {
    expect(as.grant_types_supported).toContain(EXCHANGE)
    const person = await mintSession(server, fx.userId, fx.publicClientId, { scope: 'read write' })

    const client: oauth.Client = { client_id: agent.client_id }
    const auth = oauth.ClientSecretBasic(agent.client_secret)
    const params = new URLSearchParams({ subject_token: person.access_token, subject_token_type: AT, scope: 'read', resource: WORKSPACE, refresh_token_ttl: String(30 * 86_400) })
    const res = await oauth.genericTokenEndpointRequest(as, client, auth, EXCHANGE, params, insecure)
    const tokens = await oauth.processGenericTokenEndpointResponse(as, client, res)
    // 30 days asked, the policy's 7 given.
    expect(tokens).toMatchObject({ token_type: 'bearer', scope: 'read', issued_token_type: AT, refresh_token_expires_in: 7 * 86_400 })

    const jwks = createRemoteJWKSet(new URL(as.jwks_uri!))
    const { payload } = await jwtVerify(tokens.access_token, jwks, { issuer: as.issuer, audience: WORKSPACE, typ: 'at+jwt' })
    expect(payload).toMatchObject({ sub: fx.userId, client_id: agent.client_id, scope: 'read', act: { sub: agent.client_id, client_id: agent.client_id } })

    const introspect = async () => oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, auth, tokens.access_token, insecure))
    expect(await introspect()).toMatchObject({ active: true, parent_sid: person.session_id, act: { sub: agent.client_id } })

    // Widening fails the way the RFC says, and oauth4webapi surfaces the code.
    const wide = new URLSearchParams({ subject_token: person.access_token, subject_token_type: AT, scope: 'write' })
    const err = await oauth.processGenericTokenEndpointResponse(as, client, await oauth.genericTokenEndpointRequest(as, client, auth, EXCHANGE, wide, insecure)).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(oauth.ResponseBodyError)
    expect((err as oauth.ResponseBodyError).error).toBe('invalid_scope')

    await oauth.processRevocationResponse(await oauth.revocationRequest(as, { client_id: fx.publicClientId }, oauth.None(), person.refresh_token, insecure))
    expect(await introspect()).toMatchObject({ active: false })
  })
})

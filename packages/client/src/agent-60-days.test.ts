import { encodeCredential, type SessionView } from '@evergreen/core'
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose'
import { afterEach, beforeEach, expect, test } from 'vitest'
import { createSessionClient, type SessionClient } from './client.js'
import { AuthError } from './errors.js'
import { discover, processTokenExchangeResponse, tokenExchangeRequest } from './protocol.js'
import { createMemoryStore } from './store/memory.js'
import type { SessionStore } from './store/types.js'
import { createTestService, json, mint, type TestService } from '../../server/src/test-support/harness.js'

// Issue "Agents act for people": an agent process that embeds the SDK keeps a delegated session
// alive on its own for 60 days of a hand-moved clock. The token service is the real one (store,
// keys, rotation) called in process through app.fetch; the workspace API the agent calls verifies
// each token against the service's JWKS at the same clock. No person acts after the delegation.

const ISSUER = 'http://evergreen.test'
const WORKSPACE = 'https://workspace.example/api'
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const AGENT = 'research-agent'
const HOUR = 3_600
const DAY = 86_400
// Shorter than the 60 days on purpose: the agent can only get there by rotating.
const AGENT_TTL = 7 * DAY

let svc: TestService
let store: SessionStore
let userId: string
let person: Awaited<ReturnType<typeof mint>>
let jwks: ReturnType<typeof createLocalJWKSet>
/** grant_type of every request the agent's SDK sent to the token endpoint. */
let grants: string[]

beforeEach(async () => {
  svc = await createTestService()
  store = createMemoryStore()
  grants = []
  userId = (await json<{ id: string }>(await svc.admin('POST', '/users', { email: 'ada@example.com' }), 201)).id
  await json(await svc.admin('POST', '/clients', {
    client_id: 'app', name: 'Workspace app', grant_types: ['refresh_token'], token_endpoint_auth_method: 'none',
    allowed_scopes: ['read', 'write'], allowed_audiences: [WORKSPACE],
  }), 201)
  // A public client: the SDK refreshes without a client secret, so the agent holds only its credential.
  await json(await svc.admin('POST', '/clients', {
    client_id: AGENT, name: 'Research agent', token_endpoint_auth_method: 'none', grant_types: [EXCHANGE, 'refresh_token'],
    token_exchange: { subject_clients: ['app'], allowed_scopes: ['read'], allowed_resources: [WORKSPACE], max_refresh_ttl: 90 * DAY },
  }), 201)
  person = await mint(svc, userId, 'app', { scope: 'read write', refresh_token_ttl: 90 * DAY })
  // Signing keys do not rotate on their own, so one read of the JWKS serves the whole run.
  jwks = createLocalJWKSet(await json<JSONWebKeySet>(await svc.fetch('/.well-known/jwks.json')))
})
afterEach(async () => {
  await svc?.close()
})

/** The agent's fetch: the token service in process, and the workspace API as a resource server. */
const agentFetch: typeof fetch = async (input, init) => {
  const req = new Request(input, init)
  const url = new URL(req.url)
  if (url.origin === new URL(WORKSPACE).origin) return workspaceApi(req)
  if (url.pathname === '/oauth/token') grants.push(new URLSearchParams(await req.clone().text()).get('grant_type') ?? '')
  return svc.app.fetch(req)
}

/** What a resource server does with a Bearer token: verify it offline, at the service's clock. */
async function verifyDelegated(token: string): Promise<JWTPayload> {
  const { payload } = await jwtVerify(token, jwks, { issuer: ISSUER, audience: WORKSPACE, typ: 'at+jwt', currentDate: new Date(svc.clock.now() * 1000) })
  return payload
}

async function workspaceApi(req: Request): Promise<Response> {
  const token = /^Bearer (\S+)$/.exec(req.headers.get('authorization') ?? '')?.[1]
  const claims = token === undefined ? undefined : await verifyDelegated(token).catch(() => undefined)
  if (!claims) return Response.json({ error: 'invalid_token' }, { status: 401, headers: { 'www-authenticate': 'Bearer error="invalid_token"' } })
  return Response.json({ sub: claims.sub, act: claims.act, scope: claims.scope })
}

function agentClient(): SessionClient {
  return createSessionClient({ store, env: {}, fetch: agentFetch, now: () => svc.clock.now() * 1000 })
}

/**
 * The one moment a person is involved: their access token is exchanged (RFC 8693) as the agent's
 * client for a delegated session of `read` on the workspace, idle TTL 7 days, handed to the agent
 * as an `egc1_` credential.
 */
async function delegateToAgent(): Promise<string> {
  const as = await discover(ISSUER, agentFetch)
  const tokens = await processTokenExchangeResponse(
    await tokenExchangeRequest(as, AGENT, { subject_token: person.access_token, scope: 'read', resource: WORKSPACE, refresh_token_ttl: AGENT_TTL }, { fetch: agentFetch }),
  )
  expect(tokens.refresh_token_expires_in).toBe(AGENT_TTL)
  return encodeCredential({ v: 1, iss: ISSUER, client_id: AGENT, refresh_token: tokens.refresh_token })
}

async function session(id: string): Promise<SessionView> {
  return json<SessionView>(await svc.admin('GET', `/sessions/${id}`))
}

const refreshes = () => grants.filter((g) => g === 'refresh_token').length

test('an agent on the SDK rotates a 7-day delegated session every 12 h for 60 days, unattended; a gap over 7 days then ends it', async () => {
  const credential = await delegateToAgent()
  const agent = agentClient()
  await agent.loginWithCredential(credential)
  // The login spends the handed-over refresh token at once: rotation 1.
  expect(refreshes()).toBe(1)
  const sid = (await verifyDelegated(await agent.getValidToken())).sid as string
  expect(await session(sid)).toMatchObject({ kind: 'delegated', parent_id: person.session_id, client_id: AGENT, generation: 1, refresh_ttl: AGENT_TTL })

  const start = svc.clock.now()
  let previousRefreshToken = (await store.read({ issuer: ISSUER, profile: 'default' }))!.refresh_token
  // 120 steps 12 h apart: far past the 15-minute access token, well inside the 7-day refresh token.
  for (let step = 1; step <= 120; step++) {
    svc.clock.advance(start + step * 12 * HOUR - svc.clock.now())
    const before = (await session(sid)).generation
    const token = await agent.getValidToken()
    const claims = await verifyDelegated(token)
    expect(claims).toMatchObject({ sub: userId, sid, client_id: AGENT, scope: 'read', act: { sub: AGENT, client_id: AGENT } })
    expect(claims.exp).toBe(svc.clock.now() + 900)
    // The access token had expired, so this call rotated exactly once, and slid the idle expiry.
    const after = await session(sid)
    expect(after).toMatchObject({ active: true, generation: before + 1, refresh_ttl: AGENT_TTL, idle_expires_at: svc.clock.now() + AGENT_TTL })
    expect(after.generation).toBe(refreshes())
    const stored = (await store.read({ issuer: ISSUER, profile: 'default' }))!
    expect(stored.refresh_token).not.toBe(previousRefreshToken)
    expect(stored.refresh_token_expires_at).toBe((svc.clock.now() + AGENT_TTL) * 1000)
    previousRefreshToken = stored.refresh_token

    // Ten minutes on, the token is still fresh: no rotation is due, and none happens.
    svc.clock.advance(10 * 60)
    expect(await agent.getValidToken()).toBe(token)
    const res = await agent.fetch(`${WORKSPACE}/documents`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ sub: userId, act: { sub: AGENT, client_id: AGENT }, scope: 'read' })
    expect((await session(sid)).generation).toBe(before + 1)
  }

  // One rotation per 12-hour step over the 60 days, and the login's.
  expect(svc.clock.now() - start).toBe(60 * DAY + 10 * 60)
  expect(refreshes()).toBe(121)
  expect(grants.every((g) => g === 'refresh_token' || g === EXCHANGE)).toBe(true)
  const end = await session(sid)
  expect(end).toMatchObject({ active: true, revoked_at: null, generation: 121, refresh_ttl: AGENT_TTL, scope: 'read', resource: WORKSPACE, act: { sub: AGENT } })
  // Nobody touched the person's session in those 60 days: it never rotated.
  expect(await session(person.session_id)).toMatchObject({ active: true, generation: 0 })

  // The renewals were needed: more than 7 days without one and the session is gone.
  svc.clock.advance(AGENT_TTL + 1)
  const err = await agent.getValidToken().catch((e: unknown) => e)
  expect(err).toBeInstanceOf(AuthError)
  expect(err).toMatchObject({ code: 'AUTH_SESSION_EXPIRED', serverReason: 'expired_idle' })
  expect(refreshes()).toBe(122)
  expect(await session(sid)).toMatchObject({ active: false, generation: 121 })
  // The SDK dropped what the server refused; the agent is now logged out, not retrying.
  await expect(agent.getValidToken()).rejects.toMatchObject({ code: 'AUTH_NOT_LOGGED_IN' })
})

test('the 7-day window is what the agent lives on: 7 d − 1 min apart still rotates, 7 d + 1 s apart is session_expired', async () => {
  const agent = agentClient()
  await agent.loginWithCredential(await delegateToAgent())
  const sid = (await verifyDelegated(await agent.getValidToken())).sid as string

  svc.clock.advance(AGENT_TTL - 60)
  expect(await verifyDelegated(await agent.getValidToken())).toMatchObject({ sid, scope: 'read' })
  expect(await session(sid)).toMatchObject({ active: true, generation: 2, idle_expires_at: svc.clock.now() + AGENT_TTL })

  svc.clock.advance(AGENT_TTL + 1)
  await expect(agent.getValidToken()).rejects.toMatchObject({ name: 'AuthError', code: 'AUTH_SESSION_EXPIRED', serverReason: 'expired_idle' })
  expect(await session(sid)).toMatchObject({ active: false, generation: 2 })
})

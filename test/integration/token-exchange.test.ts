import { createRemoteJWKSet, decodeJwt, exportJWK, generateKeyPair, jwtVerify } from 'jose'
import * as oauth from 'oauth4webapi'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { PageClient } from '../../packages/server/src/test-support/browser-client.js'
import { startClockedServerProcess, type ClockedServerProcess } from '../support/node-child.js'
import { admin, createFixture, mintSession, postForm, type Fixture, type JsonReply, type ServerProcess, startServerProcess } from '../support/server-process.js'

// Issue "Agents act for people": a real `evergreen serve` child, and an agent that is a third-party
// client library (panva/oauth4webapi v3, unmodified: genericTokenEndpointRequest with the RFC 8693 grant
// type) exchanging a person's token for a delegated one, which a resource server verifies over
// JWKS and whose revocation follows the parent's. Then the judged cases, each over HTTP
// against the same child process: nothing here runs in process. What needs a session to actually
// reach its end runs against a second child whose clock the test moves (the lifetimes).

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

  test('an agent with a key pair (private_key_jwt) exchanges and refreshes with signed assertions, no secret', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256')
    const kid = 'agent-key-1'
    const keyed = await admin<{ client_id: string; client_secret?: string }>(server, 'POST', '/clients', {
      name: 'Keyed agent', token_endpoint_auth_method: 'private_key_jwt', grant_types: [EXCHANGE, 'refresh_token'],
      jwks: { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] },
      token_exchange: { subject_clients: [fx.publicClientId], allowed_scopes: ['read'] },
    })
    expect(keyed.client_secret).toBeUndefined()
    const person = await mintSession(server, fx.userId, fx.publicClientId, { scope: 'read write' })
    const client: oauth.Client = { client_id: keyed.client_id }
    const auth = () => oauth.PrivateKeyJwt({ key: privateKey, kid })
    const params = new URLSearchParams({ subject_token: person.access_token, subject_token_type: AT })
    const tokens = await oauth.processGenericTokenEndpointResponse(as, client, await oauth.genericTokenEndpointRequest(as, client, auth(), EXCHANGE, params, insecure))
    expect(decodeJwt(tokens.access_token)).toMatchObject({ client_id: keyed.client_id, scope: 'read', act: { sub: keyed.client_id } })
    const refreshed = await oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, auth(), tokens.refresh_token!, insecure))
    expect(decodeJwt(refreshed.access_token)).toMatchObject({ act: { sub: keyed.client_id } })
  })
})

// ---- the judged cases, against the real process

const RT = 'urn:ietf:params:oauth:token-type:refresh_token'
const OTHER = 'https://other.example/api'
const DAY = 86_400

interface Agent { client_id: string; client_secret: string }
interface Tokens { access_token: string; refresh_token?: string; refresh_token_expires_in?: number; scope: string; issued_token_type?: string }
interface AuditView { type: string; user_id: string | null; client_id: string | null; data: Record<string, unknown> }
interface SessionView { id: string; kind: string; parent_id: string | null; scope: string; audience: string | null; resource: string | null; act: unknown; active: boolean; revoked_reason: string | null; idle_expires_at: number; absolute_expires_at: number | null }

const tag = () => Math.random().toString(36).slice(2, 8)

type Target = Pick<ServerProcess, 'url' | 'adminKey'>

/** The calls the judged cases make, against one server process (`evergreen serve`, or the clocked one). */
function delegationApi(target: () => Target) {
  /** A person's app (public client) whose sessions agents may take, and its max lifetime. */
  async function personApp(sessionMaxLifetime = 180 * DAY): Promise<string> {
    const created = await admin<{ client_id: string }>(target(), 'POST', '/clients', {
      client_id: `app-${tag()}`, name: 'Workspace app', grant_types: ['refresh_token'], token_endpoint_auth_method: 'none',
      allowed_scopes: ['read', 'write', 'admin'], allowed_audiences: [WORKSPACE, OTHER], session_max_lifetime: sessionMaxLifetime,
    })
    return created.client_id
  }
  async function createAgent(name: string, subjectClients: string[], policy: Record<string, unknown> = {}): Promise<Agent> {
    return admin<Agent>(target(), 'POST', '/clients', {
      client_id: `${name}-${tag()}`, name, token_endpoint_auth_method: 'client_secret_post', grant_types: [EXCHANGE, 'refresh_token'],
      token_exchange: { subject_clients: subjectClients, allowed_scopes: ['read', 'write'], allowed_resources: [WORKSPACE], ...policy },
    })
  }
  return {
    personApp,
    createAgent,
    exchangeAs: (a: Agent, params: Record<string, string>) =>
      postForm(target().url, '/oauth/token', { grant_type: EXCHANGE, client_id: a.client_id, client_secret: a.client_secret, ...params }),
    refreshAs: (a: Agent, refreshToken: string, extra: Record<string, string> = {}) =>
      postForm(target().url, '/oauth/token', { grant_type: 'refresh_token', client_id: a.client_id, client_secret: a.client_secret, refresh_token: refreshToken, ...extra }),
    introspectAs: async (a: Agent, token: string) =>
      (await postForm(target().url, '/oauth/introspect', { token, client_id: a.client_id, client_secret: a.client_secret })).body,
    session: (id: string) => admin<SessionView>(target(), 'GET', `/sessions/${id}`),
    auditOf: async (id: string) => (await admin<{ items: AuditView[] }>(target(), 'GET', `/audit?session=${id}&type=session.revoked`)).items,
  }
}
const { personApp, createAgent, exchangeAs, refreshAs, introspectAs, session, auditOf } = delegationApi(() => server)

function ok(r: JsonReply): Tokens {
  if (r.status !== 200) throw new Error(`expected 200, got ${r.status}: ${r.text}`)
  return r.body as unknown as Tokens
}
const sidOf = (t: Tokens) => decodeJwt(t.access_token).sid as string

describe('delegation against `evergreen serve`: what an exchange yields', () => {
  test('an exchanged session has exactly the narrowed scope, audience/resource and act', async () => {
    const app = await personApp()
    const a = await createAgent('research', [app])
    const person = await mintSession(server, fx.userId, app, { scope: 'read write admin' })
    const child = ok(await exchangeAs(a, { subject_token: person.access_token, subject_token_type: AT, scope: 'read', resource: WORKSPACE }))
    expect(child).toMatchObject({ scope: 'read', issued_token_type: AT })
    const claims = decodeJwt(child.access_token)
    expect(claims).toMatchObject({ sub: fx.userId, client_id: a.client_id, scope: 'read', aud: WORKSPACE, act: { sub: a.client_id, client_id: a.client_id } })
    expect(claims.sid).not.toBe(person.session_id)
    expect(await session(claims.sid as string)).toMatchObject({
      kind: 'delegated', parent_id: person.session_id, scope: 'read', audience: null, resource: WORKSPACE, act: { sub: a.client_id, client_id: a.client_id }, active: true,
    })
    expect(await introspectAs(a, child.refresh_token!)).toMatchObject({ active: true, scope: 'read', parent_sid: person.session_id, act: { sub: a.client_id } })
    // Nothing asked: the subject's scope within the policy (admin is never in it), no resource.
    const plain = ok(await exchangeAs(a, { subject_token: person.access_token, subject_token_type: AT }))
    expect(decodeJwt(plain.access_token)).toMatchObject({ scope: 'read write', aud: a.client_id })
  })

  test('a second-level exchange nests act, newest outermost', async () => {
    const app = await personApp()
    const a = await createAgent('research', [app])
    const b = await createAgent('helper', [a.client_id])
    const person = await mintSession(server, fx.userId, app, { scope: 'read write' })
    const child = ok(await exchangeAs(a, { subject_token: person.refresh_token, subject_token_type: RT, scope: 'read write', resource: WORKSPACE }))
    const grandchild = ok(await exchangeAs(b, { subject_token: child.access_token, subject_token_type: AT, scope: 'read' }))
    expect(decodeJwt(grandchild.access_token)).toMatchObject({
      sub: fx.userId, client_id: b.client_id, scope: 'read', aud: WORKSPACE,
      act: { sub: b.client_id, client_id: b.client_id, act: { sub: a.client_id, client_id: a.client_id } },
    })
    expect(await session(sidOf(grandchild))).toMatchObject({ parent_id: sidOf(child), resource: WORKSPACE })
  })

  test('a token carrying act cannot be exchanged into one without it', async () => {
    const app = await personApp()
    const a = await createAgent('research', [app])
    const b = await createAgent('helper', [a.client_id])
    const person = await mintSession(server, fx.userId, app, { scope: 'read' })
    const child = ok(await exchangeAs(a, { subject_token: person.access_token, subject_token_type: AT }))
    // Every way of asking — by access token, by refresh token, access token only — keeps the chain.
    const asks: Record<string, string>[] = [
      { subject_token: child.access_token, subject_token_type: AT },
      { subject_token: child.refresh_token!, subject_token_type: RT },
      { subject_token: child.access_token, subject_token_type: AT, requested_token_type: AT },
    ]
    for (const params of asks) {
      const t = ok(await exchangeAs(b, params))
      expect(decodeJwt(t.access_token).act).toEqual({ sub: b.client_id, client_id: b.client_id, act: { sub: a.client_id, client_id: a.client_id } })
      if (t.refresh_token) expect(decodeJwt(ok(await refreshAs(b, t.refresh_token)).access_token).act).toMatchObject({ act: { sub: a.client_id } })
    }
    // An actor token naming itself does not drop the earlier actor either.
    const self = ok(await exchangeAs(b, { subject_token: child.access_token, subject_token_type: AT, requested_token_type: AT }))
    const withActor = ok(await exchangeAs(b, { subject_token: child.access_token, subject_token_type: AT, actor_token: self.access_token, actor_token_type: AT }))
    expect(decodeJwt(withActor.access_token).act).toMatchObject({ act: { sub: a.client_id } })
  })

  test('widening scope is invalid_scope; another audience or resource is invalid_target', async () => {
    const app = await personApp()
    const a = await createAgent('research', [app], { allowed_audiences: [WORKSPACE] })
    const person = await mintSession(server, fx.userId, app, { scope: 'read', resource: WORKSPACE })
    const base = { subject_token: person.access_token, subject_token_type: AT }
    expect((await exchangeAs(a, { ...base, scope: 'read write' })).body).toMatchObject({ error: 'invalid_scope' })
    expect((await exchangeAs(a, { ...base, resource: OTHER })).body).toMatchObject({ error: 'invalid_target' })
    expect((await exchangeAs(a, { ...base, audience: OTHER })).body).toMatchObject({ error: 'invalid_target' })
    // Delegated, and exchanged again: the child cannot reach past its own resource either.
    const b = await createAgent('helper', [a.client_id], { allowed_resources: [WORKSPACE, OTHER] })
    const child = ok(await exchangeAs(a, base))
    const wider = await exchangeAs(b, { subject_token: child.access_token, subject_token_type: AT, resource: OTHER })
    expect([wider.status, wider.body.error]).toEqual([400, 'invalid_target'])
  })
})

// What needs a session to really reach its end: `evergreen serve`'s server in a child process
// whose clock the test moves over IPC (test/support/clocked-evergreen.mjs), never a sleep.
describe("delegation against a clocked `evergreen serve`: lifetimes, with the server's clock moved", () => {
  let clocked: ClockedServerProcess
  let person: Fixture
  const on = delegationApi(() => clocked)
  beforeAll(async () => {
    clocked = await startClockedServerProcess({ env: { EVERGREEN_RATE_LIMIT_TOKEN: '0' } })
    person = await createFixture(clocked, 'lifetimes')
  })
  afterAll(async () => {
    await clocked?.stop()
  })
  /** Moves the server's clock to `at` (epoch seconds, ahead of it); resolves with its new time. */
  const moveTo = async (at: number) => clocked.advance(at - (await clocked.advance(0)))

  test('a 90-day TTL is honoured and carried through 3 rotations 60 days apart; a 1-year request is capped at 90 days', async () => {
    const app = await on.personApp(365 * DAY)
    const a = await on.createAgent('research', [app])
    const parent = await mintSession(clocked, person.userId, app, { scope: 'read' })
    const child = ok(await on.exchangeAs(a, { subject_token: parent.access_token, subject_token_type: AT, refresh_token_ttl: String(90 * DAY) }))
    expect(child.refresh_token_expires_in).toBe(90 * DAY)
    let rt = child.refresh_token!
    let before = await clocked.advance(0)
    for (let i = 0; i < 3; i++) {
      // 60 days on: past any default idle window, inside the 90 days the session was given.
      const now = await clocked.advance(60 * DAY)
      expect(now - before).toBe(60 * DAY)
      before = now
      const next = ok(await on.refreshAs(a, rt))
      expect(next.refresh_token_expires_in).toBe(90 * DAY)
      const view = await on.session(sidOf(child))
      expect(view.idle_expires_at).toBeGreaterThanOrEqual(now + 90 * DAY)
      rt = next.refresh_token!
    }
    expect(await on.session(sidOf(child))).toMatchObject({ active: true, refresh_ttl: 90 * DAY, generation: 3 })
    // 91 days without a refresh: the window it was given has passed.
    await clocked.advance(91 * DAY)
    expect((await on.refreshAs(a, rt)).body).toMatchObject({ error: 'invalid_grant', error_reason: 'expired_idle' })
    const fresh = await mintSession(clocked, person.userId, app, { scope: 'read' })
    const year = ok(await on.exchangeAs(a, { subject_token: fresh.access_token, subject_token_type: AT, refresh_token_ttl: String(365 * DAY) }))
    expect(year.refresh_token_expires_in).toBe(90 * DAY)
  })

  test("a delegated session cannot outlive the parent's absolute lifetime: refreshes until just before it, refused after", async () => {
    const app = await on.personApp(20 * DAY)
    const a = await on.createAgent('research', [app])
    const b = await on.createAgent('helper', [a.client_id])
    const parent = await mintSession(clocked, person.userId, app, { scope: 'read' })
    const end = (await on.session(parent.session_id)).absolute_expires_at!
    expect(end).not.toBeNull()
    // Both ask for 90 days; neither is given more than what is left of the parent.
    const child = ok(await on.exchangeAs(a, { subject_token: parent.access_token, subject_token_type: AT, refresh_token_ttl: String(90 * DAY) }))
    const grandchild = ok(await on.exchangeAs(b, { subject_token: child.access_token, subject_token_type: AT, refresh_token_ttl: String(90 * DAY) }))
    for (const t of [child, grandchild]) expect(t.refresh_token_expires_in).toBeLessThanOrEqual(20 * DAY)
    for (const t of [child, grandchild]) expect(await on.session(sidOf(t))).toMatchObject({ absolute_expires_at: end })

    // A minute before the parent's end both still refresh, each for no more than what is left.
    await moveTo(end - 60)
    const childNext = ok(await on.refreshAs(a, child.refresh_token!))
    const grandchildNext = ok(await on.refreshAs(b, grandchild.refresh_token!))
    for (const t of [childNext, grandchildNext]) {
      expect(t.refresh_token_expires_in).toBeGreaterThan(0)
      expect(t.refresh_token_expires_in).toBeLessThanOrEqual(60)
    }
    expect(await on.introspectAs(a, childNext.refresh_token!)).toMatchObject({ active: true })

    // Past it: refused for reaching the maximum lifetime, though each asked for 90 days.
    await moveTo(end + 60)
    expect((await on.refreshAs(a, childNext.refresh_token!)).body).toMatchObject({ error: 'invalid_grant', error_reason: 'expired_absolute' })
    expect((await on.refreshAs(b, grandchildNext.refresh_token!)).body).toMatchObject({ error: 'invalid_grant', error_reason: 'expired_absolute' })
    expect(await on.introspectAs(a, childNext.refresh_token!)).toEqual({ active: false })
    expect(await on.introspectAs(b, grandchildNext.refresh_token!)).toEqual({ active: false })
  })
})

describe('delegation against `evergreen serve`: revoking the parent kills child and grandchild', () => {
  async function family() {
    const app = await personApp()
    const a = await createAgent('research', [app])
    const b = await createAgent('helper', [a.client_id])
    const person = await mintSession(server, fx.userId, app, { scope: 'read write' })
    const child = ok(await exchangeAs(a, { subject_token: person.access_token, subject_token_type: AT, scope: 'read write' }))
    const grandchild = ok(await exchangeAs(b, { subject_token: child.access_token, subject_token_type: AT, scope: 'read' }))
    // Alive before, so "dead after" is the revocation's doing.
    expect(await introspectAs(b, grandchild.access_token)).toMatchObject({ active: true })
    return { app, a, b, person, child, grandchild }
  }
  async function expectDead(f: Awaited<ReturnType<typeof family>>, reason: string) {
    for (const [who, t] of [[f.a, f.child.access_token], [f.a, f.child.refresh_token!], [f.b, f.grandchild.access_token], [f.b, f.grandchild.refresh_token!]] as const) {
      expect(await introspectAs(who, t)).toEqual({ active: false })
    }
    expect((await refreshAs(f.a, f.child.refresh_token!)).body).toMatchObject({ error: 'invalid_grant', error_reason: 'revoked' })
    expect((await refreshAs(f.b, f.grandchild.refresh_token!)).body).toMatchObject({ error: 'invalid_grant', error_reason: 'revoked' })
    for (const sid of [f.person.session_id, sidOf(f.child), sidOf(f.grandchild)]) {
      expect(await session(sid)).toMatchObject({ active: false, revoked_reason: reason })
    }
    expect(await auditOf(f.person.session_id)).toMatchObject([{ data: { reason } }])
    await expectWentWithParent(f)
  }
  /** One `session.revoked` event per descendant: reason parent_revoked, its parent, the person and the actors. */
  async function expectWentWithParent(f: Awaited<ReturnType<typeof family>>) {
    const research = { sub: f.a.client_id, client_id: f.a.client_id }
    expect(await auditOf(sidOf(f.child))).toMatchObject([{
      user_id: fx.userId, client_id: f.a.client_id, data: { reason: 'parent_revoked', parent_id: f.person.session_id, sub: fx.userId, act: research },
    }])
    expect(await auditOf(sidOf(f.grandchild))).toMatchObject([{
      user_id: fx.userId, client_id: f.b.client_id,
      data: { reason: 'parent_revoked', parent_id: sidOf(f.child), sub: fx.userId, act: { sub: f.b.client_id, act: research } },
    }])
  }

  test('by RFC 7009 /oauth/revoke', async () => {
    const f = await family()
    expect((await postForm(server.url, '/oauth/revoke', { token: f.person.refresh_token, client_id: f.app })).status).toBe(200)
    await expectDead(f, 'revoked_by_client')
  })

  test('by the admin API', async () => {
    const f = await family()
    expect(await admin(server, 'DELETE', `/sessions/${f.person.session_id}`)).toEqual({ revoked: 3 })
    await expectDead(f, 'revoked_by_admin')
  })

  test('on /settings/sessions, by a signed-in browser posting the form with its CSRF token', async () => {
    const f = await family()
    const browser = PageClient.overHttp(server.url)
    expect((await browser.login(fx.email, fx.password)).status).toBe(303)
    const listing = await (await browser.get('/settings/sessions')).text()
    expect(listing).toContain(`data-session-id="${sidOf(f.grandchild)}"`)
    // Without the CSRF token nothing changes.
    expect((await browser.post('/settings/sessions/revoke', { session_id: f.person.session_id }, { csrf: false })).status).toBe(403)
    expect(await session(f.person.session_id)).toMatchObject({ active: true })
    await browser.get('/settings/sessions')
    const res = await browser.post('/settings/sessions/revoke', { session_id: f.person.session_id })
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe('/settings/sessions?revoked=one&with=2')
    expect(await (await browser.get(res.headers.get('location')!)).text()).toContain('and with it 2 delegated agent sessions acting under it')
    await expectDead(f, 'revoked_by_user')
  })

  test("by deleting the person's client, whose sessions' agents are other clients", async () => {
    const f = await family()
    await admin(server, 'DELETE', `/clients/${f.app}`)
    for (const [who, t] of [[f.a, f.child.refresh_token!], [f.b, f.grandchild.access_token]] as const) expect(await introspectAs(who, t)).toEqual({ active: false })
    expect((await refreshAs(f.b, f.grandchild.refresh_token!)).body).toMatchObject({ error: 'invalid_grant' })
    // The client's own session is covered by client.deleted; each descendant has its own event.
    expect(await auditOf(f.person.session_id)).toEqual([])
    await expectWentWithParent(f)
  })

  test('by disabling the person', async () => {
    const other = await createFixture(server, 'disabled')
    const app = await personApp()
    const a = await createAgent('research', [app])
    const person = await mintSession(server, other.userId, app, { scope: 'read' })
    const child = ok(await exchangeAs(a, { subject_token: person.access_token, subject_token_type: AT }))
    await admin(server, 'POST', `/users/${other.userId}/disable`)
    expect(await introspectAs(a, child.access_token)).toEqual({ active: false })
    expect((await refreshAs(a, child.refresh_token!)).body).toMatchObject({ error: 'invalid_grant' })
    expect(await auditOf(sidOf(child))).toMatchObject([{ user_id: other.userId, data: { reason: 'parent_revoked', parent_id: person.session_id, sub: other.userId, act: { sub: a.client_id } } }])
    expect(await auditOf(person.session_id)).toEqual([])
  })
})

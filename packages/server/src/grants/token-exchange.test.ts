import { decodeJwt } from 'jose'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { createDpopKey } from '../test-support/dpop-key.js'
import { createTestService, json, mint, refresh, type TestService } from '../test-support/harness.js'

// Issue "Agents act for people": RFC 8693 delegation through the real token endpoint, with a
// hand-moved clock. The judged cases (narrowing, nesting, widening, TTLs, revoking the parent) run
// against a real `evergreen serve` process in test/integration/token-exchange.test.ts; these are
// the finer rules and what needs the clock moved.

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const AT = 'urn:ietf:params:oauth:token-type:access_token'
const WORKSPACE = 'https://workspace.example/api'
const OTHER = 'https://other.example/api'
const DAY = 86_400

interface Confidential { client_id: string; client_secret: string }
interface Tokens { access_token: string; refresh_token?: string; refresh_token_expires_in?: number; scope: string; issued_token_type?: string }

let svc: TestService
let userId: string
let app: { client_id: string }
let agent: Confidential

beforeEach(async () => {
  svc = await createTestService()
  userId = (await json<{ id: string }>(await svc.admin('POST', '/users', { email: 'ada@example.com' }), 201)).id
  app = await json(await svc.admin('POST', '/clients', {
    client_id: 'app', name: 'Workspace app', grant_types: ['refresh_token'], token_endpoint_auth_method: 'none',
    allowed_scopes: ['read', 'write', 'admin'], allowed_audiences: [WORKSPACE, OTHER], session_max_lifetime: 180 * DAY,
  }), 201)
  agent = await createAgent('agent', ['app'])
})
afterEach(async () => {
  await svc?.close()
})

async function createAgent(clientId: string, subjectClients: string[], policy: Record<string, unknown> = {}): Promise<Confidential> {
  return json(await svc.admin('POST', '/clients', {
    client_id: clientId, name: `Agent ${clientId}`, token_endpoint_auth_method: 'client_secret_post',
    grant_types: [EXCHANGE, 'refresh_token', 'client_credentials'],
    token_exchange: { subject_clients: subjectClients, allowed_scopes: ['read', 'write'], allowed_resources: [WORKSPACE], ...policy },
  }), 201)
}

function exchange(client: Confidential, params: Record<string, string>): Promise<Response> {
  return svc.form('/oauth/token', { grant_type: EXCHANGE, client_id: client.client_id, client_secret: client.client_secret, ...params })
}

async function personSession(extra: Record<string, unknown> = {}) {
  return mint(svc, userId, app.client_id, { scope: 'read write admin', ...extra })
}

async function introspect(token: string) {
  return json<Record<string, unknown>>(await svc.form('/oauth/introspect', { token, client_id: agent.client_id, client_secret: agent.client_secret }))
}

describe('token exchange: delegation', () => {
  test('an exchanged session has exactly the narrowed scope, resource and act, and its own sid under the parent', async () => {
    const person = await personSession()
    const res = await json<Tokens>(await exchange(agent, { subject_token: person.access_token, subject_token_type: AT, scope: 'read', resource: WORKSPACE }))
    expect(res).toMatchObject({ token_type: 'Bearer', scope: 'read', issued_token_type: AT })
    expect(res.refresh_token).toMatch(/^egr_/)
    const claims = decodeJwt(res.access_token)
    expect(claims).toMatchObject({ sub: userId, client_id: 'agent', scope: 'read', aud: WORKSPACE, act: { sub: 'agent', client_id: 'agent' } })
    expect(claims.sid).not.toBe(person.session_id)

    expect(await introspect(res.access_token)).toMatchObject({ active: true, act: { sub: 'agent', client_id: 'agent' }, parent_sid: person.session_id })
    expect(await introspect(res.refresh_token!)).toMatchObject({ active: true, scope: 'read', parent_sid: person.session_id })
    const view = await json<Record<string, unknown>>(await svc.admin('GET', `/sessions/${claims.sid as string}`))
    expect(view).toMatchObject({ kind: 'delegated', parent_id: person.session_id, resource: WORKSPACE, act: { sub: 'agent' }, user_id: userId })
    const children = await json<{ items: { id: string }[] }>(await svc.admin('GET', `/sessions/${person.session_id}/children`))
    expect(children.items.map((s) => s.id)).toEqual([claims.sid])

    // A refresh keeps all of it, and cannot widen the scope or trade the resource.
    const rotated = await json<Tokens>(await refreshAs(agent, res.refresh_token!))
    expect(decodeJwt(rotated.access_token)).toMatchObject({ scope: 'read', aud: WORKSPACE, act: { sub: 'agent' }, sid: claims.sid })
    expect(await json(await refreshAs(agent, rotated.refresh_token!, { scope: 'read write' }), 400)).toMatchObject({ error: 'invalid_scope' })
    expect(await json(await refreshAs(agent, rotated.refresh_token!, { resource: OTHER }), 400)).toMatchObject({ error: 'invalid_target' })

    const audit = await json<{ items: { user_id: string; data: Record<string, unknown> }[] }>(await svc.admin('GET', `/audit?session=${claims.sid as string}`))
    expect(audit.items[0]).toMatchObject({ user_id: userId, data: { kind: 'delegated', act: { sub: 'agent', client_id: 'agent' } } })
  })

  test('every audit event about a delegated session carries sub and the actor chain: rotation, replay, superseded, reuse, failure, revocation', async () => {
    const person = await personSession()
    const first = await json<Tokens>(await exchange(agent, { subject_token: person.access_token, subject_token_type: AT, scope: 'read' }))
    const sub = await createAgent('sub-agent', ['agent'])
    const child = await json<Tokens>(await exchange(sub, { subject_token: first.access_token, subject_token_type: AT }))
    const sid = decodeJwt(child.access_token).sid as string
    const rt0 = child.refresh_token!
    const rt1 = (await json<Tokens>(await refreshAs(sub, rt0))).refresh_token!
    expect((await refreshAs(sub, rt0)).status).toBe(200) // replayed within the grace window
    const rt2 = (await json<Tokens>(await refreshAs(sub, rt1))).refresh_token!
    expect(await json(await refreshAs(sub, rt0), 400)).toMatchObject({ error_reason: 'superseded' })
    svc.clock.advance(31)
    expect(await json(await refreshAs(sub, rt0), 400)).toMatchObject({ error_reason: 'reused' })
    expect(await json(await refreshAs(sub, rt2), 400)).toMatchObject({ error_reason: 'revoked' })

    const audit = await json<{ items: { type: string; user_id: string; data: Record<string, unknown> }[] }>(await svc.admin('GET', `/audit?session=${sid}`))
    expect(audit.items.map((e) => e.type).sort()).toEqual([
      'refresh.failed', 'refresh.replayed', 'refresh.reused', 'refresh.succeeded', 'refresh.succeeded', 'refresh.superseded', 'session.created', 'session.revoked',
    ])
    const chain = { sub: 'sub-agent', client_id: 'sub-agent', act: { sub: 'agent', client_id: 'agent' } }
    for (const event of audit.items) expect(event, event.type).toMatchObject({ user_id: userId, data: { sub: userId, act: chain } })

    // Revoked directly (not by reuse), the event names the actors too; the person's own events do not.
    const other = await json<Tokens>(await exchange(agent, { subject_token: person.access_token, subject_token_type: AT }))
    const otherSid = decodeJwt(other.access_token).sid as string
    expect(await json(await svc.admin('DELETE', `/sessions/${otherSid}`))).toEqual({ revoked: 1 })
    const revoked = await json<{ items: { type: string; data: Record<string, unknown> }[] }>(await svc.admin('GET', `/audit?session=${otherSid}&type=session.revoked`))
    expect(revoked.items).toMatchObject([{ data: { reason: 'revoked_by_admin', sub: userId, act: { sub: 'agent', client_id: 'agent' } } }])
    const own = await json<{ items: { data: Record<string, unknown> }[] }>(await svc.admin('GET', `/audit?session=${person.session_id}`))
    expect(own.items.length).toBeGreaterThan(0)
    for (const event of own.items) expect(event.data).not.toHaveProperty('act')
  })

  test('an actor token names the agent; one issued to another client is refused', async () => {
    const person = await personSession()
    const own = await json<Tokens>(await svc.form('/oauth/token', { grant_type: 'client_credentials', client_id: agent.client_id, client_secret: agent.client_secret }))
    const res = await json<Tokens>(await exchange(agent, { subject_token: person.access_token, subject_token_type: AT, actor_token: own.access_token, actor_token_type: AT, scope: 'read' }))
    expect(decodeJwt(res.access_token).act).toEqual({ sub: 'agent', client_id: 'agent' })
    const other = await createAgent('other', ['app'])
    const foreign = await exchange(other, { subject_token: person.access_token, subject_token_type: AT, actor_token: own.access_token, actor_token_type: AT })
    expect(await json(foreign, 400)).toMatchObject({ error: 'invalid_request' })
  })

  test('widening scope is invalid_scope; another audience or resource is invalid_target; no policy is unauthorized_client', async () => {
    const person = await personSession({ scope: 'read' })
    const base = { subject_token: person.access_token, subject_token_type: AT }
    expect(await json(await exchange(agent, { ...base, scope: 'read write' }), 400)).toMatchObject({ error: 'invalid_scope' })
    // admin is the person's in another session, and never in the agent's policy.
    const admin = await personSession({ scope: 'read admin' })
    expect(await json(await exchange(agent, { subject_token: admin.access_token, subject_token_type: AT, scope: 'admin' }), 400)).toMatchObject({ error: 'invalid_scope' })
    expect(await json(await exchange(agent, { ...base, resource: OTHER }), 400)).toMatchObject({ error: 'invalid_target' })
    expect(await json(await exchange(agent, { ...base, audience: OTHER }), 400)).toMatchObject({ error: 'invalid_target' })
    expect(await json(await exchange(agent, { ...base, resource: 'https://workspace.example/api#frag' }), 400)).toMatchObject({ error: 'invalid_target' })
    // A subject bound to one resource cannot be exchanged for another the person's app could reach.
    const bound = await personSession({ scope: 'read', resource: OTHER })
    expect(await json(await exchange(agent, { subject_token: bound.access_token, subject_token_type: AT, resource: WORKSPACE }), 400)).toMatchObject({ error: 'invalid_target' })

    const plain = await json<Confidential>(await svc.admin('POST', '/clients', {
      name: 'no policy', token_endpoint_auth_method: 'client_secret_post', grant_types: [EXCHANGE],
    }), 201)
    expect(await json(await exchange(plain, base), 400)).toMatchObject({ error: 'unauthorized_client' })
    const unlisted = await createAgent('unlisted', ['someone-else'])
    expect(await json(await exchange(unlisted, base), 400)).toMatchObject({ error: 'invalid_request' })
    expect(await json(await exchange(agent, { subject_token: 'nope', subject_token_type: AT }), 400)).toMatchObject({ error: 'invalid_request' })
    // session_name labels the delegated session; a name no page could show sensibly is refused.
    expect(await json(await exchange(agent, { ...base, session_name: 'x'.repeat(201) }), 400)).toMatchObject({ error: 'invalid_request' })
    expect(await json(await exchange(agent, { ...base, session_name: 'bot\nadmin' }), 400)).toMatchObject({ error: 'invalid_request' })
    const named = await json<Tokens>(await exchange(agent, { ...base, session_name: 'research-bot' }))
    expect(await json(await svc.admin('GET', `/sessions/${decodeJwt(named.access_token).sid as string}`))).toMatchObject({ name: 'research-bot' })
  })
})

describe('token exchange: DPoP (RFC 9449)', () => {
  test('a confidential agent gets an unbound session; dpop_jkt binds it to the named key, which alone then refreshes it', async () => {
    const person = await personSession()
    const plain = await json<Tokens>(await exchange(agent, { subject_token: person.access_token, subject_token_type: AT, scope: 'read' }))
    expect(await json(await svc.admin('GET', `/sessions/${decodeJwt(plain.access_token).sid as string}`))).toMatchObject({ dpop_jkt: null })
    expect((await refreshAs(agent, plain.refresh_token!)).status).toBe(200)

    const key = await createDpopKey(svc.clock.now)
    const other = await createDpopKey(svc.clock.now)
    const bound = await json<Tokens>(await exchange(agent, { subject_token: person.access_token, subject_token_type: AT, scope: 'read', dpop_jkt: key.jkt }))
    const sid = decodeJwt(bound.access_token).sid as string
    // Named, not proved: bound whatever the client's authentication (a proof alone binds only a public client's session).
    expect(await json(await svc.admin('GET', `/sessions/${sid}`))).toMatchObject({ dpop_jkt: key.jkt })
    const withProof = (rt: string, proof: string) => svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: agent.client_id, client_secret: agent.client_secret, refresh_token: rt }, { dpop: proof })
    expect(await json(await refreshAs(agent, bound.refresh_token!), 400)).toMatchObject({ error: 'invalid_dpop_proof' })
    expect(await json(await withProof(bound.refresh_token!, await other.proof()), 400)).toMatchObject({ error: 'invalid_grant', error_reason: 'dpop_key_mismatch' })
    expect((await withProof(bound.refresh_token!, await key.proof())).status).toBe(200)
  })
})

describe('token exchange: lifetimes', () => {
  test('a 90-day TTL is honoured and carried through 3 rotations; a 1-year request is capped', async () => {
    const person = await personSession()
    const res = await json<Tokens>(await exchange(agent, { subject_token: person.access_token, subject_token_type: AT, refresh_token_ttl: String(90 * DAY) }))
    expect(res.refresh_token_expires_in).toBe(90 * DAY)
    const year = await json<Tokens>(await exchange(agent, { subject_token: person.access_token, subject_token_type: AT, refresh_token_ttl: String(365 * DAY) }))
    expect(year.refresh_token_expires_in).toBe(90 * DAY)
    let rt = res.refresh_token!
    for (let i = 0; i < 3; i++) {
      svc.clock.advance(DAY)
      const next = await json<Tokens>(await refreshAs(agent, rt))
      expect(next.refresh_token_expires_in).toBe(90 * DAY)
      rt = next.refresh_token!
    }
  })

  test('the policy caps the TTL, and a delegated session never outlives its parent', async () => {
    const capped = await createAgent('capped', ['app'], { max_refresh_ttl: 7 * DAY })
    const person = await personSession({ refresh_token_ttl: 90 * DAY })
    const res = await json<Tokens>(await exchange(capped, { subject_token: person.access_token, subject_token_type: AT, refresh_token_ttl: String(90 * DAY) }))
    expect(res.refresh_token_expires_in).toBe(7 * DAY)

    // The parent ends 180 days after it began: move to 20 days before that.
    svc.clock.advance(80 * DAY)
    const mid = await json<Tokens>(await refresh(svc, app.client_id, person.refresh_token))
    svc.clock.advance(80 * DAY)
    const fresh = await json<Tokens>(await refresh(svc, app.client_id, mid.refresh_token!))
    const child = await json<Tokens>(await exchange(agent, { subject_token: fresh.access_token, subject_token_type: AT, refresh_token_ttl: String(90 * DAY) }))
    expect(child.refresh_token_expires_in).toBe(20 * DAY)
    svc.clock.advance(20 * DAY)
    expect(await json(await refreshAs(agent, child.refresh_token!), 400)).toMatchObject({ error: 'invalid_grant' })
    expect(await introspect(child.access_token)).toEqual({ active: false })
  })
})

function refreshAs(client: Confidential, refreshToken: string, extra: Record<string, string> = {}): Promise<Response> {
  return svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: client.client_id, client_secret: client.client_secret, refresh_token: refreshToken, ...extra })
}

// Issue "Agents act for people": what happens to an agent's live delegated sessions when the
// admin removes or narrows its exchange policy. The policy is the agent's authority, so a
// session it no longer covers ends (revoked, with its descendants); a narrower scope that still
// leaves something is applied at the next refresh.
describe("token exchange: the agent's policy removed or narrowed", () => {
  const policy = { subject_clients: ['app'], allowed_scopes: ['read', 'write'], allowed_resources: [WORKSPACE] }
  async function delegated(scope = 'read write') {
    const person = await personSession()
    const child = await json<Tokens>(await exchange(agent, { subject_token: person.access_token, subject_token_type: AT, scope, resource: WORKSPACE }))
    const sub = await createAgent(`sub-${Math.random().toString(36).slice(2, 8)}`, ['agent'], { allowed_scopes: [] })
    const grandchild = await json<Tokens>(await exchange(sub, { subject_token: child.access_token, subject_token_type: AT }))
    return { person, child, grandchild, sid: decodeJwt(child.access_token).sid as string }
  }
  const patchPolicy = async (value: Record<string, unknown> | null) => json(await svc.admin('PATCH', '/clients/agent', { token_exchange: value }))

  test('removing the policy revokes its delegated sessions and their descendants at once; the refresh says why', async () => {
    const d = await delegated()
    await patchPolicy(null)
    for (const t of [d.child.access_token, d.child.refresh_token!, d.grandchild.access_token]) expect(await introspect(t)).toEqual({ active: false })
    expect(await json(await svc.admin('GET', `/sessions/${d.sid}`))).toMatchObject({ active: false, revoked_reason: 'exchange_policy_withdrawn' })
    expect(await json(await refreshAs(agent, d.child.refresh_token!), 400)).toMatchObject({ error: 'invalid_grant', error_reason: 'revoked' })
    const events = await json<{ items: { data: Record<string, unknown> }[] }>(await svc.admin('GET', `/audit?session=${d.sid}&type=session.revoked`))
    expect(events.items).toMatchObject([{ data: { reason: 'exchange_policy_withdrawn', sub: userId, act: { sub: 'agent' } } }])
    // The person's own session is not the agent's to lose.
    expect((await svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: 'app', refresh_token: d.person.refresh_token })).status).toBe(200)
  })

  test('a policy changed behind the admin API (another node, a restore) is enforced at the next refresh, with a clear error_description', async () => {
    const d = await delegated()
    await svc.deps.store.updateClient('agent', { token_exchange: null, updated_at: svc.clock.now() }, auditAt('client.updated'))
    const refused = await json<{ error: string; error_reason: string; error_description: string }>(await refreshAs(agent, d.child.refresh_token!), 400)
    expect(refused).toMatchObject({ error: 'invalid_grant', error_reason: 'revoked' })
    expect(refused.error_description).toContain('no longer has a token-exchange policy')
    // Revoked, with the grandchild: restoring the policy does not bring it back.
    await patchPolicy(policy)
    expect(await json(await refreshAs(agent, d.child.refresh_token!), 400)).toMatchObject({ error_reason: 'revoked' })
    expect(await introspect(d.grandchild.access_token)).toEqual({ active: false })
  })

  test("narrowed scope that still leaves some: the refresh carries what is left; none left: revoked", async () => {
    const d = await delegated('read write')
    const other = await delegated('write')
    await patchPolicy({ ...policy, allowed_scopes: ['read'] })
    const refreshed = await json<Tokens>(await refreshAs(agent, d.child.refresh_token!))
    expect(refreshed.scope).toBe('read')
    expect(decodeJwt(refreshed.access_token).scope).toBe('read')
    expect(await json(await refreshAs(agent, refreshed.refresh_token!, { scope: 'read write' }), 400)).toMatchObject({ error: 'invalid_scope' })
    expect(await json(await svc.admin('GET', `/sessions/${other.sid}`))).toMatchObject({ active: false, revoked_reason: 'exchange_policy_withdrawn' })
    expect(await json(await refreshAs(agent, other.child.refresh_token!), 400)).toMatchObject({ error_reason: 'revoked' })
  })

  test("the person's client dropped from subject_clients, or the session's resource from allowed_resources: revoked", async () => {
    const d = await delegated()
    await patchPolicy({ ...policy, subject_clients: ['someone-else'] })
    expect(await json(await svc.admin('GET', `/sessions/${d.sid}`))).toMatchObject({ revoked_reason: 'exchange_policy_withdrawn' })
    await patchPolicy(policy)
    const e = await delegated()
    await patchPolicy({ ...policy, allowed_resources: [] })
    expect(await json(await refreshAs(agent, e.child.refresh_token!), 400)).toMatchObject({ error_reason: 'revoked' })
  })

  test('a lowered max_refresh_ttl caps the idle window from the next rotation', async () => {
    const person = await personSession()
    const child = await json<Tokens>(await exchange(agent, { subject_token: person.access_token, subject_token_type: AT, refresh_token_ttl: String(30 * DAY) }))
    expect(child.refresh_token_expires_in).toBe(30 * DAY)
    await patchPolicy({ ...policy, max_refresh_ttl: DAY })
    expect((await json<Tokens>(await refreshAs(agent, child.refresh_token!))).refresh_token_expires_in).toBe(DAY)
  })
})

function auditAt(type: 'client.updated') {
  return { id: `evt_${Math.random().toString(36).slice(2)}`, type, at: svc.clock.now(), session_id: null, user_id: null, client_id: 'agent', ip: null, user_agent: null, data: {} }
}

// Issue "Agents act for people": revoking a session takes its delegated descendants along, and
// each gets its own `session.revoked` event (reason parent_revoked, its parent, the person and the
// actors), whichever path revoked it. The settings page and the judged paths over HTTP are in
// test/integration/token-exchange.test.ts.
describe('token exchange: every descendant revoked with its parent has its own session.revoked event', () => {
  type Revoked = { items: { type: string; at: number; user_id: string; client_id: string; data: Record<string, unknown> }[] }
  async function family() {
    const person = await personSession()
    const child = await json<Tokens>(await exchange(agent, { subject_token: person.access_token, subject_token_type: AT, scope: 'read write' }))
    const sub = await createAgent(`sub-${Math.random().toString(36).slice(2, 8)}`, ['agent'])
    const grandchild = await json<Tokens>(await exchange(sub, { subject_token: child.access_token, subject_token_type: AT, scope: 'read' }))
    return { person, sub, childSid: decodeJwt(child.access_token).sid as string, grandchildSid: decodeJwt(grandchild.access_token).sid as string }
  }
  const revokedEvents = async (sid: string) => (await json<Revoked>(await svc.admin('GET', `/audit?session=${sid}&type=session.revoked`))).items
  /** The child went with `childParent` (or was itself the revocation's root, with `childReason`); the grandchild with the child. */
  async function expectCascadeEvents(f: Awaited<ReturnType<typeof family>>, child: { reason: string; parent_id?: string }) {
    const agentChain = { sub: 'agent', client_id: 'agent' }
    expect(await revokedEvents(f.childSid)).toMatchObject([{ at: svc.clock.now(), user_id: userId, client_id: 'agent', data: { ...child, sub: userId, act: agentChain } }])
    expect(await revokedEvents(f.grandchildSid)).toMatchObject([{
      at: svc.clock.now(), user_id: userId, client_id: f.sub.client_id,
      data: { reason: 'parent_revoked', parent_id: f.childSid, sub: userId, act: { sub: f.sub.client_id, client_id: f.sub.client_id, act: agentChain } },
    }])
  }
  const withParent = (f: Awaited<ReturnType<typeof family>>) => ({ reason: 'parent_revoked', parent_id: f.person.session_id })

  test('RFC 7009 revocation of the parent', async () => {
    const f = await family()
    expect((await svc.form('/oauth/revoke', { token: f.person.refresh_token, client_id: 'app' })).status).toBe(200)
    expect(await revokedEvents(f.person.session_id)).toMatchObject([{ data: { reason: 'revoked_by_client' } }])
    await expectCascadeEvents(f, withParent(f))
  })

  test('the admin API', async () => {
    const f = await family()
    expect(await json(await svc.admin('DELETE', `/sessions/${f.person.session_id}`))).toEqual({ revoked: 3 })
    await expectCascadeEvents(f, withParent(f))
    // Revoked again: nothing changes and no second event is written.
    expect(await json(await svc.admin('DELETE', `/sessions/${f.person.session_id}`))).toEqual({ revoked: 0 })
    expect(await revokedEvents(f.childSid)).toHaveLength(1)
  })

  test("reuse of the parent's refresh token", async () => {
    const f = await family()
    const rotated = await svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: 'app', refresh_token: f.person.refresh_token })
    expect(rotated.status).toBe(200)
    svc.clock.advance(31)
    const reused = await svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: 'app', refresh_token: f.person.refresh_token })
    expect(await json(reused, 400)).toMatchObject({ error_reason: 'reused' })
    expect(await revokedEvents(f.person.session_id)).toMatchObject([{ data: { reason: 'reuse_detected' } }])
    await expectCascadeEvents(f, withParent(f))
  })

  test("the agent's policy withdrawn: the child is the root, the grandchild goes with it", async () => {
    const f = await family()
    await json(await svc.admin('PATCH', '/clients/agent', { token_exchange: null }))
    await expectCascadeEvents(f, { reason: 'exchange_policy_withdrawn' })
    expect(await revokedEvents(f.person.session_id)).toEqual([])
  })

  test("deleting the person's client", async () => {
    const f = await family()
    await svc.admin('DELETE', '/clients/app')
    await expectCascadeEvents(f, withParent(f))
    // The client's own session is covered by client.deleted.
    expect(await revokedEvents(f.person.session_id)).toEqual([])
  })

  test('disabling the person', async () => {
    const f = await family()
    expect((await svc.admin('POST', `/users/${userId}/disable`)).status).toBeLessThan(300)
    await expectCascadeEvents(f, withParent(f))
    expect(await revokedEvents(f.person.session_id)).toEqual([])
  })
})

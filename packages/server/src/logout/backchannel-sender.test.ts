import { createHash } from 'node:crypto'
import type { JSONWebKeySet } from 'jose'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { prepareSession } from '../sessions/issue.js'
import { PageClient } from '../test-support/browser-client.js'
import { createTestService, json, mint, refresh, type TestService } from '../test-support/harness.js'
import { startLogoutReceiver, verifyLogoutToken, type LogoutReceiver } from '../test-support/logout-receiver.js'
import { createBackchannelSender, type BackchannelSender } from './backchannel-sender.js'

// Every revocation path ends in a logout token at the client's back-channel URI: the real app in
// process (injected clock), a real loopback receiver, and the sender driven round by round.

const PASSWORD = 'correct horse battery'
const REDIRECT = 'http://127.0.0.1:9999/callback'
const verifier = 'v'.repeat(20) + 'erifier-0123456789-abcdefghijklmnop'
const challenge = createHash('sha256').update(verifier).digest('base64url')

let svc: TestService
let receiver: LogoutReceiver
let sender: BackchannelSender
let userId: string
let clientId: string
let quietClientId: string

async function setup(env: Record<string, string> = {}) {
  svc = await createTestService({ env })
  receiver = await startLogoutReceiver()
  sender = createBackchannelSender(svc.deps)
  userId = (await json<{ id: string }>(await svc.admin('POST', '/users', { email: 'ada@example.com', password: PASSWORD }), 201)).id
  clientId = (await json<{ client_id: string }>(await svc.admin('POST', '/clients', {
    name: 'Dashboard',
    redirect_uris: [REDIRECT],
    grant_types: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_method: 'none',
    first_party: true,
    backchannel_logout_uri: receiver.uri,
  }), 201)).client_id
  // A client without a back-channel URI: its sessions are revoked silently.
  quietClientId = (await json<{ client_id: string }>(await svc.admin('POST', '/clients', {
    name: 'Quiet', grant_types: ['refresh_token'], token_endpoint_auth_method: 'none',
  }), 201)).client_id
}

afterEach(async () => {
  await sender?.stop()
  await receiver?.stop()
  await svc?.close()
})

const jwks = async () => json<JSONWebKeySet>(await svc.fetch('/.well-known/jwks.json'))

/** Runs one sender round and checks a verified logout token arrived for each `sids`, and nothing else. */
async function expectLogouts(sids: string[], sub: string | null = userId): Promise<void> {
  await sender.runOnce()
  expect(receiver.received.length).toBe(sids.length)
  const keys = await jwks()
  const seen: string[] = []
  for (const r of receiver.received) {
    expect(r.contentType).toBe('application/x-www-form-urlencoded')
    const { payload } = await verifyLogoutToken(r.token, keys, {
      issuer: 'http://evergreen.test', clientId, sub, sid: String(JSON.parse(Buffer.from(r.token.split('.')[1]!, 'base64url').toString()).sid), iat: svc.clock.now(),
    })
    seen.push(payload.sid as string)
  }
  expect(seen.sort()).toEqual([...sids].sort())
  expect(await svc.deps.store.listBackchannelLogouts()).toEqual([])
}

describe('every revocation path sends a logout token', () => {
  beforeEach(async () => {
    await setup()
  })

  test('POST /oauth/revoke of a refresh token', async () => {
    const s = await mint(svc, userId, clientId)
    expect((await svc.form('/oauth/revoke', { token: s.refresh_token, client_id: clientId })).status).toBe(200)
    await expectLogouts([s.session_id])
  })

  test('admin API session revoke, with its delegated descendants', async () => {
    const parent = await mint(svc, userId, clientId)
    const user = (await svc.deps.store.getUser(userId))!
    const client = (await svc.deps.store.getClient(clientId))!
    const child = prepareSession(svc.deps, { user, client, kind: 'delegated', scope: '', parentId: parent.session_id, requester: { ip: null, user_agent: null } })
    await svc.deps.store.createSession(child.session, child.token, child.audit)
    const grandchild = prepareSession(svc.deps, { user, client, kind: 'delegated', scope: '', parentId: child.session.id, requester: { ip: null, user_agent: null } })
    await svc.deps.store.createSession(grandchild.session, grandchild.token, grandchild.audit)

    expect(await json(await svc.admin('DELETE', `/sessions/${parent.session_id}`))).toEqual({ revoked: 3 })
    await expectLogouts([parent.session_id, child.session.id, grandchild.session.id])
  })

  test('/settings/sessions: revoke one, then revoke all others', async () => {
    const one = await mint(svc, userId, clientId)
    const two = await mint(svc, userId, clientId)
    const three = await mint(svc, userId, clientId)
    await mint(svc, userId, quietClientId)
    const browser = new PageClient(svc)
    await browser.login('ada@example.com', PASSWORD)
    await browser.get('/settings/sessions')
    expect((await browser.post('/settings/sessions/revoke', { session_id: one.session_id })).status).toBe(303)
    await expectLogouts([one.session_id])

    receiver.received.length = 0
    await browser.get('/settings/sessions')
    expect((await browser.post('/settings/sessions/revoke-all', {})).status).toBe(303)
    await expectLogouts([two.session_id, three.session_id])
  })

  test('user disabled', async () => {
    const a = await mint(svc, userId, clientId)
    const b = await mint(svc, userId, clientId)
    await mint(svc, userId, quietClientId)
    await json(await svc.admin('POST', `/users/${userId}/disable`))
    await expectLogouts([a.session_id, b.session_id])
  })

  test('client deleted', async () => {
    const a = await mint(svc, userId, clientId)
    expect((await svc.admin('DELETE', `/clients/${clientId}`)).status).toBe(204)
    await expectLogouts([a.session_id])
  })

  test('refresh-token reuse after the grace window', async () => {
    const s = await mint(svc, userId, clientId)
    await json(await refresh(svc, clientId, s.refresh_token))
    svc.clock.advance(31)
    expect(await json(await refresh(svc, clientId, s.refresh_token), 400)).toMatchObject({ error_reason: 'reused' })
    await expectLogouts([s.session_id])
  })

  test('authorization-code replay', async () => {
    const browser = new PageClient(svc)
    await browser.login('ada@example.com', PASSWORD)
    const query = new URLSearchParams({
      response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, scope: 'openid', state: 's', nonce: 'n',
      code_challenge: challenge, code_challenge_method: 'S256',
    })
    const code = new URL((await browser.get(`/authorize?${query}`)).headers.get('location')!).searchParams.get('code')!
    const exchange = () => svc.form('/oauth/token', { grant_type: 'authorization_code', client_id: clientId, code, redirect_uri: REDIRECT, code_verifier: verifier })
    const tokens = await json<{ access_token: string }>(await exchange())
    const sid = JSON.parse(Buffer.from(tokens.access_token.split('.')[1]!, 'base64url').toString()).sid as string
    expect(receiver.received).toEqual([])
    expect((await exchange()).status).toBe(400)
    await expectLogouts([sid])
  })

  test('nothing is sent for a client without a back-channel URI, or for an already-revoked session', async () => {
    const quiet = await mint(svc, userId, quietClientId)
    await json(await svc.admin('DELETE', `/sessions/${quiet.session_id}`))
    const s = await mint(svc, userId, clientId)
    await json(await svc.admin('DELETE', `/sessions/${s.session_id}`))
    await expectLogouts([s.session_id])
    receiver.received.length = 0
    await json(await svc.admin('DELETE', `/sessions/${s.session_id}`))
    await expectLogouts([])
  })
})

describe('delivery', () => {
  test('a revocation in this process is delivered at once, without waiting for the poll', async () => {
    await setup()
    sender = createBackchannelSender(svc.deps, { pollMs: 3_600_000 })
    sender.start()
    const s = await mint(svc, userId, clientId)
    const browser = new PageClient(svc)
    await browser.login('ada@example.com', PASSWORD)
    await browser.get('/settings/sessions')
    const started = Date.now()
    await browser.post('/settings/sessions/revoke', { session_id: s.session_id })
    const got = await receiver.next(1000)
    expect(got.at - started).toBeLessThan(1000)
    await verifyLogoutToken(got.token, await jwks(), { issuer: 'http://evergreen.test', clientId, sub: userId, sid: s.session_id })
  })

  test('a receiver that hangs until its timeout does not hold up another client\'s logout', async () => {
    await setup({ EVERGREEN_BACKCHANNEL_TIMEOUT_SECONDS: '1' })
    const slowId = (await json<{ client_id: string }>(await svc.admin('POST', '/clients', {
      name: 'Slow', grant_types: ['refresh_token'], token_endpoint_auth_method: 'none', backchannel_logout_uri: 'http://127.0.0.1:9/hangs',
    }), 201)).client_id
    const sent: string[] = []
    sender = createBackchannelSender(svc.deps, {
      pollMs: 3_600_000,
      fetch: (url, init) => {
        sent.push(String(url))
        if (String(url) === receiver.uri) return fetch(url, init)
        // Never answers; only the sender's own timeout ends it.
        return new Promise((_resolve, reject) => init!.signal!.addEventListener('abort', () => reject(init!.signal!.reason)))
      },
    })
    sender.start()
    const slow = await mint(svc, userId, slowId)
    const fast = await mint(svc, userId, clientId)
    await json(await svc.admin('DELETE', `/sessions/${slow.session_id}`))
    await json(await svc.admin('DELETE', `/sessions/${fast.session_id}`))
    const started = Date.now()
    const got = await receiver.next(900)
    expect(Date.now() - started).toBeLessThan(900)
    await verifyLogoutToken(got.token, await jwks(), { issuer: 'http://evergreen.test', clientId, sub: userId, sid: fast.session_id })
    await sender.stop()
    // The hung delivery timed out and waits for its retry.
    expect(await svc.deps.store.listBackchannelLogouts()).toMatchObject([{ session_id: slow.session_id, attempts: 1, locked_until: null }])
    expect(sent).toContain('http://127.0.0.1:9/hangs')
  })

  test('a receiver that fails twice gets it on the third try, after 1 s and 2 s of backoff', async () => {
    await setup()
    receiver.failWith.push(500, 503)
    const s = await mint(svc, userId, clientId)
    await json(await svc.admin('DELETE', `/sessions/${s.session_id}`))

    expect(await sender.runOnce()).toEqual({ delivered: 0, failed: 1 })
    expect((await svc.deps.store.listBackchannelLogouts())[0]).toMatchObject({ attempts: 1, next_attempt_at: svc.clock.now() + 1, locked_until: null })
    expect(await sender.runOnce()).toEqual({ delivered: 0, failed: 0 })
    svc.clock.advance(1)
    expect(await sender.runOnce()).toEqual({ delivered: 0, failed: 1 })
    expect((await svc.deps.store.listBackchannelLogouts())[0]).toMatchObject({ attempts: 2, next_attempt_at: svc.clock.now() + 2 })
    svc.clock.advance(1)
    expect(await sender.runOnce()).toEqual({ delivered: 0, failed: 0 })
    svc.clock.advance(1)
    expect(await sender.runOnce()).toEqual({ delivered: 1, failed: 0 })
    expect(receiver.requests).toBe(3)
    await verifyLogoutToken(receiver.received[0]!.token, await jwks(), { issuer: 'http://evergreen.test', clientId, sub: userId, sid: s.session_id, iat: svc.clock.now() })
    const audit = (await svc.deps.store.listAudit({ type: 'backchannel_logout.delivered', limit: 10 })).items
    expect(audit).toMatchObject([{ session_id: s.session_id, client_id: clientId, data: { attempts: 3 } }])
  })

  test('redirects are not followed and count as failures; after the last attempt it is given up and audited', async () => {
    await setup({ EVERGREEN_BACKCHANNEL_MAX_ATTEMPTS: '2' })
    receiver.failWith.push(302, 302)
    const s = await mint(svc, userId, clientId)
    await json(await svc.admin('DELETE', `/sessions/${s.session_id}`))
    expect(await sender.runOnce()).toEqual({ delivered: 0, failed: 1 })
    svc.clock.advance(1)
    expect(await sender.runOnce()).toEqual({ delivered: 0, failed: 1 })
    expect(receiver.requests).toBe(2)
    expect(await svc.deps.store.listBackchannelLogouts()).toEqual([])
    const audit = (await svc.deps.store.listAudit({ type: 'backchannel_logout.failed', limit: 10 })).items
    expect(audit).toMatchObject([{ session_id: s.session_id, user_id: userId, client_id: clientId, data: { attempts: 2, reason: 'HTTP 302' } }])
    expect(JSON.stringify(audit)).not.toContain('eyJ')
  })

  test('an unreachable receiver is a failure, not a crash, and the row waits for its retry', async () => {
    await setup()
    const s = await mint(svc, userId, clientId)
    await receiver.stop()
    await json(await svc.admin('DELETE', `/sessions/${s.session_id}`))
    expect(await sender.runOnce()).toEqual({ delivered: 0, failed: 1 })
    expect(await svc.deps.store.listBackchannelLogouts()).toMatchObject([{ session_id: s.session_id, attempts: 1 }])
  })

  test('the injected fetch gets the form body with no redirect following and a timeout signal', async () => {
    await setup()
    const calls: { url: string; init: RequestInit }[] = []
    sender = createBackchannelSender(svc.deps, {
      fetch: async (url, init) => {
        calls.push({ url: String(url), init: init! })
        return new Response(null, { status: 204 })
      },
    })
    const s = await mint(svc, userId, clientId)
    await json(await svc.admin('DELETE', `/sessions/${s.session_id}`))
    expect(await sender.runOnce()).toEqual({ delivered: 1, failed: 0 })
    expect(calls).toHaveLength(1)
    expect(calls[0]!.url).toBe(receiver.uri)
    expect(calls[0]!.init).toMatchObject({ method: 'POST', redirect: 'manual' })
    expect(calls[0]!.init.signal).toBeInstanceOf(AbortSignal)
    expect(String(calls[0]!.init.body)).toMatch(/^logout_token=[\w-]+\.[\w-]+\.[\w-]+$/)
  })

  test('over the cap, the oldest pending rows are dropped with an audit event and a metric', async () => {
    await setup({ EVERGREEN_BACKCHANNEL_MAX_PENDING: '2' })
    const sessions = [await mint(svc, userId, clientId), await mint(svc, userId, clientId), await mint(svc, userId, clientId)]
    for (const s of sessions) await json(await svc.admin('DELETE', `/sessions/${s.session_id}`))
    expect(await sender.runOnce()).toEqual({ delivered: 2, failed: 0 })
    const sids = receiver.received.map((r) => JSON.parse(Buffer.from(r.token.split('.')[1]!, 'base64url').toString()).sid as string)
    expect(sids.sort()).toEqual([sessions[1]!.session_id, sessions[2]!.session_id].sort())
    expect((await svc.deps.store.listAudit({ type: 'backchannel_logout.dropped', limit: 10 })).items).toMatchObject([{ data: { dropped: 1, max_pending: 2 } }])
    expect(await svc.deps.metrics.registry.metrics()).toMatch(/evergreen_backchannel_logout_total\{outcome="dropped"\} 1/)
  })
})

import { decodeJwt } from 'jose'
import { afterAll, afterEach, beforeEach, describe, expect, test } from 'vitest'
import { PostgresStore } from '../store/postgres.js'
import type { Store } from '../store/types.js'
import { createTestService, json, mint, openTempSqlite, refresh, seedUserAndClient, type TestService } from '../test-support/harness.js'
import { describePostgres, dropSchema, freshSchemaName, postgresUrl } from '../test-support/postgres.js'

// Every rotation rule of docs/architecture.md "Refresh rotation", proven through the token endpoint with an injected clock,
// once per store.

interface Refreshed {
  access_token: string
  refresh_token: string
  expires_in: number
  refresh_token_expires_in: number
  scope: string
}
interface OAuthErr {
  error: string
  error_reason?: string
}

function rotationRules(openStore: () => Promise<Store>) {
  let svc: TestService
  let userId: string
  let clientId: string

  beforeEach(async () => {
    svc = await createTestService({ store: await openStore() })
    ;({ userId, clientId } = await seedUserAndClient(svc, { allowed_scopes: ['read', 'write'] }))
  })
  afterEach(async () => {
    await svc?.close()
  })

  const rotate = async (token: string, extra: Record<string, string> = {}) => json<Refreshed>(await refresh(svc, clientId, token, extra))
  const refuse = async (token: string, status = 400) => json<OAuthErr>(await refresh(svc, clientId, token), status)

  test('the refresh TTL defaults to 24 h', async () => {
    const issued = await mint(svc, userId, clientId)
    expect(issued.refresh_token_expires_in).toBe(86_400)
    const next = await rotate(issued.refresh_token)
    expect(next.refresh_token_expires_in).toBe(86_400)
  })

  test('a 30-day request is honoured', async () => {
    const issued = await mint(svc, userId, clientId, { refresh_token_ttl: 2_592_000 })
    expect(issued.refresh_token_expires_in).toBe(2_592_000)
  })

  test('a 10-year request is capped at 90 days', async () => {
    const issued = await mint(svc, userId, clientId, { refresh_token_ttl: 315_360_000 })
    expect(issued.refresh_token_expires_in).toBe(7_776_000)
    const session = await json<{ refresh_ttl: number }>(await svc.admin('GET', `/sessions/${issued.session_id}`))
    expect(session.refresh_ttl).toBe(7_776_000)
  })

  test("the client's maximum caps a request below 90 days", async () => {
    const capped = await seedUserAndClient(svc, { refresh_token_ttl_max: 3_600 })
    const issued = await mint(svc, capped.userId, capped.clientId, { refresh_token_ttl: 2_592_000 })
    expect(issued.refresh_token_expires_in).toBe(3_600)
  })

  test('the TTL is unchanged after 3 rotations without re-supplying it, and the idle expiry slides', async () => {
    const issued = await mint(svc, userId, clientId, { refresh_token_ttl: 2_592_000 })
    let token = issued.refresh_token
    for (let i = 0; i < 3; i++) {
      svc.clock.advance(1_000_000)
      const next = await rotate(token)
      expect(next.refresh_token_expires_in).toBe(2_592_000)
      expect(next.refresh_token).not.toBe(token)
      token = next.refresh_token
    }
    const session = await json<{ idle_expires_at: number; generation: number }>(await svc.admin('GET', `/sessions/${issued.session_id}`))
    expect(session.generation).toBe(3)
    expect(session.idle_expires_at).toBe(svc.clock.now() + 2_592_000)
  })

  test('a replay within the grace window returns the identical successor and a fresh access token', async () => {
    const issued = await mint(svc, userId, clientId)
    const first = await rotate(issued.refresh_token)
    svc.clock.advance(29)
    const replay = await rotate(issued.refresh_token)
    expect(replay.refresh_token).toBe(first.refresh_token)
    expect(decodeJwt(replay.access_token).jti).not.toBe(decodeJwt(first.access_token).jti)
    // The successor still works, and the session was never revoked.
    const after = await rotate(first.refresh_token)
    expect(after.refresh_token).not.toBe(first.refresh_token)
  })

  test('grace replays do not walk forward: a spent token whose successor was spent too is superseded, and the session lives', async () => {
    const issued = await mint(svc, userId, clientId)
    const t1 = await rotate(issued.refresh_token)
    svc.clock.advance(5)
    const t2 = await rotate(t1.refresh_token)
    svc.clock.advance(5)
    // T0 is 10 s old and inside its window, but T1 has been spent: no token, neither T1 nor T2.
    const lagging = await svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: issued.refresh_token }, { 'user-agent': 'copy/1' })
    const body = await json<OAuthErr & { refresh_token?: string }>(lagging, 400)
    expect(body).toMatchObject({ error: 'invalid_grant', error_reason: 'superseded' })
    expect(body.refresh_token).toBeUndefined()
    // T1's successor T2 is still current, so a lost response on T1 is still recoverable...
    const replay = await rotate(t1.refresh_token)
    expect(replay.refresh_token).toBe(t2.refresh_token)
    // ...until T2 is spent: then T1 is superseded as well.
    const t3 = await rotate(t2.refresh_token)
    expect(await refuse(t1.refresh_token)).toMatchObject({ error: 'invalid_grant', error_reason: 'superseded' })
    // Not revoked: a lagging copy is not proof of theft, and the live token keeps working.
    const session = await json<{ active: boolean; revoked_reason: string | null }>(await svc.admin('GET', `/sessions/${issued.session_id}`))
    expect(session).toMatchObject({ active: true, revoked_reason: null })
    expect((await rotate(t3.refresh_token)).refresh_token).toMatch(/^egr_/)
  })

  test('every grace replay and every superseded refusal is audited with the presenter', async () => {
    const issued = await mint(svc, userId, clientId)
    const t1 = await rotate(issued.refresh_token)
    const present = (token: string, ua: string) =>
      svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: token }, { 'user-agent': ua })
    await json(await present(issued.refresh_token, 'replayer/1'))
    await rotate(t1.refresh_token)
    await json(await present(issued.refresh_token, 'lagger/1'), 400)
    const audit = await json<{ items: { type: string; user_agent: string | null; data: { generation: number; current_generation?: number } }[] }>(
      await svc.admin('GET', `/audit?session=${issued.session_id}`),
    )
    const replayed = audit.items.filter((e) => e.type === 'refresh.replayed')
    const superseded = audit.items.filter((e) => e.type === 'refresh.superseded')
    expect(replayed).toHaveLength(1)
    expect(replayed[0]).toMatchObject({ user_agent: 'replayer/1', data: { generation: 0 } })
    expect(superseded).toHaveLength(1)
    expect(superseded[0]).toMatchObject({ user_agent: 'lagger/1', data: { generation: 0, current_generation: 2 } })
    expect(audit.items.some((e) => e.type === 'session.revoked' || e.type === 'refresh.reused')).toBe(false)
  })

  test('a superseded token still counts as reuse once its own window is over', async () => {
    const issued = await mint(svc, userId, clientId)
    const t1 = await rotate(issued.refresh_token)
    await rotate(t1.refresh_token)
    svc.clock.advance(31)
    expect(await refuse(issued.refresh_token)).toMatchObject({ error_reason: 'reused' })
  })

  test('parallel refreshes of one token all get the identical successor', async () => {
    const issued = await mint(svc, userId, clientId)
    const results = await Promise.all(Array.from({ length: 20 }, () => rotate(issued.refresh_token)))
    expect(new Set(results.map((r) => r.refresh_token)).size).toBe(1)
  })

  test('a replay after the grace window revokes the session and its newest token stops working', async () => {
    const issued = await mint(svc, userId, clientId)
    const first = await rotate(issued.refresh_token)
    const second = await rotate(first.refresh_token)
    svc.clock.advance(31)
    expect(await refuse(issued.refresh_token)).toMatchObject({ error: 'invalid_grant', error_reason: 'reused' })
    expect(await refuse(second.refresh_token)).toMatchObject({ error: 'invalid_grant', error_reason: 'revoked' })
    const session = await json<{ revoked_reason: string; active: boolean }>(await svc.admin('GET', `/sessions/${issued.session_id}`))
    expect(session).toMatchObject({ revoked_reason: 'reuse_detected', active: false })
    const audit = await json<{ items: { type: string; data: Record<string, { at: number }> }[] }>(
      await svc.admin('GET', `/audit?session=${issued.session_id}&type=refresh.reused`),
    )
    expect(audit.items).toHaveLength(1)
    expect(audit.items[0]!.data.first_presented!.at).toBeLessThan(audit.items[0]!.data.reused!.at)
  })

  test('reuse revokes that one session only, never the other sessions of the user or client', async () => {
    const a = await mint(svc, userId, clientId)
    const b = await mint(svc, userId, clientId)
    await rotate(a.refresh_token)
    svc.clock.advance(60)
    await refuse(a.refresh_token)
    const stillGood = await rotate(b.refresh_token)
    expect(stillGood.refresh_token).toMatch(/^egr_/)
  })

  test('with grace 0, an immediate replay is reuse', async () => {
    await svc.close()
    svc = await createTestService({ store: await openStore(), env: { EVERGREEN_REFRESH_GRACE_SECONDS: '0' } })
    ;({ userId, clientId } = await seedUserAndClient(svc))
    const issued = await mint(svc, userId, clientId)
    await rotate(issued.refresh_token)
    expect(await refuse(issued.refresh_token)).toMatchObject({ error_reason: 'reused' })
  })

  test('an expired token gets invalid_grant expired_idle', async () => {
    const issued = await mint(svc, userId, clientId, { refresh_token_ttl: 3_600 })
    svc.clock.advance(3_600)
    expect(await refuse(issued.refresh_token)).toMatchObject({ error: 'invalid_grant', error_reason: 'expired_idle' })
  })

  test('a revoked session gets invalid_grant revoked', async () => {
    const issued = await mint(svc, userId, clientId)
    await json(await svc.admin('DELETE', `/sessions/${issued.session_id}`))
    expect(await refuse(issued.refresh_token)).toMatchObject({ error: 'invalid_grant', error_reason: 'revoked' })
  })

  test("another client's token gets invalid_grant client_mismatch and the session survives", async () => {
    const issued = await mint(svc, userId, clientId)
    const other = await seedUserAndClient(svc)
    const res = await json<OAuthErr>(await refresh(svc, other.clientId, issued.refresh_token), 400)
    expect(res).toMatchObject({ error: 'invalid_grant', error_reason: 'client_mismatch' })
    await rotate(issued.refresh_token)
  })

  test('an absolute session lifetime ends renewal and caps the refresh expiry', async () => {
    const limited = await seedUserAndClient(svc, { session_max_lifetime: 7_200 })
    const issued = await mint(svc, limited.userId, limited.clientId, { refresh_token_ttl: 86_400 })
    expect(issued.refresh_token_expires_in).toBe(7_200)
    svc.clock.advance(3_600)
    const next = json<Refreshed>(await refresh(svc, limited.clientId, issued.refresh_token))
    expect((await next).refresh_token_expires_in).toBe(3_600)
    svc.clock.advance(3_600)
    const res = await json<OAuthErr>(await refresh(svc, limited.clientId, (await next).refresh_token), 400)
    expect(res).toMatchObject({ error: 'invalid_grant', error_reason: 'expired_absolute' })
  })

  test('unknown and malformed tokens are not_found and malformed', async () => {
    const issued = await mint(svc, userId, clientId)
    // Flip one body character: the checksum catches it before any lookup.
    const mangled = issued.refresh_token.slice(0, 10) + (issued.refresh_token[10] === 'a' ? 'b' : 'a') + issued.refresh_token.slice(11)
    expect(await refuse(mangled)).toMatchObject({ error: 'invalid_grant', error_reason: 'malformed' })
    expect(await refuse('egr_garbage')).toMatchObject({ error: 'invalid_grant', error_reason: 'malformed' })
    const { formatRefreshToken } = await import('@evergreen/core')
    expect(await refuse(formatRefreshToken(new Uint8Array(32)))).toMatchObject({ error_reason: 'not_found' })
  })

  test('the refresh token is accepted in the Evergreen-Refresh-Token header', async () => {
    const issued = await mint(svc, userId, clientId)
    const res = await svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId }, { 'evergreen-refresh-token': issued.refresh_token })
    expect((await json<Refreshed>(res)).refresh_token).toMatch(/^egr_/)
  })

  test('a narrower scope may be asked on refresh, a wider one is invalid_scope', async () => {
    const issued = await mint(svc, userId, clientId, { scope: 'read write' })
    const narrow = await rotate(issued.refresh_token, { scope: 'read' })
    expect(narrow.scope).toBe('read')
    expect(decodeJwt(narrow.access_token).scope).toBe('read')
    const wide = await json<OAuthErr>(await refresh(svc, clientId, narrow.refresh_token, { scope: 'read admin' }), 400)
    expect(wide.error).toBe('invalid_scope')
    // The session keeps its full scope on the next plain refresh.
    expect((await rotate(narrow.refresh_token)).scope).toBe('read write')
  })

  test('access tokens carry iss sub aud exp iat jti client_id scope sid, with sub and sid as the admin API shows them', async () => {
    const issued = await mint(svc, userId, clientId, { scope: 'read' })
    const next = await rotate(issued.refresh_token)
    const claims = decodeJwt(next.access_token)
    expect(claims).toMatchObject({ iss: 'http://evergreen.test', sub: userId, aud: clientId, client_id: clientId, scope: 'read', sid: issued.session_id })
    expect(claims.exp! - claims.iat!).toBe(900)
    expect(next.expires_in).toBe(900)
    expect(typeof claims.jti).toBe('string')
    await json(await svc.admin('GET', `/users/${claims.sub}`))
    await json(await svc.admin('GET', `/sessions/${claims.sid as string}`))
  })

  test('each rotation writes refresh.succeeded; each failure writes refresh.failed with its reason', async () => {
    const issued = await mint(svc, userId, clientId, { refresh_token_ttl: 600 })
    const next = await rotate(issued.refresh_token)
    svc.clock.advance(601)
    await refuse(next.refresh_token)
    const events = await json<{ items: { type: string; data: { reason?: string } }[] }>(await svc.admin('GET', `/audit?session=${issued.session_id}`))
    expect(events.items.map((e) => e.type)).toEqual(['session.created', 'refresh.succeeded', 'refresh.failed'])
    expect(events.items[2]!.data.reason).toBe('expired_idle')
  })
}

describe('rotation rules on SQLite', () => rotationRules(openTempSqlite))

describePostgres('rotation rules on PostgreSQL', () => {
  const schemas: string[] = []
  afterAll(async () => {
    for (const s of schemas) await dropSchema(postgresUrl, s)
  })
  rotationRules(async () => {
    const schema = freshSchemaName()
    schemas.push(schema)
    return new PostgresStore({ connectionString: postgresUrl, schema, max: 4 })
  })
})

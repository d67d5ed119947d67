import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { describePostgres, dropSchema, freshSchemaName, postgresUrl } from '../../packages/server/src/test-support/postgres.js'
import {
  admin, createFixture, mintSession, startServerProcess, type Fixture, type MintedSession, type ServerProcess, type StartOptions,
} from '../support/server-process.js'

// docs/architecture.md "Server surface": bad input is a 4xx with OAuth error JSON, never a 500, and it
// changes nothing. Every case goes over a real socket to a real server process, once on SQLite
// and once on PostgreSQL (whose drivers refuse some inputs SQLite takes, such as NUL bytes).

const MAX_BODY = 2048


/** What each case needs from its suite: the server and the fixtures made in beforeAll. */
interface Ctx {
  server: ServerProcess
  fx: Fixture
  session: MintedSession
}

interface Snapshot {
  session: Record<string, unknown>
  audit: { id: string; type: string }[]
  users: number
  clients: number
  sessions: number
}

async function snapshot(t: Ctx): Promise<Snapshot> {
  const [s, audit, users, clients, sessions] = await Promise.all([
    admin(t.server, 'GET', `/sessions/${t.session.session_id}`),
    admin<{ items: { id: string; type: string }[]; next_cursor: string | null }>(t.server, 'GET', '/audit?limit=500'),
    admin<{ items: unknown[] }>(t.server, 'GET', '/users?limit=500'),
    admin<{ items: unknown[] }>(t.server, 'GET', '/clients?limit=500'),
    admin<{ items: unknown[] }>(t.server, 'GET', '/sessions?limit=500'),
  ])
  expect(audit.next_cursor).toBeNull()
  return { session: s, audit: audit.items, users: users.items.length, clients: clients.items.length, sessions: sessions.items.length }
}

interface Case {
  method?: string
  path: string
  headers?: Record<string, string>
  body?: string | (() => BodyInit)
  /** The expected 4xx, or the ones allowed when the order of checks may reasonably vary. */
  status?: number | number[]
  error?: string | string[]
  /** An RFC 9457 problem rather than OAuth error JSON. */
  problem?: boolean
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
/** A DPoP proof "signed" with HS256: refused for its alg before any key or claim is looked at. */
const HS256_PROOF = `${b64url({ alg: 'HS256', typ: 'dpop+jwt' })}.${b64url({ htm: 'POST', htu: 'http://x/oauth/token', iat: 0, jti: 'j' })}.c2ln`
const JSON_TYPE = { 'content-type': 'application/json' }
const ADMIN = (t: Ctx) => ({ authorization: `Bearer ${t.server.adminKey}` })
const big = 'x'.repeat(10 * 1024)

/** A body with no content-length: the size limit must hold while streaming, not just on the header. */
const chunked = (text: string) => () =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      const bytes = new TextEncoder().encode(text)
      for (let i = 0; i < bytes.length; i += 1024) controller.enqueue(bytes.subarray(i, i + 1024))
      controller.close()
    },
  })

const rt = (t: Ctx) => t.session.refresh_token
const pub = (t: Ctx) => t.fx.publicClientId
const confidentialBasic = (t: Ctx) => `Basic ${Buffer.from(`${t.fx.confidentialClientId}:${t.fx.confidentialClientSecret}`).toString('base64')}`

// [name, case]: names are known at collection time, bodies need the fixtures, so they are built per test.
type Named = [string, (t: Ctx) => Case]

const tokenCases: Named[] = [
  ['malformed form body', (t) => ({ path: '/oauth/token', headers: FORM, body: `%%%&&&==&grant_type&client_id=${pub(t)}`, status: 400, error: 'invalid_request' })],
  ['JSON to the token endpoint', (t) => ({ path: '/oauth/token', headers: JSON_TYPE, body: JSON.stringify({ grant_type: 'refresh_token', refresh_token: rt(t), client_id: pub(t) }), status: 400, error: 'invalid_request' })],
  ['no content type', (t) => ({ path: '/oauth/token', body: `grant_type=refresh_token&client_id=${pub(t)}&refresh_token=${rt(t)}`, status: 400, error: 'invalid_request' })],
  ['repeated parameter', (t) => ({ path: '/oauth/token', headers: FORM, body: `grant_type=refresh_token&client_id=${pub(t)}&refresh_token=${rt(t)}&refresh_token=${rt(t)}`, status: 400, error: 'invalid_request' })],
  ['repeated grant_type', (t) => ({ path: '/oauth/token', headers: FORM, body: `grant_type=refresh_token&grant_type=client_credentials&client_id=${pub(t)}&refresh_token=${rt(t)}`, status: 400, error: 'invalid_request' })],
  ['missing grant_type', (t) => ({ path: '/oauth/token', headers: FORM, body: `client_id=${pub(t)}&refresh_token=${rt(t)}`, status: 400, error: 'invalid_request' })],
  // No grant_type and no client: which of the two is reported first is the server's choice.
  ['empty body', (_t) => ({ path: '/oauth/token', headers: FORM, body: '', status: [400, 401], error: ['invalid_request', 'invalid_client'] })],
  ['unknown grant_type', (t) => ({ path: '/oauth/token', headers: FORM, body: `grant_type=password&client_id=${pub(t)}&username=a&password=b`, status: 400, error: 'unsupported_grant_type' })],
  ['missing refresh_token', (t) => ({ path: '/oauth/token', headers: FORM, body: `grant_type=refresh_token&client_id=${pub(t)}`, status: 400, error: 'invalid_request' })],
  ['garbage refresh token', (t) => ({ path: '/oauth/token', headers: FORM, body: `grant_type=refresh_token&client_id=${pub(t)}&refresh_token=garbage%ff`, status: 400, error: 'invalid_grant' })],
  ['refresh token with a wrong checksum', (t) => ({ path: '/oauth/token', headers: FORM, body: `grant_type=refresh_token&client_id=${pub(t)}&refresh_token=${rt(t).slice(0, -1)}${rt(t).endsWith('A') ? 'B' : 'A'}`, status: 400, error: 'invalid_grant' })],
  ['refresh token in body and header differ', (t) => ({ path: '/oauth/token', headers: { ...FORM, 'evergreen-refresh-token': 'egr_other' }, body: `grant_type=refresh_token&client_id=${pub(t)}&refresh_token=${rt(t)}`, status: 400, error: 'invalid_request' })],
  ['DPoP header that is not a JWS', (t) => ({ path: '/oauth/token', headers: { ...FORM, dpop: 'not-a-proof' }, body: `grant_type=refresh_token&client_id=${pub(t)}&refresh_token=${rt(t)}`, status: 400, error: 'invalid_dpop_proof' })],
  ['two DPoP proofs in one header', (t) => ({ path: '/oauth/token', headers: { ...FORM, dpop: 'a.b.c, d.e.f' }, body: `grant_type=refresh_token&client_id=${pub(t)}&refresh_token=${rt(t)}`, status: 400, error: 'invalid_dpop_proof' })],
  ['DPoP proof with a symmetric alg', (t) => ({ path: '/oauth/token', headers: { ...FORM, dpop: HS256_PROOF }, body: `grant_type=refresh_token&client_id=${pub(t)}&refresh_token=${rt(t)}`, status: 400, error: 'invalid_dpop_proof' })],
  ['refresh token presented by another client', (t) => ({ path: '/oauth/token', headers: { ...FORM, authorization: confidentialBasic(t) }, body: `grant_type=refresh_token&refresh_token=${rt(t)}`, status: 400, error: 'invalid_grant' })],
  ['unknown client', (t) => ({ path: '/oauth/token', headers: FORM, body: `grant_type=refresh_token&client_id=cli_nope&refresh_token=${rt(t)}`, status: 401, error: 'invalid_client' })],
  ['no client at all', (t) => ({ path: '/oauth/token', headers: FORM, body: `grant_type=refresh_token&refresh_token=${rt(t)}`, status: 401, error: 'invalid_client' })],
  ['malformed Basic header', (t) => ({ path: '/oauth/token', headers: { ...FORM, authorization: 'Basic !!!not-base64!!!' }, body: `grant_type=refresh_token&refresh_token=${rt(t)}`, status: 401, error: 'invalid_client' })],
  ['Basic header with bad percent-encoding', (t) => ({ path: '/oauth/token', headers: { ...FORM, authorization: `Basic ${Buffer.from('%zz:%zz').toString('base64')}` }, body: `grant_type=refresh_token&refresh_token=${rt(t)}`, status: 401, error: 'invalid_client' })],
  ['scope wider than the session', (t) => ({ path: '/oauth/token', headers: FORM, body: `grant_type=refresh_token&client_id=${pub(t)}&refresh_token=${rt(t)}&scope=admin`, status: 400, error: 'invalid_scope' })],
  ['invalid UTF-8 body', (_t) => ({ path: '/oauth/token', headers: FORM, body: () => new Uint8Array([0x67, 0x72, 0x61, 0xff, 0xfe, 0x3d, 0x31]), status: 400, error: 'invalid_request' })],
  ['oversized body (content-length)', (t) => ({ path: '/oauth/token', headers: FORM, body: `grant_type=refresh_token&client_id=${pub(t)}&refresh_token=${rt(t)}&pad=${big}`, status: 413, error: 'invalid_request' })],
  ['oversized body (chunked)', (t) => ({ path: '/oauth/token', headers: FORM, body: chunked(`grant_type=refresh_token&client_id=${pub(t)}&refresh_token=${rt(t)}&pad=${big}`), status: 413, error: 'invalid_request' })],
  ['GET on /oauth/token', (t) => ({ method: 'GET', path: `/oauth/token?grant_type=refresh_token&refresh_token=${rt(t)}`, status: 405, error: 'invalid_request' })],
  ['PUT on /oauth/revoke', (t) => ({ method: 'PUT', path: '/oauth/revoke', headers: FORM, body: `token=${rt(t)}`, status: 405, error: 'invalid_request' })],
  ['revocation without a token', (t) => ({ path: '/oauth/revoke', headers: FORM, body: `client_id=${pub(t)}`, status: 400, error: 'invalid_request' })],
  ['revocation of the token by another client', (t) => ({ path: '/oauth/revoke', headers: { ...FORM, authorization: confidentialBasic(t) }, body: `token=${rt(t)}`, status: 400, error: 'unauthorized_client' })],
  ['introspection without client authentication', (t) => ({ path: '/oauth/introspect', headers: FORM, body: `token=${rt(t)}&client_id=${pub(t)}`, status: 401, error: 'invalid_client' })],
  ['unknown path', (_t) => ({ method: 'GET', path: '/no/such/thing', status: 404, error: 'invalid_request' })],
  ['unknown path with a bad percent-escape', (_t) => ({ method: 'GET', path: '/oauth/%E0%A4%A', status: 404 })],
]

const adminCases: Named[] = [
  ['admin: no key', (_t) => ({ method: 'GET', path: '/admin/v1/users', status: 401, error: 'invalid_token' })],
  ['admin: malformed JSON', (t) => ({ path: '/admin/v1/users', headers: { ...ADMIN(t), ...JSON_TYPE }, body: '{"email": "x@y.z",', status: 400, error: 'invalid_request' })],
  ['admin: JSON array', (t) => ({ path: '/admin/v1/users', headers: { ...ADMIN(t), ...JSON_TYPE }, body: '[]', status: 400, error: 'invalid_request' })],
  ['admin: JSON null', (t) => ({ path: '/admin/v1/users', headers: { ...ADMIN(t), ...JSON_TYPE }, body: 'null', status: 400, error: 'invalid_request' })],
  ['admin: form body', (t) => ({ path: '/admin/v1/users', headers: { ...ADMIN(t), ...FORM }, body: 'email=x%40y.z', status: 400, error: 'invalid_request' })],
  ['admin: email of the wrong type', (t) => ({ path: '/admin/v1/users', headers: { ...ADMIN(t), ...JSON_TYPE }, body: JSON.stringify({ email: 42 }), status: 400, error: 'invalid_request' })],
  ['admin: not an email', (t) => ({ path: '/admin/v1/users', headers: { ...ADMIN(t), ...JSON_TYPE }, body: JSON.stringify({ email: 'no at sign' }), status: 400, error: 'invalid_request' })],
  ['admin: password too short', (t) => ({ path: '/admin/v1/users', headers: { ...ADMIN(t), ...JSON_TYPE }, body: JSON.stringify({ email: 'short@example.test', password: 'x' }), status: 400, error: 'invalid_request' })],
  ['admin: duplicate email', (t) => ({ path: '/admin/v1/users', headers: { ...ADMIN(t), ...JSON_TYPE }, body: JSON.stringify({ email: t.fx.email.toUpperCase() }), status: 409, problem: true })],
  ['admin: unknown user field', (t) => ({ path: '/admin/v1/users', headers: { ...ADMIN(t), ...JSON_TYPE }, body: JSON.stringify({ email: 'new@example.test', is_admin: true }), status: 400, error: 'invalid_request' })],
  ['admin: __proto__ field', (t) => ({ path: '/admin/v1/users', headers: { ...ADMIN(t), ...JSON_TYPE }, body: '{"email":"proto@example.test","__proto__":{"x":1}}', status: 400, error: 'invalid_request' })],
  ['admin: grant_types not an array', (t) => ({ path: '/admin/v1/clients', headers: { ...ADMIN(t), ...JSON_TYPE }, body: JSON.stringify({ name: 'c', grant_types: 'refresh_token' }), status: 400, error: 'invalid_request' })],
  ['admin: unknown grant type', (t) => ({ path: '/admin/v1/clients', headers: { ...ADMIN(t), ...JSON_TYPE }, body: JSON.stringify({ name: 'c', grant_types: ['password'] }), status: 400, error: 'invalid_request' })],
  ['admin: unknown auth method', (t) => ({ path: '/admin/v1/clients', headers: { ...ADMIN(t), ...JSON_TYPE }, body: JSON.stringify({ name: 'c', token_endpoint_auth_method: 'private_key_jwt' }), status: 400, error: 'invalid_request' })],
  ['admin: ttl as a string', (t) => ({ path: '/admin/v1/clients', headers: { ...ADMIN(t), ...JSON_TYPE }, body: JSON.stringify({ name: 'c', refresh_token_ttl: '3600' }), status: 400, error: 'invalid_request' })],
  ['admin: require_dpop not a boolean', (t) => ({ path: '/admin/v1/clients', headers: { ...ADMIN(t), ...JSON_TYPE }, body: JSON.stringify({ name: 'c', require_dpop: 'yes' }), status: 400, error: 'invalid_request' })],
  ['admin: first_party not a boolean', (t) => ({ path: '/admin/v1/clients', headers: { ...ADMIN(t), ...JSON_TYPE }, body: JSON.stringify({ name: 'c', first_party: 'yes' }), status: 400, error: 'invalid_request' })],
  ['admin: redirect URI with a fragment', (t) => ({ path: '/admin/v1/clients', headers: { ...ADMIN(t), ...JSON_TYPE }, body: JSON.stringify({ name: 'c', redirect_uris: ['https://app.test/cb#x'] }), status: 400, error: 'invalid_request' })],
  ['admin: unknown client field', (t) => ({ path: '/admin/v1/clients', headers: { ...ADMIN(t), ...JSON_TYPE }, body: JSON.stringify({ name: 'c', client_secret: 'mine' }), status: 400, error: 'invalid_request' })],
  ['admin: mint with a negative ttl', (t) => ({ path: '/admin/v1/tokens', headers: { ...ADMIN(t), ...JSON_TYPE }, body: JSON.stringify({ user: t.fx.userId, client_id: pub(t), refresh_token_ttl: -5 }), status: 400, error: 'invalid_request' })],
  ['admin: mint with a fractional ttl', (t) => ({ path: '/admin/v1/tokens', headers: { ...ADMIN(t), ...JSON_TYPE }, body: JSON.stringify({ user: t.fx.userId, client_id: pub(t), refresh_token_ttl: 1.5 }), status: 400, error: 'invalid_request' })],
  ['admin: mint with a ttl string', (t) => ({ path: '/admin/v1/tokens', headers: { ...ADMIN(t), ...JSON_TYPE }, body: JSON.stringify({ user: t.fx.userId, client_id: pub(t), refresh_token_ttl: '3600' }), status: 400, error: 'invalid_request' })],
  ['admin: mint for an unknown user', (t) => ({ path: '/admin/v1/tokens', headers: { ...ADMIN(t), ...JSON_TYPE }, body: JSON.stringify({ user: 'usr_nope', client_id: pub(t) }), status: 404, problem: true })],
  ['admin: mint with user of the wrong type', (t) => ({ path: '/admin/v1/tokens', headers: { ...ADMIN(t), ...JSON_TYPE }, body: JSON.stringify({ user: { id: t.fx.userId }, client_id: pub(t) }), status: 400, error: 'invalid_request' })],
  ['admin: unknown mint field', (t) => ({ path: '/admin/v1/tokens', headers: { ...ADMIN(t), ...JSON_TYPE }, body: JSON.stringify({ user: t.fx.userId, client_id: pub(t), refresh_token: 'egr_mine' }), status: 400, error: 'invalid_request' })],
  ['admin: oversized JSON', (t) => ({ path: '/admin/v1/users', headers: { ...ADMIN(t), ...JSON_TYPE }, body: JSON.stringify({ email: 'big@example.test', name: big }), status: 413 })],
  ['admin: bad users cursor', (t) => ({ method: 'GET', path: '/admin/v1/users?cursor=not-a-cursor', headers: ADMIN(t), status: 400, error: 'invalid_request' })],
  ['admin: bad sessions cursor', (t) => ({ method: 'GET', path: '/admin/v1/sessions?cursor=eyJ4IjoxfQ', headers: ADMIN(t), status: 400, error: 'invalid_request' })],
  ['admin: bad audit cursor', (t) => ({ method: 'GET', path: '/admin/v1/audit?cursor=%FF%FE', headers: ADMIN(t), status: 400, error: 'invalid_request' })],
  ['admin: bad clients cursor', (t) => ({ method: 'GET', path: '/admin/v1/clients?cursor=' + 'A'.repeat(300), headers: ADMIN(t), status: 400, error: 'invalid_request' })],
  ['admin: limit out of range', (t) => ({ method: 'GET', path: '/admin/v1/sessions?limit=0', headers: ADMIN(t), status: 400, error: 'invalid_request' })],
  ['admin: limit not a number', (t) => ({ method: 'GET', path: '/admin/v1/audit?limit=ten', headers: ADMIN(t), status: 400, error: 'invalid_request' })],
  ['admin: active not a boolean', (t) => ({ method: 'GET', path: '/admin/v1/sessions?active=maybe', headers: ADMIN(t), status: 400, error: 'invalid_request' })],
  ['admin: unknown session', (t) => ({ method: 'GET', path: '/admin/v1/sessions/ses_nope', headers: ADMIN(t), status: 404, problem: true })],
  ['admin: session id with a bad percent-escape', (t) => ({ method: 'GET', path: '/admin/v1/sessions/%E0%A4%A', headers: ADMIN(t), status: 404 })],
  ['admin: delete unknown session', (t) => ({ method: 'DELETE', path: '/admin/v1/sessions/ses_nope', headers: ADMIN(t), status: 404, problem: true })],
  ['admin: patch a client auth method', (t) => ({ method: 'PATCH', path: `/admin/v1/clients/${pub(t)}`, headers: { ...ADMIN(t), ...JSON_TYPE }, body: JSON.stringify({ token_endpoint_auth_method: 'client_secret_basic' }), status: 400, error: 'invalid_request' })],
  ['admin: key rotation with a bad alg', (t) => ({ path: '/admin/v1/keys/rotate', headers: { ...ADMIN(t), ...JSON_TYPE }, body: JSON.stringify({ alg: 'HS256' }), status: 400, error: 'invalid_request' })],
  ['admin: unknown admin path', (t) => ({ method: 'GET', path: '/admin/v1/nothing', headers: ADMIN(t), status: 404 })],
]

// U+0000 in strings that would reach the store: refused at the door with 400 invalid_request on
// both stores (PostgreSQL cannot hold NUL in text; it once turned these into 500s).
const nulCases: Named[] = [
  ['NUL byte in client_id', (t) => ({ path: '/oauth/token', headers: FORM, body: `grant_type=refresh_token&client_id=cli%00x&refresh_token=${rt(t)}` })],
  ['NUL byte in client_secret_post client_id', (_t) => ({ path: '/oauth/token', headers: FORM, body: 'grant_type=client_credentials&client_id=%00&client_secret=x' })],
  ['NUL byte in the revocation client_id', (t) => ({ path: '/oauth/revoke', headers: FORM, body: `client_id=%00&token=${rt(t)}` })],
  ['admin: NUL byte in an email', (t) => ({ path: '/admin/v1/users', headers: { ...ADMIN(t), ...JSON_TYPE }, body: '{"email":"nul\\u0000@example.test"}' })],
  ['admin: NUL byte in a client name', (t) => ({ path: '/admin/v1/clients', headers: { ...ADMIN(t), ...JSON_TYPE }, body: '{"name":"nul\\u0000name"}' })],
  ['admin: NUL byte in a session id', (t) => ({ method: 'GET', path: '/admin/v1/sessions/ses%00x', headers: ADMIN(t) })],
  ['admin: NUL byte in a cursor', (t) => ({ method: 'GET', path: `/admin/v1/users?cursor=${Buffer.from('1:\0x').toString('base64url')}`, headers: ADMIN(t) })],
]

async function send(t: Ctx, c: Case): Promise<{ status: number; contentType: string; text: string }> {
  const init: RequestInit & { duplex?: 'half' } = { method: c.method ?? 'POST', headers: c.headers ?? {} }
  if (c.body !== undefined) {
    init.body = typeof c.body === 'function' ? c.body() : c.body
    if (init.body instanceof ReadableStream) init.duplex = 'half'
  }
  const res = await fetch(`${t.server.url}${c.path}`, init)
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', text: await res.text() }
}

/**
 * Defines the whole table against one server. `start` returns the extra start options (store
 * settings); `cleanup` runs after the server has stopped.
 */
function defineBadInputSuite(store: 'sqlite' | 'postgres', start: () => Promise<StartOptions>, cleanup: () => Promise<void> = async () => {}) {
  const t = {} as Ctx
  let before: Snapshot

  beforeAll(async () => {
    const options = await start()
    t.server = await startServerProcess({
      ...options,
      env: { EVERGREEN_MAX_BODY_BYTES: String(MAX_BODY), EVERGREEN_RATE_LIMIT_TOKEN: '0', ...options.env },
    })
    t.fx = await createFixture(t.server, `bad-${store}`)
    t.session = await mintSession(t.server, t.fx.userId, t.fx.publicClientId)
    before = await snapshot(t)
  })

  afterAll(async () => {
    await t.server?.stop()
    await cleanup()
  })

  for (const [name, make] of [...tokenCases, ...adminCases]) {
    test(name, async () => {
      const c = make(t)
      const r = await send(t, c)
      expect(r.status, `${r.status} ${r.text}`).toBeGreaterThanOrEqual(400)
      expect(r.status, `${r.status} ${r.text}`).toBeLessThan(500)
      if (c.status !== undefined) expect([c.status].flat(), r.text).toContain(r.status)
      const body = JSON.parse(r.text) as Record<string, unknown>
      if (c.problem) expect(r.contentType).toMatch(/^application\/problem\+json/)
      if (/^application\/problem\+json/.test(r.contentType)) {
        // The admin API's missing records and conflicting writes are RFC 9457 problems.
        expect([404, 409]).toContain(r.status)
        expect(body).toMatchObject({ type: 'about:blank', status: r.status, title: expect.any(String), detail: expect.any(String) })
        return
      }
      expect(r.contentType).toMatch(/^application\/json/)
      expect(typeof body.error).toBe('string')
      expect(typeof body.error_description).toBe('string')
      if (c.error !== undefined) expect([c.error].flat()).toContain(body.error)
    })
  }

  test('afterwards: the session did not move, nothing was created, only failure events were audited', async () => {
    const after = await snapshot(t)
    expect(after.session).toEqual(before.session)
    expect(after.session).toMatchObject({ generation: 0, active: true, revoked_at: null })
    expect(after.users).toBe(before.users)
    expect(after.clients).toBe(before.clients)
    expect(after.sessions).toBe(before.sessions)
    const known = new Set(before.audit.map((e) => e.id))
    const added = after.audit.filter((e) => !known.has(e.id))
    for (const e of added) expect(e.type).toMatch(/\.failed$/)
    expect(after.audit.length - added.length).toBe(before.audit.length)

    // And the untouched refresh token still works.
    const res = await fetch(`${t.server.url}/oauth/token`, {
      method: 'POST',
      headers: FORM,
      body: new URLSearchParams({ grant_type: 'refresh_token', client_id: t.fx.publicClientId, refresh_token: t.session.refresh_token }),
    })
    expect(res.status, await res.clone().text()).toBe(200)
    expect(await admin(t.server, 'GET', `/sessions/${t.session.session_id}`)).toMatchObject({ generation: 1, active: true })
  })

  for (const [name, make] of nulCases) {
    test(`refused with 400: ${name}`, async () => {
      const r = await send(t, make(t))
      expect(r.status, `${r.status} ${r.text}`).toBe(400)
      if (r.status >= 400) {
        expect(r.contentType).toMatch(/^application\/json/)
        expect(JSON.parse(r.text)).toMatchObject({ error: expect.any(String), error_description: expect.any(String) })
      }
    })
  }
}

describe('bad input on SQLite gets a 4xx with OAuth error JSON and changes nothing', () => {
  defineBadInputSuite('sqlite', async () => ({}))
})

describePostgres('bad input on PostgreSQL gets a 4xx with OAuth error JSON and changes nothing', () => {
  const schema = freshSchemaName()
  defineBadInputSuite(
    'postgres',
    async () => {
      // The server creates a schema only when given one as an option; the URL's search_path
      // needs it to exist already.
      const client = new pg.Client({ connectionString: postgresUrl })
      await client.connect()
      try {
        await client.query(`CREATE SCHEMA "${schema}"`)
      } finally {
        await client.end()
      }
      const sep = postgresUrl.includes('?') ? '&' : '?'
      return {
        env: {
          EVERGREEN_DATABASE_URL: `${postgresUrl}${sep}options=${encodeURIComponent(`-c search_path=${schema}`)}`,
          EVERGREEN_SECRET: 'integration-secret-0123456789-0123456789-abcdef',
        },
      }
    },
    () => dropSchema(postgresUrl, schema),
  )
})

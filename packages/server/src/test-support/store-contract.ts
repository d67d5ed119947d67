import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { newClientRecord } from '../clients/new-client.js'
import {
  StoreConflictError,
  type AuditEvent, type AuditEventType, type AuthorizationCodeRecord, type CascadeAudit, type ClientRecord, type DeviceCodeRecord,
  type LoginSessionRecord, type Page, type RefreshTokenRecord, type Rotation, type SessionRecord, type SigningKeyRecord,
  type Store, type UserRecord,
} from '../store/types.js'

// Fixed epoch seconds: the store never reads the clock, so neither does its suite.
const T0 = 1_700_000_000
const DAY = 86_400

let sequence = 0
const nextId = (prefix: string) => `${prefix}-${String(++sequence).padStart(5, '0')}`

function makeUser(id: string, overrides: Partial<UserRecord> = {}): UserRecord {
  return {
    id,
    email: `${id}@example.com`,
    name: `User ${id}`,
    password_hash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA',
    created_at: T0,
    disabled_at: null,
    ...overrides,
  }
}

/** A fixture record for this suite, and for the store-specific suites beside it. */
export function makeClient(clientId: string, overrides: Partial<ClientRecord> = {}): ClientRecord {
  return newClientRecord({
    client_id: clientId,
    name: `Client ${clientId}`,
    redirect_uris: ['https://app.example/callback', 'http://127.0.0.1/callback'],
    grant_types: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_method: 'none',
    access_token_ttl: 300,
    refresh_token_ttl_max: 30 * DAY,
    first_party: true,
    created_at: T0,
    updated_at: T0,
    ...overrides,
  })
}

/** A fixture record for this suite, and for the store-specific suites beside it. */
export function makeSession(id: string, overrides: Partial<SessionRecord> = {}): SessionRecord {
  return {
    id,
    user_id: 'u1',
    client_id: 'app',
    kind: 'browser',
    scope: 'openid offline_access',
    audience: null,
    created_at: T0,
    last_refreshed_at: null,
    idle_expires_at: T0 + DAY,
    absolute_expires_at: null,
    refresh_ttl: DAY,
    generation: 0,
    revoked_at: null,
    revoked_reason: null,
    parent_id: null,
    resource: null,
    act: null,
    name: null,
    user_agent: 'Mozilla/5.0',
    ip: '198.51.100.1',
    auth_time: T0 - 60,
    dpop_jkt: null,
    ...overrides,
  }
}

/** A fixture record for this suite, and for the store-specific suites beside it. */
export function makeToken(hash: string, sessionId: string, overrides: Partial<RefreshTokenRecord> = {}): RefreshTokenRecord {
  return {
    hash,
    session_id: sessionId,
    generation: 0,
    created_at: T0,
    expires_at: T0 + DAY,
    spent_at: null,
    successor_sealed: null,
    spent_ip: null,
    spent_user_agent: null,
    ...overrides,
  }
}

function makeAudit(type: AuditEventType, overrides: Partial<AuditEvent> = {}): AuditEvent {
  return {
    id: nextId('ev'),
    type,
    at: T0,
    session_id: null,
    user_id: null,
    client_id: null,
    ip: null,
    user_agent: null,
    data: {},
    ...overrides,
  }
}

/** The event a revocation writes for a session that went with its parent (sessions/revoke.ts builds the real one). */
const cascade: CascadeAudit = (s) =>
  makeAudit('session.revoked', { session_id: s.id, user_id: s.user_id, client_id: s.client_id, data: { reason: 'parent_revoked', parent_id: s.parent_id, act: s.act } })

/** The `session.revoked` events a cascade wrote for `sessionId`: their data. */
const cascadedFor = async (store: Store, sessionId: string) =>
  (await store.listAudit({ session_id: sessionId, type: 'session.revoked', limit: 10 })).items.map((e) => e.data)

function makeSigningKey(kid: string, overrides: Partial<SigningKeyRecord> = {}): SigningKeyRecord {
  return {
    kid,
    alg: 'ES256',
    public_jwk: { kty: 'EC', crv: 'P-256', x: `x-${kid}`, y: `y-${kid}`, kid, use: 'sig' },
    private_sealed: `sealed-${kid}`,
    created_at: T0,
    activates_at: T0,
    retired_at: null,
    expires_at: null,
    ...overrides,
  }
}

function makeLoginSession(hash: string, overrides: Partial<LoginSessionRecord> = {}): LoginSessionRecord {
  return {
    hash,
    user_id: 'u1',
    created_at: T0,
    expires_at: T0 + DAY,
    method: 'password',
    ip: '198.51.100.1',
    user_agent: 'Mozilla/5.0',
    revoked_at: null,
    ...overrides,
  }
}

function makeAuthorizationCode(hash: string, overrides: Partial<AuthorizationCodeRecord> = {}): AuthorizationCodeRecord {
  return {
    hash,
    client_id: 'app',
    user_id: 'u1',
    redirect_uri: 'https://app.example/callback',
    scope: 'openid offline_access',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
    nonce: 'n-0S6_WzA2Mj',
    resource: 'https://mcp.example/ https://files.example/',
    auth_time: T0 - 30,
    created_at: T0,
    expires_at: T0 + 60,
    consumed_at: null,
    session_id: null,
    dpop_jkt: null,
    ...overrides,
  }
}

function makeDeviceCode(hash: string, userCode: string, overrides: Partial<DeviceCodeRecord> = {}): DeviceCodeRecord {
  return {
    hash,
    user_code: userCode,
    client_id: 'tv',
    scope: 'openid offline_access',
    requested_ttl: null,
    resource: 'https://mcp.example/',
    created_at: T0,
    expires_at: T0 + 600,
    interval: 5,
    last_polled_at: null,
    status: 'pending',
    user_id: null,
    decided_at: null,
    session_id: null,
    dpop_jkt: null,
    ...overrides,
  }
}

/** The rotation the refresh grant would write for `session`'s current token. */
function makeRotation(session: SessionRecord, spentHash: string, successorHash: string, overrides: Partial<Rotation> = {}): Rotation {
  const at = T0 + 100
  return {
    spent_hash: spentHash,
    spent_at: at,
    spent_ip: '203.0.113.7',
    spent_user_agent: 'evergreen-cli/1.0',
    successor_sealed: `sealed(${successorHash})`,
    successor: makeToken(successorHash, session.id, {
      generation: session.generation + 1,
      created_at: at,
      expires_at: at + session.refresh_ttl,
    }),
    session_id: session.id,
    expected_generation: session.generation,
    idle_expires_at: at + session.refresh_ttl,
    audit: makeAudit('refresh.succeeded', {
      at,
      session_id: session.id,
      user_id: session.user_id,
      client_id: session.client_id,
      ip: '203.0.113.7',
      data: { generation: session.generation + 1 },
    }),
    ...overrides,
  }
}

/** Follows `next_cursor` to the end, returning every page. */
async function allPages<T>(fetch: (cursor: string | undefined) => Promise<Page<T>>): Promise<T[][]> {
  const pages: T[][] = []
  let cursor: string | undefined
  for (let i = 0; i < 100; i++) {
    const page = await fetch(cursor)
    pages.push(page.items)
    if (page.next_cursor === null) return pages
    cursor = page.next_cursor
  }
  throw new Error('pagination did not terminate')
}

/**
 * The behavioural suite every {@link Store} must pass. `open` returns a migrated store on an
 * empty database; each test gets its own and the suite closes it.
 *
 * @example
 * describeStoreContract('SqliteStore', async () => {
 *   const store = new SqliteStore(join(await mkdtemp(join(tmpdir(), 'eg-')), 'db.sqlite'))
 *   await store.migrate()
 *   return store
 * })
 */
export function describeStoreContract(name: string, open: () => Promise<Store>): void {
  describe(`${name} (store contract)`, () => {
    let store: Store
    let opened: Store | undefined

    beforeEach(async () => {
      opened = store = await open()
    })

    afterEach(async () => {
      await opened?.close()
      opened = undefined
    })

    async function seedUser(user: UserRecord) {
      await store.createUser(user, makeAudit('user.created', { user_id: user.id, at: user.created_at }))
      return user
    }

    async function seedClient(client: ClientRecord) {
      await store.createClient(client, makeAudit('client.created', { client_id: client.client_id, at: client.created_at }))
      return client
    }

    /** Creates `session` with its first refresh token `rt:<id>`. */
    async function seedSession(session: SessionRecord) {
      const token = makeToken(`rt:${session.id}`, session.id, { generation: session.generation, created_at: session.created_at })
      await store.createSession(
        session,
        token,
        makeAudit('session.created', { session_id: session.id, user_id: session.user_id, client_id: session.client_id, at: session.created_at }),
      )
      return { session, token }
    }

    async function auditFor(sessionId: string) {
      return (await store.listAudit({ session_id: sessionId, limit: 100 })).items
    }

    describe('lifecycle', () => {
      test('migrate is idempotent and ready resolves once migrated', async () => {
        await store.migrate()
        await expect(store.ready()).resolves.toBeUndefined()
      })

      test('close can be called twice', async () => {
        await store.close()
        await expect(store.close()).resolves.toBeUndefined()
      })
    })

    describe('meta', () => {
      test('putMetaIfAbsent sets a missing key and keeps an existing one', async () => {
        expect(await store.getMeta('admin_key_hash')).toBeUndefined()
        expect(await store.putMetaIfAbsent('admin_key_hash', 'first')).toBe('first')
        expect(await store.putMetaIfAbsent('admin_key_hash', 'second')).toBe('first')
        expect(await store.getMeta('admin_key_hash')).toBe('first')
        expect(await store.putMetaIfAbsent('secret_check', 'other')).toBe('other')
      })
    })

    describe('users', () => {
      test('createUser then getUser returns the record and writes the audit event', async () => {
        const user = await seedUser(makeUser('u1', { name: null, password_hash: null }))
        expect(await store.getUser('u1')).toEqual(user)
        expect(await store.getUser('nobody')).toBeUndefined()
        const audit = await store.listAudit({ user_id: 'u1', limit: 10 })
        expect(audit.items.map((e) => e.type)).toEqual(['user.created'])
      })

      test('getUserByEmail is case-insensitive and keeps the email as given', async () => {
        const user = await seedUser(makeUser('u1', { email: 'Ada.Lovelace@Example.COM' }))
        expect(await store.getUserByEmail('ada.lovelace@example.com')).toEqual(user)
        expect(await store.getUserByEmail('ADA.LOVELACE@EXAMPLE.COM')).toEqual(user)
        expect(await store.getUserByEmail('someone@example.com')).toBeUndefined()
      })

      test('emails compare ASCII-case-insensitively only: no Unicode case folding or normalisation', async () => {
        const kate = await seedUser(makeUser('u1', { email: 'kate@example.com' }))
        const emile = await seedUser(makeUser('u2', { email: '\u00e9mile@example.com' }))
        // The Kelvin sign (U+212A) lowercases to k in Unicode, and \u00c9 to \u00e9: distinct addresses here.
        expect(await store.getUserByEmail('\u212Aate@example.com')).toBeUndefined()
        expect(await store.getUserByEmail('\u00c9mile@example.com')).toBeUndefined()
        expect(await store.getUserByEmail('e\u0301mile@example.com')).toBeUndefined()
        expect(await store.getUserByEmail('KATE@EXAMPLE.COM')).toEqual(kate)
        expect(await store.getUserByEmail('\u00e9MILE@example.com')).toEqual(emile)
        await seedUser(makeUser('u3', { email: '\u212Aate@example.com' }))
        await seedUser(makeUser('u4', { email: '\u00c9mile@example.com' }))
        expect((await store.getUserByEmail('\u212Aate@EXAMPLE.com'))?.id).toBe('u3')
        expect((await store.getUserByEmail('kate@example.com'))?.id).toBe('u1')
      })

      test('a taken email, in any case, is a StoreConflictError and writes nothing', async () => {
        await seedUser(makeUser('u1', { email: 'ada@example.com' }))
        const attempt = store.createUser(makeUser('u2', { email: 'ADA@example.com' }), makeAudit('user.created', { user_id: 'u2' }))
        await expect(attempt).rejects.toBeInstanceOf(StoreConflictError)
        await expect(attempt).rejects.toMatchObject({ code: 'STORE_CONFLICT' })
        expect(await store.getUser('u2')).toBeUndefined()
        expect((await store.listAudit({ user_id: 'u2', limit: 10 })).items).toEqual([])
      })

      test('upstream identities: one user per (issuer, subject), one subject per user and issuer', async () => {
        await seedUser(makeUser('u1', { email: 'a@example.com' }))
        await seedUser(makeUser('u2', { email: 'b@example.com' }))
        const link = (issuer: string, subject: string, user_id: string) => store.linkUpstreamIdentity({ issuer, subject, user_id, created_at: T0 })
        expect(await store.getUpstreamIdentity('https://idp', 'sub-1')).toBeUndefined()
        expect(await link('https://idp', 'sub-1', 'u1')).toBe(true)
        expect(await store.getUpstreamIdentity('https://idp', 'sub-1')).toEqual({ issuer: 'https://idp', subject: 'sub-1', user_id: 'u1', created_at: T0 })
        // The subject is taken, and u1 already has a subject at this issuer.
        expect(await link('https://idp', 'sub-1', 'u2')).toBe(false)
        expect(await link('https://idp', 'sub-2', 'u1')).toBe(false)
        expect((await store.getUpstreamIdentity('https://idp', 'sub-1'))?.user_id).toBe('u1')
        expect(await store.getUpstreamIdentity('https://idp', 'sub-2')).toBeUndefined()
        // Another issuer is another namespace.
        expect(await link('https://other', 'sub-1', 'u2')).toBe(true)
        expect(await link('https://other', 'sub-9', 'u1')).toBe(true)
      })

      test('listUsers pages by (created_at, id) across three pages', async () => {
        await seedUser(makeUser('u-a', { created_at: T0 + 2 }))
        await seedUser(makeUser('u-b', { created_at: T0 + 1 }))
        await seedUser(makeUser('u-c', { created_at: T0 + 1 }))
        await seedUser(makeUser('u-d', { created_at: T0 + 3 }))
        await seedUser(makeUser('u-e', { created_at: T0 }))
        const pages = await allPages((cursor) => store.listUsers({ limit: 2, cursor }))
        expect(pages.map((p) => p.map((u) => u.id))).toEqual([['u-e', 'u-b'], ['u-c', 'u-a'], ['u-d']])
        expect(pages[0]![0]).toEqual(makeUser('u-e', { created_at: T0 }))
      })

      test('a page that ends exactly at the last row has no next cursor', async () => {
        await seedUser(makeUser('u1'))
        await seedUser(makeUser('u2'))
        const page = await store.listUsers({ limit: 2 })
        expect(page.items).toHaveLength(2)
        expect(page.next_cursor).toBeNull()
        expect(await store.listUsers({ limit: 5 })).toEqual({ items: page.items, next_cursor: null })
      })

      test('a cursor the store never produced is rejected', async () => {
        await expect(store.listUsers({ limit: 2, cursor: 'not-a-cursor' })).rejects.toMatchObject({ code: 'INVALID_CURSOR' })
      })

      test('disableUser disables the user and revokes only their live sessions', async () => {
        await seedClient(makeClient('app'))
        await seedUser(makeUser('u1'))
        await seedUser(makeUser('u2', { email: 'u2@example.com' }))
        await seedSession(makeSession('s1', { user_id: 'u1' }))
        await seedSession(makeSession('s2', { user_id: 'u1' }))
        await seedSession(makeSession('s3', { user_id: 'u2' }))
        await seedSession(makeSession('d1', { user_id: 'u1', kind: 'delegated', parent_id: 's1', act: '{"sub":"agent"}' }))
        expect(await store.revokeSession('s2', T0 + 10, 'logout', makeAudit('session.revoked', { session_id: 's2' }), cascade)).toBe(1)

        const audit = makeAudit('user.disabled', { user_id: 'u1', at: T0 + 50 })
        expect(await store.disableUser('u1', T0 + 50, audit, cascade)).toBe(true)
        // The delegated session went with its parent: its own event, in the same transaction.
        expect(await store.getSession('d1')).toMatchObject({ revoked_at: T0 + 50 })
        expect(await cascadedFor(store, 'd1')).toEqual([{ reason: 'parent_revoked', parent_id: 's1', act: '{"sub":"agent"}' }])
        expect(await cascadedFor(store, 's1')).toEqual([])

        expect((await store.getUser('u1'))!.disabled_at).toBe(T0 + 50)
        expect(await store.getSession('s1')).toMatchObject({ revoked_at: T0 + 50, revoked_reason: 'user_disabled' })
        expect(await store.getSession('s2')).toMatchObject({ revoked_at: T0 + 10, revoked_reason: 'logout' })
        expect(await store.getSession('s3')).toMatchObject({ revoked_at: null, revoked_reason: null })
        expect((await store.listAudit({ type: 'user.disabled', limit: 10 })).items).toEqual([audit])

        expect(await store.disableUser('u1', T0 + 60, makeAudit('user.disabled', { user_id: 'u1' }), cascade)).toBe(false)
        expect((await store.getUser('u1'))!.disabled_at).toBe(T0 + 50)
        expect((await store.listAudit({ type: 'user.disabled', limit: 10 })).items).toHaveLength(1)
        expect(await store.disableUser('nobody', T0 + 60, makeAudit('user.disabled'), cascade)).toBe(false)
      })
    })

    describe('clients', () => {
      test('createClient then getClient round-trips arrays, booleans and nulls', async () => {
        const pub = await seedClient(makeClient('app'))
        const conf = await seedClient(makeClient('svc', {
          secret_hash: 'a'.repeat(64),
          token_endpoint_auth_method: 'client_secret_basic',
          redirect_uris: [],
          grant_types: ['client_credentials'],
          allowed_scopes: ['read', 'write'],
          allowed_audiences: ['https://api.example'],
          access_token_ttl: null,
          refresh_token_ttl: 3600,
          refresh_token_ttl_max: null,
          session_max_lifetime: 90 * DAY,
          first_party: false,
          default_resource: 'https://workspace.example/api',
          token_exchange: {
            subject_clients: ['app'], allowed_scopes: ['read'], allowed_audiences: ['https://api.example'],
            allowed_resources: ['https://workspace.example/api'], max_refresh_ttl: 7 * DAY,
          },
        }))
        expect(await store.getClient('app')).toEqual(pub)
        expect(await store.getClient('svc')).toEqual(conf)
        expect(await store.getClient('nobody')).toBeUndefined()
        expect((await store.listAudit({ type: 'client.created', limit: 10 })).items).toHaveLength(2)
      })

      test('a taken client_id is a StoreConflictError', async () => {
        await seedClient(makeClient('app'))
        const attempt = store.createClient(makeClient('app', { name: 'Other' }), makeAudit('client.created'))
        await expect(attempt).rejects.toBeInstanceOf(StoreConflictError)
        expect((await store.getClient('app'))!.name).toBe('Client app')
        expect((await store.listAudit({ type: 'client.created', limit: 10 })).items).toHaveLength(1)
      })

      test('updateClient applies the patch, returns the new record and writes the audit event', async () => {
        const before = await seedClient(makeClient('app'))
        const patch = {
          name: 'Renamed',
          redirect_uris: ['https://new.example/cb'],
          first_party: false,
          access_token_ttl: null,
          allowed_scopes: ['read'],
          allowed_audiences: ['https://api.example', 'urn:jobs'],
          updated_at: T0 + 5,
        }
        const audit = makeAudit('client.updated', { client_id: 'app', at: T0 + 5 })
        const after = await store.updateClient('app', patch, audit)
        expect(after).toEqual({ ...before, ...patch })
        expect(await store.getClient('app')).toEqual(after)
        expect((await store.listAudit({ type: 'client.updated', limit: 10 })).items).toEqual([audit])
      })

      test('a self-registered client round-trips its registration, last use and expiry', async () => {
        const dyn = await seedClient(makeClient('dyn', { registration: 'dynamic', last_used_at: T0, expires_at: T0 + 30 * DAY, first_party: false }))
        const doc = await seedClient(makeClient('https://app.example/client.json', { registration: 'metadata_document', first_party: false }))
        expect(await store.getClient('dyn')).toEqual(dyn)
        expect(await store.getClient('https://app.example/client.json')).toEqual(doc)
        expect((await store.listClients({ limit: 10 })).items.find((c) => c.client_id === 'dyn')).toEqual(dyn)
      })

      test('touchClient records the use and moves the expiry forward only; a deleted client is not touched', async () => {
        await seedClient(makeClient('dyn', { registration: 'dynamic', last_used_at: T0, expires_at: T0 + 10 * DAY }))
        await seedClient(makeClient('plain'))
        expect(await store.touchClient('dyn', T0 + DAY, T0 + 31 * DAY)).toBe(true)
        expect(await store.getClient('dyn')).toMatchObject({ last_used_at: T0 + DAY, expires_at: T0 + 31 * DAY })
        // A node with a stale view proposes an earlier expiry: the later one stays.
        expect(await store.touchClient('dyn', T0 + 2 * DAY, T0 + 20 * DAY)).toBe(true)
        expect(await store.getClient('dyn')).toMatchObject({ last_used_at: T0 + 2 * DAY, expires_at: T0 + 31 * DAY })
        expect(await store.touchClient('plain', T0 + DAY, null)).toBe(true)
        expect(await store.getClient('plain')).toMatchObject({ last_used_at: T0 + DAY, expires_at: null })
        expect(await store.deleteClient('dyn', T0 + 3 * DAY, makeAudit('client.deleted'), cascade)).toBe(true)
        expect(await store.touchClient('dyn', T0 + 4 * DAY, T0 + 40 * DAY)).toBe(false)
        expect(await store.touchClient('nobody', T0, null)).toBe(false)
      })

      test('listExpiredClients lists live clients expired by then, oldest first, up to the limit', async () => {
        await seedClient(makeClient('a', { registration: 'dynamic', expires_at: T0 + 300 }))
        await seedClient(makeClient('b', { registration: 'dynamic', expires_at: T0 + 100 }))
        await seedClient(makeClient('c', { registration: 'dynamic', expires_at: T0 + 200 }))
        await seedClient(makeClient('later', { registration: 'dynamic', expires_at: T0 + 10_000 }))
        await seedClient(makeClient('forever'))
        await seedClient(makeClient('gone', { registration: 'dynamic', expires_at: T0 + 50 }))
        expect(await store.deleteClient('gone', T0 + 60, makeAudit('client.deleted'), cascade)).toBe(true)
        expect(await store.listExpiredClients(T0 + 300, 10)).toEqual(['b', 'c', 'a'])
        expect(await store.listExpiredClients(T0 + 300, 2)).toEqual(['b', 'c'])
        expect(await store.listExpiredClients(T0 + 99, 10)).toEqual([])
      })

      test('updateClient with an empty patch returns the client unchanged', async () => {
        const before = await seedClient(makeClient('app'))
        expect(await store.updateClient('app', {}, makeAudit('client.updated'))).toEqual(before)
      })

      test('updateClient of an unknown client is undefined and writes nothing', async () => {
        expect(await store.updateClient('nobody', { name: 'x' }, makeAudit('client.updated'))).toBeUndefined()
        expect(await store.updateClient('nobody', {}, makeAudit('client.updated'))).toBeUndefined()
        expect((await store.listAudit({ type: 'client.updated', limit: 10 })).items).toEqual([])
      })

      test('deleteClient hides the client and revokes its sessions', async () => {
        await seedClient(makeClient('app'))
        await seedClient(makeClient('other', { created_at: T0 + 1 }))
        await seedUser(makeUser('u1'))
        await seedSession(makeSession('s1', { client_id: 'app' }))
        await seedSession(makeSession('s2', { client_id: 'other' }))

        const audit = makeAudit('client.deleted', { client_id: 'app', at: T0 + 30 })
        expect(await store.deleteClient('app', T0 + 30, audit, cascade)).toBe(true)

        expect(await store.getClient('app')).toBeUndefined()
        expect((await store.listClients({ limit: 10 })).items.map((c) => c.client_id)).toEqual(['other'])
        expect(await store.getSession('s1')).toMatchObject({ revoked_at: T0 + 30, revoked_reason: 'client_deleted' })
        expect(await store.getSession('s2')).toMatchObject({ revoked_at: null })
        expect((await store.listAudit({ type: 'client.deleted', limit: 10 })).items).toEqual([audit])

        expect(await store.deleteClient('app', T0 + 40, makeAudit('client.deleted'), cascade)).toBe(false)
        expect(await store.updateClient('app', { name: 'zombie' }, makeAudit('client.updated'))).toBeUndefined()
        expect(await store.updateClient('other', { token_exchange: null, default_resource: null }, makeAudit('client.updated')))
          .toMatchObject({ token_exchange: null, default_resource: null })
        expect(await store.deleteClient('nobody', T0 + 40, makeAudit('client.deleted'), cascade)).toBe(false)
        expect((await store.listAudit({ type: 'client.deleted', limit: 10 })).items).toHaveLength(1)
      })

      test('deleteClient revokes the delegated descendants of its sessions, whatever their client', async () => {
        await seedClient(makeClient('app'))
        await seedClient(makeClient('agent', { created_at: T0 + 1 }))
        await seedClient(makeClient('other', { created_at: T0 + 2 }))
        await seedUser(makeUser('u1'))
        await seedSession(makeSession('s1', { client_id: 'app' }))
        await seedSession(makeSession('d1', { client_id: 'agent', kind: 'delegated', parent_id: 's1', act: '{"sub":"agent","client_id":"agent"}' }))
        await seedSession(makeSession('d2', { client_id: 'other', kind: 'delegated', parent_id: 'd1' }))
        await seedSession(makeSession('s2', { client_id: 'agent' }))

        expect(await store.deleteClient('app', T0 + 30, makeAudit('client.deleted', { client_id: 'app', at: T0 + 30 }), cascade)).toBe(true)

        for (const id of ['s1', 'd1', 'd2']) expect(await store.getSession(id)).toMatchObject({ revoked_at: T0 + 30, revoked_reason: 'client_deleted' })
        expect(await store.getSession('s2')).toMatchObject({ revoked_at: null })
        // One event per descendant, naming its own parent; the client's own session has client.deleted.
        expect(await cascadedFor(store, 'd1')).toEqual([{ reason: 'parent_revoked', parent_id: 's1', act: '{"sub":"agent","client_id":"agent"}' }])
        expect(await cascadedFor(store, 'd2')).toEqual([{ reason: 'parent_revoked', parent_id: 'd1', act: null }])
        expect(await cascadedFor(store, 's1')).toEqual([])
      })

      test('listClients pages by (created_at, client_id)', async () => {
        await seedClient(makeClient('c-b', { created_at: T0 }))
        await seedClient(makeClient('c-a', { created_at: T0 }))
        await seedClient(makeClient('c-c', { created_at: T0 - 1 }))
        const pages = await allPages((cursor) => store.listClients({ limit: 2, cursor }))
        expect(pages.map((p) => p.map((c) => c.client_id))).toEqual([['c-c', 'c-a'], ['c-b']])
      })
    })

    describe('sessions', () => {
      beforeEach(async () => {
        await seedClient(makeClient('app'))
        await seedClient(makeClient('cli', { created_at: T0 + 1 }))
        await seedUser(makeUser('u1'))
        await seedUser(makeUser('u2'))
      })

      test('createSession stores the session, its first token and the audit event', async () => {
        const { session, token } = await seedSession(makeSession('s1', {
          audience: 'https://api.example',
          absolute_expires_at: T0 + 90 * DAY,
          name: 'laptop',
        }))
        expect(await store.getSession('s1')).toEqual(session)
        expect((await store.findRefreshToken(token.hash))!.token).toEqual(token)
        expect((await auditFor('s1')).map((e) => e.type)).toEqual(['session.created'])
        expect(await store.getSession('nobody')).toBeUndefined()
      })

      test('a delegated session keeps its parent, resource and actor chain, on the hot-path read too', async () => {
        await seedSession(makeSession('s1'))
        const act = JSON.stringify({ sub: 'cli', client_id: 'cli', act: { sub: 'app', client_id: 'app' } })
        const { session, token } = await seedSession(makeSession('d1', {
          client_id: 'cli', kind: 'delegated', parent_id: 's1', resource: 'https://workspace.example/api', act,
        }))
        expect(await store.getSession('d1')).toEqual(session)
        expect((await store.findRefreshToken(token.hash))!.session).toEqual(session)
      })

      test('listSessions filters by user, client and active_at, and pages', async () => {
        await seedSession(makeSession('s1', { created_at: T0 + 1 }))
        await seedSession(makeSession('s2', { created_at: T0 + 2, client_id: 'cli', kind: 'cli_credential' }))
        await seedSession(makeSession('s3', { created_at: T0 + 3, user_id: 'u2' }))
        await seedSession(makeSession('s4', { created_at: T0 + 4, revoked_at: T0 + 5, revoked_reason: 'logout' }))
        await seedSession(makeSession('s5', { created_at: T0 + 5, idle_expires_at: T0 + 10 }))
        await seedSession(makeSession('s6', { created_at: T0 + 6, absolute_expires_at: T0 + 20 }))
        await seedSession(makeSession('s7', { created_at: T0 + 7, user_id: null, client_id: 'cli', kind: 'service' }))

        const ids = async (filter: Parameters<Store['listSessions']>[0]) => (await store.listSessions(filter)).items.map((s) => s.id)
        expect(await ids({ limit: 100, user_id: 'u1' })).toEqual(['s1', 's2', 's4', 's5', 's6'])
        expect(await ids({ limit: 100, client_id: 'cli' })).toEqual(['s2', 's7'])
        expect(await ids({ limit: 100, active_at: T0 + 50 })).toEqual(['s1', 's2', 's3', 's7'])
        // Expiry is exclusive: a session whose idle or absolute end is exactly now is over.
        expect(await ids({ limit: 100, active_at: T0 + 10 })).toEqual(['s1', 's2', 's3', 's6', 's7'])
        expect(await ids({ limit: 100, user_id: 'u1', client_id: 'app', active_at: T0 + 50 })).toEqual(['s1'])

        const pages = await allPages((cursor) => store.listSessions({ limit: 3, cursor, user_id: 'u1' }))
        expect(pages.map((p) => p.map((s) => s.id))).toEqual([['s1', 's2', 's4'], ['s5', 's6']])
      })

      test('revokeSession revokes children and grandchildren and returns the count', async () => {
        await seedSession(makeSession('root'))
        await seedSession(makeSession('child', { parent_id: 'root', kind: 'delegated' }))
        await seedSession(makeSession('grandchild', { parent_id: 'child', kind: 'delegated' }))
        await seedSession(makeSession('done', { parent_id: 'root', kind: 'delegated' }))
        await seedSession(makeSession('unrelated'))
        expect(await store.revokeSession('done', T0 + 1, 'logout', makeAudit('session.revoked', { session_id: 'done' }), cascade)).toBe(1)

        const audit = makeAudit('session.revoked', { session_id: 'root', at: T0 + 9 })
        expect(await store.revokeSession('root', T0 + 9, 'admin', audit, cascade)).toBe(3)

        for (const id of ['root', 'child', 'grandchild']) {
          expect(await store.getSession(id)).toMatchObject({ revoked_at: T0 + 9, revoked_reason: 'admin' })
        }
        expect(await store.getSession('done')).toMatchObject({ revoked_at: T0 + 1, revoked_reason: 'logout' })
        expect(await store.getSession('unrelated')).toMatchObject({ revoked_at: null })
        expect((await auditFor('root')).map((e) => e.type)).toEqual(['session.created', 'session.revoked'])
        // Each descendant it revoked has its own event naming its parent; `done` keeps only its first.
        expect(await cascadedFor(store, 'child')).toEqual([{ reason: 'parent_revoked', parent_id: 'root', act: null }])
        expect(await cascadedFor(store, 'grandchild')).toEqual([{ reason: 'parent_revoked', parent_id: 'child', act: null }])
        expect(await cascadedFor(store, 'done')).toEqual([{}])
      })

      test("a descendant's event is written in the revocation's transaction: a failing one revokes nothing", async () => {
        await seedSession(makeSession('root'))
        await seedSession(makeSession('child', { parent_id: 'root', kind: 'delegated' }))
        const failing: CascadeAudit = () => {
          throw new Error('audit builder failed')
        }
        await expect(store.revokeSession('root', T0 + 9, 'admin', makeAudit('session.revoked', { session_id: 'root' }), failing)).rejects.toThrow('audit builder failed')
        for (const id of ['root', 'child']) expect(await store.getSession(id)).toMatchObject({ revoked_at: null })
        expect(await cascadedFor(store, 'root')).toEqual([])
        // A duplicate event id (the audit row's primary key) rolls the revocation back the same way.
        const taken = makeAudit('session.revoked', { session_id: 'root' })
        await expect(store.revokeSession('root', T0 + 9, 'admin', taken, () => taken)).rejects.toThrow()
        for (const id of ['root', 'child']) expect(await store.getSession(id)).toMatchObject({ revoked_at: null })
      })

      test('a second revoke changes nothing, keeps the first reason and writes no audit', async () => {
        await seedSession(makeSession('s1'))
        expect(await store.revokeSession('s1', T0 + 1, 'logout', makeAudit('session.revoked', { session_id: 's1' }), cascade)).toBe(1)
        expect(await store.revokeSession('s1', T0 + 2, 'admin', makeAudit('session.revoked', { session_id: 's1' }), cascade)).toBe(0)
        expect(await store.getSession('s1')).toMatchObject({ revoked_at: T0 + 1, revoked_reason: 'logout' })
        expect((await auditFor('s1')).filter((e) => e.type === 'session.revoked')).toHaveLength(1)
        expect(await store.revokeSession('nobody', T0 + 2, 'admin', makeAudit('session.revoked'), cascade)).toBe(0)
      })

      test('revoking a child leaves its parent alone', async () => {
        await seedSession(makeSession('root'))
        await seedSession(makeSession('child', { parent_id: 'root' }))
        await seedSession(makeSession('grandchild', { parent_id: 'child' }))
        expect(await store.revokeSession('child', T0 + 1, 'admin', makeAudit('session.revoked'), cascade)).toBe(2)
        expect(await store.getSession('root')).toMatchObject({ revoked_at: null })
        expect(await store.getSession('grandchild')).toMatchObject({ revoked_at: T0 + 1 })
      })
    })

    describe('refresh tokens', () => {
      let session: SessionRecord
      let client: ClientRecord

      beforeEach(async () => {
        client = await seedClient(makeClient('app'))
        await seedUser(makeUser('u1'))
        session = (await seedSession(makeSession('s1'))).session
      })

      test('findRefreshToken returns the token with its session and client', async () => {
        expect(await store.findRefreshToken('rt:s1')).toEqual({ token: makeToken('rt:s1', 's1'), session, client })
        expect(await store.findRefreshToken('rt:nobody')).toBeUndefined()
      })

      test('rotateRefreshToken spends the token, inserts the successor, slides the session, writes the audit event', async () => {
        const rotation = makeRotation(session, 'rt:s1', 'rt:s1:1')
        expect(await store.rotateRefreshToken(rotation)).toBe(true)

        const old = await store.findRefreshToken('rt:s1')
        expect(old!.token).toEqual(makeToken('rt:s1', 's1', {
          spent_at: rotation.spent_at,
          successor_sealed: rotation.successor_sealed,
          spent_ip: rotation.spent_ip,
          spent_user_agent: rotation.spent_user_agent,
        }))
        const next = await store.findRefreshToken('rt:s1:1')
        expect(next!.token).toEqual(rotation.successor)
        const slid = { ...session, generation: 1, last_refreshed_at: rotation.spent_at, idle_expires_at: rotation.idle_expires_at }
        expect(next!.session).toEqual(slid)
        expect(await store.getSession('s1')).toEqual(slid)
        expect(await auditFor('s1')).toEqual([expect.objectContaining({ type: 'session.created' }), rotation.audit])
      })

      test('the successor rotates in turn', async () => {
        expect(await store.rotateRefreshToken(makeRotation(session, 'rt:s1', 'rt:s1:1'))).toBe(true)
        const current = (await store.getSession('s1'))!
        expect(await store.rotateRefreshToken(makeRotation(current, 'rt:s1:1', 'rt:s1:2'))).toBe(true)
        expect((await store.getSession('s1'))!.generation).toBe(2)
        expect((await store.findRefreshToken('rt:s1:2'))!.token.generation).toBe(2)
      })

      test('rotating a spent token is false and writes nothing', async () => {
        const first = makeRotation(session, 'rt:s1', 'rt:s1:1')
        expect(await store.rotateRefreshToken(first)).toBe(true)
        const sessionAfter = await store.getSession('s1')
        const auditAfter = await auditFor('s1')

        // A replay of the same rotation, and one that even knows the current generation: in
        // both the token is already spent.
        expect(await store.rotateRefreshToken(makeRotation(session, 'rt:s1', 'rt:s1:replay'))).toBe(false)
        expect(await store.rotateRefreshToken(makeRotation(sessionAfter!, 'rt:s1', 'rt:s1:replay2'))).toBe(false)

        expect(await store.findRefreshToken('rt:s1:replay')).toBeUndefined()
        expect(await store.findRefreshToken('rt:s1:replay2')).toBeUndefined()
        expect((await store.findRefreshToken('rt:s1'))!.token).toMatchObject({
          spent_at: first.spent_at,
          successor_sealed: first.successor_sealed,
        })
        expect(await store.getSession('s1')).toEqual(sessionAfter)
        expect(await auditFor('s1')).toEqual(auditAfter)
      })

      test('rotating on a revoked session is false and leaves the token unspent', async () => {
        expect(await store.revokeSession('s1', T0 + 50, 'logout', makeAudit('session.revoked', { session_id: 's1' }), cascade)).toBe(1)
        expect(await store.rotateRefreshToken(makeRotation(session, 'rt:s1', 'rt:s1:1'))).toBe(false)

        expect((await store.findRefreshToken('rt:s1'))!.token).toEqual(makeToken('rt:s1', 's1'))
        expect(await store.findRefreshToken('rt:s1:1')).toBeUndefined()
        expect(await store.getSession('s1')).toMatchObject({ generation: 0, last_refreshed_at: null })
        expect((await auditFor('s1')).map((e) => e.type)).toEqual(['session.created', 'session.revoked'])
      })

      test('rotating with a stale expected_generation is false and leaves the token unspent', async () => {
        const stale = makeRotation(session, 'rt:s1', 'rt:s1:1', { expected_generation: 7 })
        expect(await store.rotateRefreshToken(stale)).toBe(false)
        expect((await store.findRefreshToken('rt:s1'))!.token).toEqual(makeToken('rt:s1', 's1'))
        expect(await store.findRefreshToken('rt:s1:1')).toBeUndefined()
        expect(await store.getSession('s1')).toEqual(session)
        expect((await auditFor('s1')).map((e) => e.type)).toEqual(['session.created'])
      })

      test('20 concurrent rotations of one token: exactly one wins', async () => {
        const rotations = Array.from({ length: 20 }, (_, i) => makeRotation(session, 'rt:s1', `rt:s1:next-${i}`))
        const results = await Promise.all(rotations.map((r) => store.rotateRefreshToken(r)))
        expect(results.filter(Boolean)).toHaveLength(1)

        const winner = rotations[results.indexOf(true)]!
        const hashes = ['rt:s1', ...rotations.map((r) => r.successor.hash)]
        const found = (await Promise.all(hashes.map((h) => store.findRefreshToken(h)))).filter((v) => v !== undefined)
        expect(found.map((v) => v.token.hash).sort()).toEqual(['rt:s1', winner.successor.hash].sort())
        expect((await store.findRefreshToken('rt:s1'))!.token.successor_sealed).toBe(winner.successor_sealed)
        expect((await store.getSession('s1'))!.generation).toBe(1)
        expect(await auditFor('s1')).toEqual([expect.objectContaining({ type: 'session.created' }), winner.audit])
      })

      test('concurrent rotations of several sessions each get their own outcome; a failing one changes nothing of the others', async () => {
        // Issued together, as one event-loop turn's requests (SQLite commits them as one group,
        // docs/architecture.md "Refresh rotation"): one stale, one on a revoked session, one
        // whose successor collides with an existing token (a constraint error), two good ones.
        const s2 = (await seedSession(makeSession('s2'))).session
        const s3 = (await seedSession(makeSession('s3'))).session
        const s4 = (await seedSession(makeSession('s4'))).session
        const s5 = (await seedSession(makeSession('s5'))).session
        expect(await store.revokeSession('s3', T0 + 50, 'logout', makeAudit('session.revoked', { session_id: 's3' }), cascade)).toBe(1)
        const good1 = makeRotation(session, 'rt:s1', 'rt:s1:1')
        const stale = makeRotation(s2, 'rt:s2', 'rt:s2:1', { expected_generation: 5 })
        const revoked = makeRotation(s3, 'rt:s3', 'rt:s3:1')
        const colliding = makeRotation(s4, 'rt:s4', 'rt:s1')
        const good2 = makeRotation(s5, 'rt:s5', 'rt:s5:1')
        const settled = await Promise.allSettled([good1, stale, revoked, colliding, good2].map((r) => store.rotateRefreshToken(r)))
        expect(settled.map((s) => (s.status === 'fulfilled' ? s.value : 'rejected'))).toEqual([true, false, false, 'rejected', true])

        expect((await store.findRefreshToken('rt:s1:1'))!.token).toEqual(good1.successor)
        expect((await store.findRefreshToken('rt:s5:1'))!.token).toEqual(good2.successor)
        expect((await store.getSession('s1'))!.generation).toBe(1)
        expect((await store.getSession('s5'))!.generation).toBe(1)
        for (const [id, s] of [['s2', s2], ['s4', s4]] as const) {
          expect((await store.findRefreshToken(`rt:${id}`))!.token).toEqual(makeToken(`rt:${id}`, id))
          expect(await store.getSession(id)).toEqual(s)
          expect((await auditFor(id)).map((e) => e.type)).toEqual(['session.created'])
        }
        expect((await store.findRefreshToken('rt:s3'))!.token.spent_at).toBeNull()
        expect(await store.findRefreshToken('rt:s2:1')).toBeUndefined()
        expect(await store.findRefreshToken('rt:s3:1')).toBeUndefined()
        // The colliding successor's hash names s1's original token, which is still s1's.
        expect((await store.findRefreshToken('rt:s1'))!.session.id).toBe('s1')
        expect(await auditFor('s1')).toEqual([expect.objectContaining({ type: 'session.created' }), good1.audit])
        expect(await auditFor('s5')).toEqual([expect.objectContaining({ type: 'session.created' }), good2.audit])
      })
    })

    describe('audit', () => {
      const events = [
        makeAudit('refresh.succeeded', { id: 'ev-a', at: T0, session_id: 'sa', user_id: 'u1', client_id: 'app' }),
        makeAudit('refresh.failed', {
          id: 'ev-b', at: T0, session_id: 'sa', user_id: 'u1', ip: '203.0.113.9', user_agent: 'curl/8',
          data: { reason: 'expired', nested: { list: [1, 'two', null], flag: true } },
        }),
        makeAudit('refresh.succeeded', { id: 'ev-c', at: T0 + 1, session_id: 'sb', user_id: 'u1' }),
        makeAudit('login.succeeded', { id: 'ev-d', at: T0 + 2, user_id: 'u2' }),
        makeAudit('key.rotated', { id: 'ev-0', at: T0 + 2, data: { kid: 'k2' } }),
      ]

      beforeEach(async () => {
        // Inserted out of order: the listing order must come from (at, id), not insertion.
        for (const e of [...events].reverse()) await store.appendAudit(e)
      })

      test('appendAudit round-trips every field', async () => {
        const all = (await store.listAudit({ limit: 100 })).items
        expect(all).toEqual([events[0], events[1], events[2], events[4], events[3]])
      })

      test('listAudit filters by session, user and type', async () => {
        const ids = async (filter: Omit<Parameters<Store['listAudit']>[0], 'limit'>) =>
          (await store.listAudit({ limit: 100, ...filter })).items.map((e) => e.id)
        expect(await ids({ session_id: 'sa' })).toEqual(['ev-a', 'ev-b'])
        expect(await ids({ user_id: 'u1' })).toEqual(['ev-a', 'ev-b', 'ev-c'])
        expect(await ids({ type: 'refresh.succeeded' })).toEqual(['ev-a', 'ev-c'])
        expect(await ids({ user_id: 'u1', type: 'refresh.succeeded', session_id: 'sb' })).toEqual(['ev-c'])
        expect(await ids({ session_id: 'nobody' })).toEqual([])
      })

      test('listAudit pages by (at, id), with and without a filter', async () => {
        const all = await allPages((cursor) => store.listAudit({ limit: 2, cursor }))
        expect(all.map((p) => p.map((e) => e.id))).toEqual([['ev-a', 'ev-b'], ['ev-c', 'ev-0'], ['ev-d']])
        const mine = await allPages((cursor) => store.listAudit({ limit: 2, cursor, user_id: 'u1' }))
        expect(mine.map((p) => p.map((e) => e.id))).toEqual([['ev-a', 'ev-b'], ['ev-c']])
      })
    })

    describe('login sessions', () => {
      test('createLoginSession stores the record and writes the audit event', async () => {
        const full = makeLoginSession('ls-1')
        const sparse = makeLoginSession('ls-2', { user_id: 'u2', method: 'upstream', ip: null, user_agent: null })
        const audit = makeAudit('login.succeeded', { user_id: 'u1', at: T0, data: { method: 'password' } })
        await store.createLoginSession(full, audit)
        await store.createLoginSession(sparse, makeAudit('login.succeeded', { user_id: 'u2' }))

        expect(await store.getLoginSession('ls-1')).toEqual(full)
        expect(await store.getLoginSession('ls-2')).toEqual(sparse)
        expect(await store.getLoginSession('ls-nobody')).toBeUndefined()
        expect((await store.listAudit({ user_id: 'u1', limit: 10 })).items).toEqual([audit])
      })

      test('revokeLoginSession revokes once and keeps the first revocation', async () => {
        await store.createLoginSession(makeLoginSession('ls-1'), makeAudit('login.succeeded', { user_id: 'u1' }))
        await store.createLoginSession(makeLoginSession('ls-2'), makeAudit('login.succeeded', { user_id: 'u1' }))

        expect(await store.revokeLoginSession('ls-1', T0 + 10)).toBe(true)
        expect(await store.getLoginSession('ls-1')).toEqual(makeLoginSession('ls-1', { revoked_at: T0 + 10 }))
        expect(await store.revokeLoginSession('ls-1', T0 + 20)).toBe(false)
        expect((await store.getLoginSession('ls-1'))!.revoked_at).toBe(T0 + 10)
        expect(await store.getLoginSession('ls-2')).toEqual(makeLoginSession('ls-2'))
        expect(await store.revokeLoginSession('ls-nobody', T0 + 10)).toBe(false)
      })

      test('listLoginSessions lists live sign-ins newest first; revokeLoginSessions spares one; disableUser ends them', async () => {
        await seedUser(makeUser('u1'))
        const audit = () => makeAudit('login.succeeded', { user_id: 'u1' })
        await store.createLoginSession(makeLoginSession('ls-a', { created_at: T0 }), audit())
        await store.createLoginSession(makeLoginSession('ls-b', { created_at: T0 + 10 }), audit())
        await store.createLoginSession(makeLoginSession('ls-c', { created_at: T0 + 20 }), audit())
        await store.createLoginSession(makeLoginSession('ls-old', { created_at: T0, expires_at: T0 + 5 }), audit())
        await store.createLoginSession(makeLoginSession('ls-other', { user_id: 'u2' }), audit())
        expect((await store.listLoginSessions('u1', T0 + 30)).map((l) => l.hash)).toEqual(['ls-c', 'ls-b', 'ls-a'])

        const revokeAudit = makeAudit('login_session.revoked', { user_id: 'u1' })
        expect(await store.revokeLoginSessions('u1', T0 + 40, 'ls-b', revokeAudit)).toBe(2)
        expect(await store.revokeLoginSessions('u1', T0 + 41, 'ls-b', makeAudit('login_session.revoked'))).toBe(0)
        expect((await store.listLoginSessions('u1', T0 + 50)).map((l) => l.hash)).toEqual(['ls-b'])
        expect((await store.getLoginSession('ls-a'))!.revoked_at).toBe(T0 + 40)
        expect((await store.getLoginSession('ls-other'))!.revoked_at).toBeNull()
        expect((await store.listAudit({ type: 'login_session.revoked', limit: 10 })).items).toEqual([revokeAudit])

        expect(await store.disableUser('u1', T0 + 60, makeAudit('user.disabled', { user_id: 'u1' }), cascade)).toBe(true)
        expect(await store.listLoginSessions('u1', T0 + 60)).toEqual([])
        expect((await store.getLoginSession('ls-b'))!.revoked_at).toBe(T0 + 60)
      })
    })

    describe('authorization codes', () => {
      test('consumeAuthorizationCode consumes once; a replay gets the record back, unknown is undefined', async () => {
        const code = makeAuthorizationCode('ac-1')
        await store.createAuthorizationCode(code)

        expect(await store.consumeAuthorizationCode('ac-1', T0 + 5)).toEqual({ consumed: true, code: { ...code, consumed_at: T0 + 5 } })
        expect(await store.consumeAuthorizationCode('ac-1', T0 + 6)).toEqual({ consumed: false, code: { ...code, consumed_at: T0 + 5 } })
        expect(await store.consumeAuthorizationCode('ac-nobody', T0 + 5)).toBeUndefined()
      })

      test('nullable fields round-trip', async () => {
        const code = makeAuthorizationCode('ac-plain', { code_challenge: null, code_challenge_method: null, nonce: null, resource: null })
        await store.createAuthorizationCode(code)
        expect(await store.consumeAuthorizationCode('ac-plain', T0 + 1)).toEqual({ consumed: true, code: { ...code, consumed_at: T0 + 1 } })
      })

      test('setAuthorizationCodeSession records the session a replay can then revoke', async () => {
        await store.createAuthorizationCode(makeAuthorizationCode('ac-1'))
        await store.createAuthorizationCode(makeAuthorizationCode('ac-2'))
        expect((await store.consumeAuthorizationCode('ac-1', T0 + 5))!.consumed).toBe(true)
        await store.setAuthorizationCodeSession('ac-1', 's-from-code')

        const replay = await store.consumeAuthorizationCode('ac-1', T0 + 9)
        expect(replay).toEqual({ consumed: false, code: makeAuthorizationCode('ac-1', { consumed_at: T0 + 5, session_id: 's-from-code' }) })
        // Only that code.
        expect((await store.consumeAuthorizationCode('ac-2', T0 + 9))!.code.session_id).toBeNull()
      })

      test('10 concurrent consumptions of one code: exactly one consumes it', async () => {
        await store.createAuthorizationCode(makeAuthorizationCode('ac-race'))
        const ats = Array.from({ length: 10 }, (_, i) => T0 + 10 + i)
        const results = await Promise.all(ats.map((at) => store.consumeAuthorizationCode('ac-race', at)))

        expect(results.filter((r) => r?.consumed)).toHaveLength(1)
        const winnerAt = ats[results.findIndex((r) => r?.consumed)]!
        // Every loser sees the winner's consumption, not the unconsumed row it raced for.
        for (const r of results) expect(r!.code.consumed_at).toBe(winnerAt)
        expect((await store.consumeAuthorizationCode('ac-race', T0 + 99))!.code.consumed_at).toBe(winnerAt)
      })
    })

    describe('device codes', () => {
      beforeEach(async () => {
        await seedClient(makeClient('tv', { grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'] }))
        await seedUser(makeUser('u1'))
      })

      const deviceSession = (id: string) => makeSession(id, { client_id: 'tv', kind: 'device', created_at: T0 + 100 })
      const consumeWith = (hash: string, sessionId: string) => {
        const session = deviceSession(sessionId)
        const token = makeToken(`rt:${sessionId}`, sessionId, { created_at: T0 + 100 })
        const audit = makeAudit('session.created', { session_id: sessionId, user_id: 'u1', client_id: 'tv', at: T0 + 100 })
        return { session, token, audit, result: store.consumeDeviceCode(hash, session, token, audit) }
      }
      const approve = (hash: string) =>
        store.decideDeviceCode(hash, 'approved', 'u1', T0 + 50, makeAudit('device.approved', { user_id: 'u1', client_id: 'tv' }))

      test('createDeviceCode, then getDeviceCode and getDeviceCodeByUserCode return it', async () => {
        const code = makeDeviceCode('dc-1', 'BCDFGHJK', { requested_ttl: 7 * DAY })
        const other = makeDeviceCode('dc-2', 'LMNPQRST', { resource: null })
        await store.createDeviceCode(code)
        await store.createDeviceCode(other)
        expect(await store.getDeviceCode('dc-1')).toEqual(code)
        expect(await store.getDeviceCodeByUserCode('BCDFGHJK')).toEqual(code)
        expect(await store.getDeviceCodeByUserCode('LMNPQRST')).toEqual(other)
        expect(await store.getDeviceCode('dc-nobody')).toBeUndefined()
        expect(await store.getDeviceCodeByUserCode('ZZZZZZZZ')).toBeUndefined()
      })

      test('a user_code held by a live code is a StoreConflictError and writes nothing', async () => {
        const live = makeDeviceCode('dc-1', 'BCDFGHJK', { expires_at: T0 + 600 })
        await store.createDeviceCode(live)
        // Still live one second before it expires.
        const attempt = store.createDeviceCode(makeDeviceCode('dc-2', 'BCDFGHJK', { created_at: T0 + 599, expires_at: T0 + 1199 }))
        await expect(attempt).rejects.toBeInstanceOf(StoreConflictError)
        await expect(attempt).rejects.toMatchObject({ code: 'STORE_CONFLICT' })
        expect(await store.getDeviceCode('dc-2')).toBeUndefined()
        expect(await store.getDeviceCodeByUserCode('BCDFGHJK')).toEqual(live)
      })

      test('a user_code held by an expired, unpruned code is taken over', async () => {
        await store.createDeviceCode(makeDeviceCode('dc-old', 'BCDFGHJK', { expires_at: T0 + 600 }))
        await store.createDeviceCode(makeDeviceCode('dc-other', 'LMNPQRST', { expires_at: T0 + 600 }))
        const fresh = makeDeviceCode('dc-new', 'BCDFGHJK', { created_at: T0 + 700, expires_at: T0 + 1300 })
        await store.createDeviceCode(fresh)
        expect(await store.getDeviceCode('dc-old')).toBeUndefined()
        expect(await store.getDeviceCodeByUserCode('BCDFGHJK')).toEqual(fresh)
        // Other expired codes are left to pruneExpired.
        expect(await store.getDeviceCode('dc-other')).toBeDefined()
      })

      test('a duplicate device code hash is not a user_code conflict', async () => {
        await store.createDeviceCode(makeDeviceCode('dc-1', 'BCDFGHJK'))
        const attempt = store.createDeviceCode(makeDeviceCode('dc-1', 'LMNPQRST'))
        await expect(attempt).rejects.toThrow()
        await expect(attempt).rejects.not.toBeInstanceOf(StoreConflictError)
      })

      test('recordDevicePoll returns the record before the poll and grows the interval on slow_down', async () => {
        const code = makeDeviceCode('dc-1', 'BCDFGHJK')
        await store.createDeviceCode(code)

        expect(await store.recordDevicePoll('dc-1', T0 + 10, false)).toEqual(code)
        expect(await store.getDeviceCode('dc-1')).toEqual({ ...code, last_polled_at: T0 + 10 })

        expect(await store.recordDevicePoll('dc-1', T0 + 12, true)).toEqual({ ...code, last_polled_at: T0 + 10 })
        expect(await store.getDeviceCode('dc-1')).toEqual({ ...code, last_polled_at: T0 + 12, interval: 10 })

        expect(await store.recordDevicePoll('dc-1', T0 + 14, true)).toMatchObject({ last_polled_at: T0 + 12, interval: 10 })
        expect(await store.recordDevicePoll('dc-1', T0 + 30, false)).toMatchObject({ last_polled_at: T0 + 14, interval: 15 })
        expect(await store.getDeviceCode('dc-1')).toMatchObject({ last_polled_at: T0 + 30, interval: 15 })

        expect(await store.recordDevicePoll('dc-nobody', T0 + 10, true)).toBeUndefined()
      })

      test('10 concurrent slow_down polls each see a distinct predecessor', async () => {
        await store.createDeviceCode(makeDeviceCode('dc-1', 'BCDFGHJK'))
        const polls = await Promise.all(Array.from({ length: 10 }, (_, i) => store.recordDevicePoll('dc-1', T0 + 10 + i, true)))
        expect(polls.map((p) => p!.interval).sort((a, b) => a - b)).toEqual([5, 10, 15, 20, 25, 30, 35, 40, 45, 50])
        expect(polls.filter((p) => p!.last_polled_at === null)).toHaveLength(1)
        expect((await store.getDeviceCode('dc-1'))!.interval).toBe(55)
      })

      test('decideDeviceCode moves pending to approved once and writes the audit event', async () => {
        const code = makeDeviceCode('dc-1', 'BCDFGHJK')
        await store.createDeviceCode(code)
        const audit = makeAudit('device.approved', { user_id: 'u1', client_id: 'tv', at: T0 + 50 })
        expect(await store.decideDeviceCode('dc-1', 'approved', 'u1', T0 + 50, audit)).toBe(true)
        expect(await store.getDeviceCode('dc-1')).toEqual({ ...code, status: 'approved', user_id: 'u1', decided_at: T0 + 50 })

        // Deciding again, either way, changes nothing and writes no audit.
        expect(await store.decideDeviceCode('dc-1', 'denied', 'u2', T0 + 60, makeAudit('device.denied', { user_id: 'u2' }))).toBe(false)
        expect(await store.decideDeviceCode('dc-1', 'approved', 'u2', T0 + 60, makeAudit('device.approved', { user_id: 'u2' }))).toBe(false)
        expect(await store.getDeviceCode('dc-1')).toEqual({ ...code, status: 'approved', user_id: 'u1', decided_at: T0 + 50 })
        expect((await store.listAudit({ type: 'device.approved', limit: 10 })).items).toEqual([audit])
        expect((await store.listAudit({ type: 'device.denied', limit: 10 })).items).toEqual([])

        expect(await store.decideDeviceCode('dc-nobody', 'approved', 'u1', T0 + 50, makeAudit('device.approved'))).toBe(false)
        expect((await store.listAudit({ type: 'device.approved', limit: 10 })).items).toHaveLength(1)
      })

      test('a denied code cannot be approved or consumed', async () => {
        await store.createDeviceCode(makeDeviceCode('dc-1', 'BCDFGHJK'))
        expect(await store.decideDeviceCode('dc-1', 'denied', 'u1', T0 + 50, makeAudit('device.denied', { user_id: 'u1' }))).toBe(true)
        expect(await store.getDeviceCode('dc-1')).toMatchObject({ status: 'denied', user_id: 'u1', decided_at: T0 + 50 })
        expect(await approve('dc-1')).toBe(false)
        expect(await consumeWith('dc-1', 's-dev').result).toBe(false)
        expect(await store.getSession('s-dev')).toBeUndefined()
        expect(await store.getDeviceCode('dc-1')).toMatchObject({ status: 'denied', session_id: null })
      })

      test('consuming a pending code is false and creates nothing', async () => {
        const code = makeDeviceCode('dc-1', 'BCDFGHJK')
        await store.createDeviceCode(code)
        expect(await consumeWith('dc-1', 's-dev').result).toBe(false)
        expect(await store.getSession('s-dev')).toBeUndefined()
        expect(await store.findRefreshToken('rt:s-dev')).toBeUndefined()
        expect(await auditFor('s-dev')).toEqual([])
        expect(await store.getDeviceCode('dc-1')).toEqual(code)
        expect(await consumeWith('dc-nobody', 's-dev').result).toBe(false)
        expect(await store.getSession('s-dev')).toBeUndefined()
      })

      test('consuming an approved code creates the session and its token, once', async () => {
        await store.createDeviceCode(makeDeviceCode('dc-1', 'BCDFGHJK'))
        expect(await approve('dc-1')).toBe(true)

        const { session, token, audit, result } = consumeWith('dc-1', 's-dev')
        expect(await result).toBe(true)
        expect(await store.getDeviceCode('dc-1')).toMatchObject({ status: 'consumed', user_id: 'u1', session_id: 's-dev' })
        expect(await store.getSession('s-dev')).toEqual(session)
        const view = await store.findRefreshToken('rt:s-dev')
        expect(view).toEqual({ token, session, client: await store.getClient('tv') })
        expect(await auditFor('s-dev')).toEqual([audit])

        expect(await consumeWith('dc-1', 's-dev-2').result).toBe(false)
        expect(await store.getSession('s-dev-2')).toBeUndefined()
        expect((await store.getDeviceCode('dc-1'))!.session_id).toBe('s-dev')
      })

      test('10 concurrent consumptions of one approved code: exactly one gets a session', async () => {
        await store.createDeviceCode(makeDeviceCode('dc-1', 'BCDFGHJK'))
        expect(await approve('dc-1')).toBe(true)
        const attempts = Array.from({ length: 10 }, (_, i) => consumeWith('dc-1', `s-dev-${i}`))
        const results = await Promise.all(attempts.map((a) => a.result))
        expect(results.filter(Boolean)).toHaveLength(1)

        const winner = attempts[results.indexOf(true)]!
        const sessions = await Promise.all(attempts.map((a) => store.getSession(a.session.id)))
        expect(sessions.filter((s) => s !== undefined)).toEqual([winner.session])
        const tokens = await Promise.all(attempts.map((a) => store.findRefreshToken(a.token.hash)))
        expect(tokens.filter((t) => t !== undefined).map((t) => t.token)).toEqual([winner.token])
        expect((await store.getDeviceCode('dc-1'))!.session_id).toBe(winner.session.id)
        const created = (await store.listAudit({ type: 'session.created', limit: 100 })).items
        expect(created.filter((e) => e.client_id === 'tv')).toEqual([winner.audit])
      })
    })

    describe('back-channel logout outbox', () => {
      const BC = 'https://app.example/backchannel'
      beforeEach(async () => {
        await seedClient(makeClient('app', { backchannel_logout_uri: BC, post_logout_redirect_uris: ['https://app.example/bye'] }))
        await seedClient(makeClient('quiet', { created_at: T0 + 1 }))
        await seedUser(makeUser('u1'))
        await seedUser(makeUser('u2'))
      })

      const pending = async () =>
        (await store.listBackchannelLogouts()).map((r) => ({ session_id: r.session_id, user_id: r.user_id, client_id: r.client_id }))

      test('the logout registration round-trips on the client', async () => {
        expect(await store.getClient('app')).toMatchObject({ backchannel_logout_uri: BC, post_logout_redirect_uris: ['https://app.example/bye'] })
        const updated = await store.updateClient('app', { backchannel_logout_uri: null, post_logout_redirect_uris: [] }, makeAudit('client.updated'))
        expect(updated).toMatchObject({ backchannel_logout_uri: null, post_logout_redirect_uris: [] })
      })

      test('revokeSession queues one row per revoked session whose client has a back-channel URI', async () => {
        await seedSession(makeSession('root'))
        await seedSession(makeSession('child', { parent_id: 'root', kind: 'delegated' }))
        await seedSession(makeSession('quiet-child', { parent_id: 'root', client_id: 'quiet', kind: 'delegated' }))
        await seedSession(makeSession('gone', { parent_id: 'root', revoked_at: T0 + 1, revoked_reason: 'logout' }))
        await seedSession(makeSession('other'))

        expect(await store.revokeSession('root', T0 + 10, 'revoked_by_user', makeAudit('session.revoked', { session_id: 'root' }), cascade)).toBe(3)
        const rows = await store.listBackchannelLogouts()
        expect(rows.map((r) => r.session_id).sort()).toEqual(['child', 'root'])
        expect(rows[0]).toEqual({
          id: expect.any(Number), session_id: rows[0]!.session_id, user_id: 'u1', client_id: 'app', uri: BC,
          attempts: 0, next_attempt_at: T0 + 10, locked_until: null, created_at: T0 + 10,
        })
        // Revoking again changes nothing and queues nothing more.
        expect(await store.revokeSession('root', T0 + 20, 'again', makeAudit('session.revoked'), cascade)).toBe(0)
        expect(await store.listBackchannelLogouts()).toHaveLength(2)
      })

      test('disableUser queues the user\'s live sessions', async () => {
        await seedSession(makeSession('s1'))
        await seedSession(makeSession('s2', { client_id: 'quiet' }))
        await seedSession(makeSession('s3', { user_id: 'u2' }))
        await store.disableUser('u1', T0 + 5, makeAudit('user.disabled', { user_id: 'u1' }), cascade)
        expect(await pending()).toEqual([{ session_id: 's1', user_id: 'u1', client_id: 'app' }])
      })

      test('deleteClient queues its sessions with the URI the deleted client had', async () => {
        await seedSession(makeSession('s1'))
        await seedSession(makeSession('s2', { user_id: 'u2' }))
        await seedSession(makeSession('s3', { client_id: 'quiet' }))
        await store.deleteClient('app', T0 + 5, makeAudit('client.deleted', { client_id: 'app' }), cascade)
        expect(await pending()).toEqual([
          { session_id: 's1', user_id: 'u1', client_id: 'app' },
          { session_id: 's2', user_id: 'u2', client_id: 'app' },
        ])
        expect((await store.listBackchannelLogouts()).every((r) => r.uri === BC)).toBe(true)
      })

      test('claim leases due rows oldest first, once, until the lease lapses', async () => {
        for (const id of ['s1', 's2', 's3']) await seedSession(makeSession(id))
        await store.revokeSession('s1', T0 + 10, 'r', makeAudit('session.revoked'), cascade)
        await store.revokeSession('s2', T0 + 11, 'r', makeAudit('session.revoked'), cascade)
        await store.revokeSession('s3', T0 + 50, 'r', makeAudit('session.revoked'), cascade)

        expect(await store.claimBackchannelLogouts(T0 + 9, T0 + 39, 10)).toEqual([])
        const first = await store.claimBackchannelLogouts(T0 + 20, T0 + 50, 1)
        expect(first.map((r) => [r.session_id, r.locked_until])).toEqual([['s1', T0 + 50]])
        // s1 is held; s3 is not due yet.
        expect((await store.claimBackchannelLogouts(T0 + 21, T0 + 51, 10)).map((r) => r.session_id)).toEqual(['s2'])
        expect(await store.claimBackchannelLogouts(T0 + 30, T0 + 60, 10)).toEqual([])
        // A crashed worker's lease lapses and the row comes back, with s3 now due.
        expect((await store.claimBackchannelLogouts(T0 + 51, T0 + 81, 10)).map((r) => r.session_id)).toEqual(['s1', 's2', 's3'])
      })

      test('20 concurrent claims hand each row to exactly one claimer', async () => {
        for (let i = 0; i < 10; i++) {
          await seedSession(makeSession(`c${i}`))
          await store.revokeSession(`c${i}`, T0 + 10, 'r', makeAudit('session.revoked'), cascade)
        }
        const claims = await Promise.all(Array.from({ length: 20 }, () => store.claimBackchannelLogouts(T0 + 10, T0 + 40, 3)))
        const ids = claims.flat().map((r) => r.session_id)
        expect(ids.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `c${i}`).sort())
      })

      test('retry counts the failure and reschedules; complete deletes the row with its audit event', async () => {
        await seedSession(makeSession('s1'))
        await seedSession(makeSession('s2'))
        await store.revokeSession('s1', T0 + 10, 'r', makeAudit('session.revoked'), cascade)
        await store.revokeSession('s2', T0 + 10, 'r', makeAudit('session.revoked'), cascade)
        const [a, b] = await store.claimBackchannelLogouts(T0 + 10, T0 + 40, 10)
        await store.retryBackchannelLogout(a!.id, T0 + 12)
        expect((await store.listBackchannelLogouts())[0]).toMatchObject({ id: a!.id, attempts: 1, next_attempt_at: T0 + 12, locked_until: null })
        expect(await store.claimBackchannelLogouts(T0 + 11, T0 + 41, 10)).toEqual([])
        expect((await store.claimBackchannelLogouts(T0 + 12, T0 + 42, 10)).map((r) => r.attempts)).toEqual([1])

        const audit = makeAudit('backchannel_logout.delivered', { session_id: 's2', at: T0 + 10 })
        await store.completeBackchannelLogout(b!.id, audit)
        expect((await store.listBackchannelLogouts()).map((r) => r.id)).toEqual([a!.id])
        expect((await store.listAudit({ type: 'backchannel_logout.delivered', limit: 10 })).items).toEqual([audit])
        await store.completeBackchannelLogout(a!.id)
        expect(await store.listBackchannelLogouts()).toEqual([])
      })

      test('trim keeps the newest rows up to the cap and drops the oldest', async () => {
        for (let i = 0; i < 5; i++) {
          await seedSession(makeSession(`t${i}`))
          await store.revokeSession(`t${i}`, T0 + i, 'r', makeAudit('session.revoked'), cascade)
        }
        expect(await store.trimBackchannelLogouts(5)).toBe(0)
        expect(await store.trimBackchannelLogouts(2)).toBe(3)
        expect((await store.listBackchannelLogouts()).map((r) => r.session_id)).toEqual(['t3', 't4'])
        expect(await store.trimBackchannelLogouts(2)).toBe(0)
      })

      test('revokeLoginSession writes its audit event only when it revoked something', async () => {
        await store.createLoginSession(makeLoginSession('ls-1'), makeAudit('login.succeeded', { user_id: 'u1' }))
        const audit = makeAudit('logout.succeeded', { user_id: 'u1', at: T0 + 5 })
        expect(await store.revokeLoginSession('ls-1', T0 + 5, audit)).toBe(true)
        expect(await store.revokeLoginSession('ls-1', T0 + 6, makeAudit('logout.succeeded', { user_id: 'u1' }))).toBe(false)
        expect((await store.listAudit({ type: 'logout.succeeded', limit: 10 })).items).toEqual([audit])
      })
    })

    describe('pruneExpired', () => {
      test('removes only what expired before the cutoff and keeps sessions and audit events', async () => {
        await seedClient(makeClient('app'))
        await seedUser(makeUser('u1'))
        const cutoff = T0 + 1000
        const session = makeSession('s1', { idle_expires_at: T0 + 10 })
        await store.createSession(session, makeToken('rt:old', 's1', { expires_at: T0 + 10 }), makeAudit('session.created'))
        // Expiry at exactly the cutoff is not "before" it: kept.
        await store.createSession(makeSession('s2'), makeToken('rt:edge', 's2', { expires_at: cutoff }), makeAudit('session.created'))
        await store.createAuthorizationCode(makeAuthorizationCode('ac-old', { expires_at: T0 + 60 }))
        await store.createAuthorizationCode(makeAuthorizationCode('ac-live', { expires_at: cutoff + 60 }))
        await store.createDeviceCode(makeDeviceCode('dc-old', 'BCDFGHJK', { expires_at: cutoff - 1 }))
        await store.createDeviceCode(makeDeviceCode('dc-live', 'LMNPQRST', { expires_at: cutoff + 600 }))
        const loginAudit = () => makeAudit('login.succeeded', { user_id: 'u1' })
        await store.createLoginSession(makeLoginSession('ls-old', { expires_at: T0 + 500, revoked_at: T0 + 5 }), loginAudit())
        await store.createLoginSession(makeLoginSession('ls-live', { expires_at: cutoff + DAY }), loginAudit())
        const auditBefore = (await store.listAudit({ limit: 100 })).items

        expect(await store.pruneExpired(cutoff)).toBe(4)

        expect(await store.findRefreshToken('rt:old')).toBeUndefined()
        expect(await store.findRefreshToken('rt:edge')).toBeDefined()
        expect(await store.consumeAuthorizationCode('ac-old', cutoff)).toBeUndefined()
        expect(await store.getDeviceCode('dc-old')).toBeUndefined()
        expect(await store.getDeviceCode('dc-live')).toBeDefined()
        expect(await store.getLoginSession('ls-old')).toBeUndefined()
        expect(await store.getLoginSession('ls-live')).toBeDefined()
        expect(await store.getSession('s1')).toEqual(session)
        expect((await store.listAudit({ limit: 100 })).items).toEqual(auditBefore)
        expect((await store.consumeAuthorizationCode('ac-live', cutoff))!.consumed).toBe(true)

        expect(await store.pruneExpired(cutoff)).toBe(0)
      })
    })

    describe('denied access tokens', () => {
      test('denyAccessToken denies a jti once, with its audit event; pruneExpired drops it after exp', async () => {
        const audit = makeAudit('access_token.revoked', { client_id: 'app', data: { jti: 'at-1' } })
        expect(await store.isAccessTokenDenied('at-1')).toBe(false)
        await store.denyAccessToken('at-1', T0 + 900, audit)
        await store.denyAccessToken('at-1', T0 + 900, makeAudit('access_token.revoked'))
        expect(await store.isAccessTokenDenied('at-1')).toBe(true)
        expect(await store.isAccessTokenDenied('at-2')).toBe(false)
        expect((await store.listAudit({ type: 'access_token.revoked', limit: 10 })).items).toEqual([audit])

        expect(await store.pruneExpired(T0 + 900)).toBe(0)
        expect(await store.isAccessTokenDenied('at-1')).toBe(true)
        expect(await store.pruneExpired(T0 + 901)).toBe(1)
        expect(await store.isAccessTokenDenied('at-1')).toBe(false)
      })
    })

    describe('client assertions', () => {
      test('useClientAssertion accepts a jti once per client, exactly once under 20-way concurrency', async () => {
        const results = await Promise.all(Array.from({ length: 20 }, () => store.useClientAssertion('m2m', 'jti-1', T0 + 60)))
        expect(results.filter(Boolean)).toHaveLength(1)
        expect(await store.useClientAssertion('m2m', 'jti-1', T0 + 60)).toBe(false)
        // The same jti from another client is its own assertion.
        expect(await store.useClientAssertion('other', 'jti-1', T0 + 60)).toBe(true)
      })

      test('pruneExpired drops used jtis after they expire', async () => {
        await store.useClientAssertion('m2m', 'jti-2', T0 + 60)
        expect(await store.pruneExpired(T0 + 60)).toBe(0)
        expect(await store.pruneExpired(T0 + 61)).toBe(1)
        expect(await store.useClientAssertion('m2m', 'jti-2', T0 + 120)).toBe(true)
      })

      test('a client keeps its jwks, jwks_uri and rotated-out secret', async () => {
        const jwks = { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', kid: 'k1' }] }
        await store.createClient(makeClient('m2m', { token_endpoint_auth_method: 'private_key_jwt', jwks }), makeAudit('client.created'))
        expect(await store.getClient('m2m')).toMatchObject({ jwks, jwks_uri: null, previous_secret_hash: null, previous_secret_expires_at: null })
        await store.createClient(makeClient('svc', { token_endpoint_auth_method: 'client_secret_basic', secret_hash: 'aa' }), makeAudit('client.created'))
        const updated = await store.updateClient('svc', { secret_hash: 'bb', previous_secret_hash: 'aa', previous_secret_expires_at: T0 + 86_400 }, makeAudit('client.secret_rotated'))
        expect(updated).toMatchObject({ secret_hash: 'bb', previous_secret_hash: 'aa', previous_secret_expires_at: T0 + 86_400, jwks: null })
        const cleared = await store.updateClient('m2m', { jwks: null, jwks_uri: 'https://keys.example/jwks.json' }, makeAudit('client.updated'))
        expect(cleared).toMatchObject({ jwks: null, jwks_uri: 'https://keys.example/jwks.json' })
      })
    })

    describe('DPoP binding (migration 14)', () => {
      const JKT = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs'

      test("a client's require_dpop and dpop_bound_access_tokens round-trip, default false, and patch", async () => {
        await seedClient(makeClient('plain'))
        expect(await store.getClient('plain')).toMatchObject({ require_dpop: false, dpop_bound_access_tokens: false })
        await seedClient(makeClient('bound', { require_dpop: true, dpop_bound_access_tokens: true }))
        expect(await store.getClient('bound')).toMatchObject({ require_dpop: true, dpop_bound_access_tokens: true })
        const patched = await store.updateClient('plain', { dpop_bound_access_tokens: true }, makeAudit('client.updated'))
        expect(patched).toMatchObject({ require_dpop: false, dpop_bound_access_tokens: true })
        expect(await store.getClient('plain')).toEqual(patched)
      })

      test("a session's dpop_jkt comes back on the hot-path read and survives a rotation", async () => {
        const client = await seedClient(makeClient('app', { dpop_bound_access_tokens: true }))
        await seedUser(makeUser('u1'))
        const { session } = await seedSession(makeSession('s1', { dpop_jkt: JKT }))
        expect(await store.findRefreshToken('rt:s1')).toEqual({ token: makeToken('rt:s1', 's1'), session, client })
        expect(await store.rotateRefreshToken(makeRotation(session, 'rt:s1', 'rt:s1:1'))).toBe(true)
        expect((await store.findRefreshToken('rt:s1:1'))!.session.dpop_jkt).toBe(JKT)
        expect((await store.getSession('s1'))!.dpop_jkt).toBe(JKT)
      })

      test('authorization and device codes keep their dpop_jkt', async () => {
        const code = makeAuthorizationCode('ac-dpop', { dpop_jkt: JKT })
        await store.createAuthorizationCode(code)
        expect(await store.consumeAuthorizationCode('ac-dpop', T0 + 1)).toEqual({ consumed: true, code: { ...code, consumed_at: T0 + 1 } })
        await seedClient(makeClient('tv'))
        const device = makeDeviceCode('dc-dpop', 'UC-DPOP', { dpop_jkt: JKT })
        await store.createDeviceCode(device)
        expect(await store.getDeviceCode('dc-dpop')).toEqual(device)
      })

      test('DPoP proof jtis share the client_assertions replay cache under their key namespace, once under 20-way concurrency', async () => {
        const ns = `dpop:${JKT}`
        const results = await Promise.all(Array.from({ length: 20 }, () => store.useClientAssertion(ns, 'proof-1', T0 + 61)))
        expect(results.filter(Boolean)).toHaveLength(1)
        // Another key's proof with the same jti is its own proof.
        expect(await store.useClientAssertion('dpop:other-key', 'proof-1', T0 + 61)).toBe(true)
        expect(await store.pruneExpired(T0 + 62)).toBe(2)
      })
    })

    describe('signing keys', () => {
      test('insertSigningKey, listSigningKeys in activation order, retireSigningKeysExcept', async () => {
        const k1 = makeSigningKey('k1', { activates_at: T0 })
        const k2 = makeSigningKey('k2', { activates_at: T0 + 100, alg: 'RS256', public_jwk: { kty: 'RSA', n: 'AQAB-n', e: 'AQAB' } })
        const k3 = makeSigningKey('k3', { activates_at: T0 + 50, retired_at: T0 + 60, expires_at: T0 + 70 })
        expect(await store.listSigningKeys()).toEqual([])
        for (const k of [k2, k1, k3]) await store.insertSigningKey(k)
        expect(await store.listSigningKeys()).toEqual([k1, k3, k2])

        await store.retireSigningKeysExcept('k2', T0 + 200, T0 + 300)
        expect(await store.listSigningKeys()).toEqual([
          { ...k1, retired_at: T0 + 200, expires_at: T0 + 300 },
          k3,
          k2,
        ])
      })

      test('revokeSigningKey retires and expires a key at once; an expired or unknown key is false', async () => {
        const k1 = makeSigningKey('k1', { activates_at: T0 })
        const k2 = makeSigningKey('k2', { activates_at: T0 + 100, retired_at: T0 + 500, expires_at: T0 + 1500 })
        const k3 = makeSigningKey('k3', { activates_at: T0, retired_at: T0 + 5, expires_at: T0 + 10 })
        for (const k of [k1, k2, k3]) await store.insertSigningKey(k)
        expect(await store.revokeSigningKey('k1', T0 + 50)).toBe(true)
        expect(await store.revokeSigningKey('k2', T0 + 200)).toBe(true)
        expect(await store.revokeSigningKey('k3', T0 + 200)).toBe(false)
        expect(await store.revokeSigningKey('nobody', T0 + 200)).toBe(false)
        expect(await store.listSigningKeys()).toEqual([
          { ...k1, retired_at: T0 + 50, expires_at: T0 + 50 },
          k3,
          { ...k2, retired_at: T0 + 200, expires_at: T0 + 200 },
        ])
      })
    })
  })
}

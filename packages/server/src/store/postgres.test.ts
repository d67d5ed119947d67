import { setImmediate } from 'node:timers'
import pg from 'pg'
import { afterAll, expect, test } from 'vitest'
import { dropSchema, describePostgres, freshSchemaName, postgresUrl } from '../test-support/postgres.js'
import { describeStoreContract, makeClient, makeSession, makeToken } from '../test-support/store-contract.js'
import { PostgresStore } from './postgres.js'
import type { RefreshTokenRecord, Rotation, SessionRecord } from './types.js'

const T0 = 1_700_000_000

/** A public client that only refreshes. */
const refreshClient = (clientId: string, name: string) =>
  makeClient(clientId, { name, redirect_uris: [], grant_types: ['refresh_token'], access_token_ttl: null, refresh_token_ttl_max: null, first_party: false })

/**
 * Session `s<i>` of client `svc` with its one live token `rt<i>`, both from T0 with an hour's idle
 * lifetime: the arguments of `createSession` but the audit event.
 */
const hourSession = (i: number, session: Partial<SessionRecord> = {}, token: Partial<RefreshTokenRecord> = {}): [SessionRecord, RefreshTokenRecord] => [
  makeSession(`s${i}`, {
    user_id: null, client_id: 'svc', kind: 'service', scope: 'api', idle_expires_at: T0 + 3600, refresh_ttl: 3600,
    user_agent: null, ip: null, auth_time: null, ...session,
  }),
  makeToken(`rt${i}`, `s${i}`, { generation: session.generation ?? 0, expires_at: T0 + 3600, ...token }),
]

describePostgres('PostgresStore', () => {
  const schemas: string[] = []

  afterAll(async () => {
    for (const schema of schemas) await dropSchema(postgresUrl, schema)
  })

  /** A store on its own schema, not yet migrated. */
  function openStore(schema: string) {
    if (!schemas.includes(schema)) schemas.push(schema)
    return new PostgresStore({ connectionString: postgresUrl, schema })
  }

  describeStoreContract('PostgresStore', async () => {
    const store = openStore(freshSchemaName())
    await store.migrate()
    return store
  })

  test('concurrent migrate() from three processes on a fresh schema', async () => {
    const schema = freshSchemaName()
    const stores = [openStore(schema), openStore(schema), openStore(schema)]
    try {
      await Promise.all(stores.map((s) => s.migrate()))
      await Promise.all(stores.map((s) => s.ready()))
    } finally {
      await Promise.all(stores.map((s) => s.close()))
    }
  })

  test('ready() rejects before migrate()', async () => {
    const store = openStore(freshSchemaName())
    try {
      await expect(store.ready()).rejects.toThrow()
    } finally {
      await store.close()
    }
  })

  test('two nodes claiming the back-channel outbox at once: every row leased exactly once', async () => {
    const schema = freshSchemaName()
    const nodes = [openStore(schema), openStore(schema)]
    const [a] = nodes as [PostgresStore, PostgresStore]
    try {
      await a.migrate()
      const audit = (id: string, type: Rotation['audit']['type']) => ({
        id, type, at: T0, session_id: null, user_id: null, client_id: 'dash', ip: null, user_agent: null, data: {},
      })
      await a.createClient({ ...refreshClient('dash', 'Dashboard'), backchannel_logout_uri: 'https://dash.example/bc' }, audit('ev-client', 'client.created'))
      for (let i = 0; i < 30; i++) {
        await a.createSession(...hourSession(i, { user_id: 'u1', client_id: 'dash', kind: 'browser', scope: '' }), audit(`ev-s${i}`, 'session.created'))
      }
      for (let i = 0; i < 30; i++) await a.revokeSession(`s${i}`, T0 + 1, 'r', audit(`ev-r${i}`, 'session.revoked'), (s) => audit(`ev-c${s.id}`, 'session.revoked'))
      const claims = await Promise.all(Array.from({ length: 12 }, (_, i) => nodes[i % 2]!.claimBackchannelLogouts(T0 + 1, T0 + 31, 4)))
      const leased = claims.flat().map((r) => r.session_id)
      expect(new Set(leased).size).toBe(leased.length)
      expect(leased).toHaveLength(30)
    } finally {
      await Promise.all(nodes.map((s) => s.close()))
    }
  })

  test('two nodes racing 20 rotations of one token: exactly one succeeds', async () => {
    const schema = freshSchemaName()
    const nodes = [openStore(schema), openStore(schema)]
    const [a, b] = nodes as [PostgresStore, PostgresStore]
    try {
      await a.migrate()
      const audit = (id: string, type: Rotation['audit']['type']) => ({
        id, type, at: T0, session_id: 's1', user_id: null, client_id: 'svc', ip: null, user_agent: null, data: {},
      })
      await a.createClient(refreshClient('svc', 'Service'), audit('ev-client', 'client.created'))
      const [session] = hourSession(1)
      await a.createSession(session, makeToken('rt0', 's1', { expires_at: T0 + 3600 }), audit('ev-session', 'session.created'))

      const rotations: Rotation[] = Array.from({ length: 20 }, (_, i) => ({
        spent_hash: 'rt0', spent_at: T0 + 10, spent_ip: null, spent_user_agent: null, successor_sealed: `sealed-${i}`,
        successor: {
          hash: `rt1-${i}`, session_id: 's1', generation: 1, created_at: T0 + 10, expires_at: T0 + 3610, spent_at: null,
          successor_sealed: null, spent_ip: null, spent_user_agent: null,
        },
        session_id: 's1', expected_generation: 0, idle_expires_at: T0 + 3610,
        audit: audit(`ev-rotate-${i}`, 'refresh.succeeded'),
      }))
      // Interleaved across the two pools, as two nodes behind a load balancer would send them.
      const results = await Promise.all(rotations.map((r, i) => nodes[i % 2]!.rotateRefreshToken(r)))
      expect(results.filter(Boolean)).toHaveLength(1)

      const winner = rotations[results.indexOf(true)]!
      const view = await b.findRefreshToken('rt0')
      expect(view!.token.successor_sealed).toBe(winner.successor_sealed)
      expect(view!.session.generation).toBe(1)
      const successors = await Promise.all(rotations.map((r) => b.findRefreshToken(r.successor.hash)))
      expect(successors.filter((v) => v !== undefined).map((v) => v.token.hash)).toEqual([winner.successor.hash])
      const refreshed = await b.listAudit({ limit: 100, type: 'refresh.succeeded' })
      expect(refreshed.items.map((e) => e.id)).toEqual([winner.audit.id])
    } finally {
      await Promise.all(nodes.map((s) => s.close()))
    }
  })

  test('the rotations of one turn go as one statement; each is answered as if it ran alone', async () => {
    const schema = freshSchemaName()
    const store = openStore(schema)
    const blocker = new pg.Client({ connectionString: postgresUrl, options: `-c search_path=${schema}` })
    const watcher = new pg.Client({ connectionString: postgresUrl })
    try {
      await store.migrate()
      const audit = (id: string, type: Rotation['audit']['type'], session_id: string | null = null) => ({
        id, type, at: T0, session_id, user_id: null, client_id: 'svc', ip: null, user_agent: null, data: { n: id },
      })
      await store.createClient(refreshClient('svc', 'Service'), audit('ev-client', 'client.created'))
      for (let i = 0; i < 7; i++) {
        await store.createSession(...hourSession(i, {}, { spent_at: i === 4 ? T0 + 1 : null }), audit(`ev-s${i}`, 'session.created', `s${i}`))
      }
      await store.revokeSession('s3', T0 + 1, 'r', audit('ev-r3', 'session.revoked', 's3'), (s) => audit(`ev-c${s.id}`, 'session.revoked', s.id))
      const rotation = (session: string, tag: string, overrides: Partial<Rotation> = {}): Rotation => ({
        spent_hash: `rt${session.slice(1)}`, spent_at: T0 + 10, spent_ip: '203.0.113.9', spent_user_agent: "it's \"quoted\"", successor_sealed: `sealed-${tag}`,
        successor: {
          hash: `next-${tag}`, session_id: session, generation: 1, created_at: T0 + 10, expires_at: T0 + 3610, spent_at: null,
          successor_sealed: null, spent_ip: null, spent_user_agent: null,
        },
        session_id: session, expected_generation: 0, idle_expires_at: T0 + 3610,
        audit: audit(`ev-${tag}`, 'refresh.succeeded', session),
        ...overrides,
      })
      // Another transaction holds s6's row: the group skips it, and s6 alone waits for the lock.
      await blocker.connect()
      await blocker.query('BEGIN')
      await blocker.query("SELECT id FROM sessions WHERE id = 's6' FOR UPDATE")
      const blockerPid = (await blocker.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid

      const results = [
        rotation('s0', 'a'),
        rotation('s1', 'b'),
        rotation('s2', 'stale', { expected_generation: 5 }), // the session moved on
        rotation('s3', 'revoked'),
        rotation('s4', 'spent'), // its token was spent already
        rotation('s0', 'twice'), // a second rotation of s0's token in the same turn
        rotation('s6', 'locked'),
      ].map((r) => store.rotateRefreshToken(r))
      // pg_stat_activity is a snapshot per transaction, so the blocker (in one) cannot watch it.
      await watcher.connect()
      const waiting = async () =>
        (await watcher.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))', [blockerPid])).rows[0]!.n
      while ((await waiting()) === 0) await new Promise((r) => setImmediate(r))
      await blocker.query('COMMIT')
      expect(await Promise.all(results)).toEqual([true, true, false, false, false, false, true])

      // s0 and s1 committed in one transaction; s6 (retried alone) in another.
      const { rows } = await blocker.query<{ hash: string; xmin: string }>(
        "SELECT hash, xmin::text FROM refresh_tokens WHERE hash LIKE 'next-%' ORDER BY hash",
      )
      expect(rows.map((r) => r.hash)).toEqual(['next-a', 'next-b', 'next-locked'])
      expect(rows[0]!.xmin).toBe(rows[1]!.xmin)
      expect(rows[2]!.xmin).not.toBe(rows[0]!.xmin)
      const spentA = await store.findRefreshToken('rt0')
      expect(spentA!.token).toMatchObject({ spent_at: T0 + 10, successor_sealed: 'sealed-a', spent_ip: '203.0.113.9', spent_user_agent: "it's \"quoted\"" })
      expect(spentA!.session.generation).toBe(1)
      for (const s of ['s2', 's3']) expect((await store.findRefreshToken(`rt${s.slice(1)}`))!.token.spent_at).toBeNull()
      expect((await store.getSession('s2'))!.generation).toBe(0)
      const refreshed = await store.listAudit({ limit: 100, type: 'refresh.succeeded' })
      expect(refreshed.items.map((e) => [e.id, e.data]).sort()).toEqual([['ev-a', { n: 'ev-a' }], ['ev-b', { n: 'ev-b' }], ['ev-locked', { n: 'ev-locked' }]])
    } finally {
      await blocker.end().catch(() => {})
      await watcher.end().catch(() => {})
      await store.close()
    }
  })

  test('a group whose statement fails as a whole: each rotation is retried alone and answered on its own', async () => {
    const schema = freshSchemaName()
    const store = openStore(schema)
    try {
      await store.migrate()
      const audit = (id: string, type: Rotation['audit']['type']) => ({
        id, type, at: T0, session_id: null, user_id: null, client_id: 'svc', ip: null, user_agent: null, data: {},
      })
      await store.createClient(refreshClient('svc', 'Service'), audit('ev-client', 'client.created'))
      for (let i = 0; i < 3; i++) await store.createSession(...hourSession(i), audit(`ev-s${i}`, 'session.created'))
      const rotation = (i: number, auditId: string): Rotation => ({
        spent_hash: `rt${i}`, spent_at: T0 + 10, spent_ip: null, spent_user_agent: null, successor_sealed: `sealed-${i}`,
        successor: {
          hash: `next-${i}`, session_id: `s${i}`, generation: 1, created_at: T0 + 10, expires_at: T0 + 3610, spent_at: null,
          successor_sealed: null, spent_ip: null, spent_user_agent: null,
        },
        session_id: `s${i}`, expected_generation: 0, idle_expires_at: T0 + 3610, audit: audit(auditId, 'refresh.succeeded'),
      })
      // s1's audit id is taken: the group statement fails on it, and so does s1 alone.
      const results = await Promise.allSettled([rotation(0, 'ev-0'), rotation(1, 'ev-s0'), rotation(2, 'ev-2')].map((r) => store.rotateRefreshToken(r)))
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
      expect(results.filter((r) => r.status === 'fulfilled').map((r) => r.value)).toEqual([true, true])
      expect((await store.findRefreshToken('rt1'))!.token.spent_at).toBeNull()
      expect((await store.getSession('s1'))!.generation).toBe(0)
      expect((await store.getSession('s2'))!.generation).toBe(1)
    } finally {
      await store.close()
    }
  })

  test('the hot reads of one turn go as one query; each gets its own token, session and client', async () => {
    const store = openStore(freshSchemaName())
    try {
      await store.migrate()
      const audit = (id: string, type: Rotation['audit']['type']) => ({
        id, type, at: T0, session_id: null, user_id: null, client_id: null, ip: null, user_agent: null, data: {},
      })
      for (const c of ['app1', 'app2']) {
        await store.createClient({ ...refreshClient(c, c), redirect_uris: [`https://${c}.example/cb`], allowed_scopes: [c] }, audit(`ev-${c}`, 'client.created'))
      }
      for (let i = 0; i < 4; i++) {
        await store.createSession(...hourSession(i, { client_id: i % 2 === 0 ? 'app1' : 'app2', scope: `scope-${i}`, generation: i }), audit(`ev-s${i}`, 'session.created'))
      }
      await store.deleteClient('app2', T0 + 1, audit('ev-del', 'client.deleted'), (s) => audit(`ev-c${s.id}`, 'session.revoked'))
      const hashes = ['rt3', 'rt0', 'nope', 'rt2', 'rt0', 'rt1']
      const views = await Promise.all(hashes.map((h) => store.findRefreshToken(h)))
      expect(views.map((v) => v && [v.token.hash, v.session.id, v.session.scope, v.session.generation, v.client.client_id, v.client.allowed_scopes])).toEqual([
        undefined, // its client was deleted
        ['rt0', 's0', 'scope-0', 0, 'app1', ['app1']],
        undefined,
        ['rt2', 's2', 'scope-2', 2, 'app1', ['app1']],
        ['rt0', 's0', 'scope-0', 0, 'app1', ['app1']],
        undefined, // its client was deleted
      ])
    } finally {
      await store.close()
    }
  })
})

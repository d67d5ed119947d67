import { CompiledQuery, Kysely, PostgresDialect, sql } from 'kysely'
import { setImmediate } from 'node:timers'
import pg from 'pg'
import type { Database } from './database.js'
import { LATEST_VERSION, LEGACY_MIGRATIONS, SHARED_MIGRATIONS } from './migrations.js'
import {
  AUDIT_COLUMNS, AUTHORIZATION_CODE_COLUMNS, BACKCHANNEL_COLUMNS, DEVICE_CODE_COLUMNS, TOKEN_COLUMNS, columnValues, findRefreshTokenSql,
  ClientRowCache, rawToRefreshTokenView,
} from './rows.js'
import { SqlStore, type DialectAdapter, type Executor, type RevocationTarget, type RevokedRow } from './sql-store.js'
import type { AuthorizationCodeRecord, BackchannelLogoutRecord, DeviceCodeRecord, RefreshTokenView, Rotation } from './types.js'
import { sessionTree } from './session-tree.js'

export interface PostgresStoreOptions {
  /** `postgres://user:pass@host:port/db`, as `pg` accepts it. */
  connectionString: string
  /** Pool size per process; defaults to 10. */
  max?: number | undefined
  /**
   * Schema to keep the tables in, created by {@link PostgresStore.migrate} if missing and set as
   * every pooled connection's `search_path`. Lowercase letters, digits and `_` only. Without
   * it, the role's default `search_path` applies.
   */
  schema?: string | undefined
}

// INT8 (oid 20) arrives as a string because it can exceed 2^53. Our BIGINTs are epoch seconds,
// TTLs, generations and counts, all far below that, so callers get plain numbers. Per pool,
// not pg.types.setTypeParser, so other pg users in the process keep the default.
const INT8_OID = 20
const TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)
  ) as typeof pg.types.getTypeParser,
}

// Serialises migrate() across every process sharing the database: the first one applies the
// migrations, the others wait on the lock and then find nothing left to do. The key is ASCII
// "EVERGR$" read as an integer (0x45564552475224); decimal because hex literals need PG 16.
const MIGRATION_LOCK = '19516629126173220'

const SCHEMA_NAME = /^(?!pg_)[a-z_][a-z0-9_]{0,62}$/
const UNIQUE_VIOLATION = '23505'

const bool = (b: boolean) => b

const POSTGRES: DialectAdapter = {
  bool,
  isUniqueViolation: (err, unique) =>
    err instanceof pg.DatabaseError && err.code === UNIQUE_VIOLATION && err.table === unique.table && err.constraint === unique.constraint,
}

// Column types for `INSERT … SELECT $n::type`: unlike VALUES, a SELECT list does not take its
// parameter types from the target columns, so an uncast $n would arrive as text. Keyed by the
// shared column lists, so a column added in rows.ts fails to compile here until it is typed.
const TOKEN_TYPES: Record<(typeof TOKEN_COLUMNS)[number], string> = {
  hash: 'text', session_id: 'text', generation: 'bigint', created_at: 'bigint', expires_at: 'bigint',
  spent_at: 'bigint', successor_sealed: 'text', spent_ip: 'text', spent_user_agent: 'text',
}
const AUDIT_TYPES: Record<(typeof AUDIT_COLUMNS)[number], string> = {
  id: 'text', type: 'text', at: 'bigint', session_id: 'text', user_id: 'text', client_id: 'text',
  ip: 'text', user_agent: 'text', data: 'jsonb',
}
const castParams = (columns: readonly string[], types: Record<string, string>, first: number) =>
  columns.map((c, i) => `$${first + i}::${types[c]}`).join(', ')

/*
 * A revocation and its back-channel logouts, in one statement: `revoked` returns exactly the
 * rows this UPDATE changed (a concurrent revoker that got there first changes, and so queues,
 * them instead), and `queued` writes one outbox row per revoked session whose client has a
 * back-channel URI. A data-modifying CTE runs to completion whether or not the outer query
 * reads it, so the outbox rows commit or roll back with the revocation. The clients join has
 * no deleted_at filter: deleteClient marks the client deleted earlier in the same transaction.
 *
 * Rotation never revokes (reuse detection calls revokeSession), so the rotation statement
 * below needs no outbox write. Lock order stays as it was: session rows (the UPDATE), then the
 * outbox's unique index; rotation locks session then token rows and never the outbox, so the
 * two cannot deadlock. `$1` and `$2` are always revoked_at and revoked_reason.
 */
const revokeAndQueue = (prefix: string, where: string) => `${prefix}${prefix ? ',' : 'WITH'} revoked AS (
  UPDATE sessions SET revoked_at = $1, revoked_reason = $2 WHERE ${where} AND revoked_at IS NULL
  RETURNING id, user_id, client_id, parent_id, act
), queued AS (
  INSERT INTO backchannel_logouts (session_id, user_id, client_id, uri, attempts, next_attempt_at, locked_until, created_at)
  SELECT r.id, r.user_id, r.client_id, c.backchannel_logout_uri, 0, $1::bigint, NULL, $1::bigint
    FROM revoked r JOIN clients c ON c.client_id = r.client_id
   WHERE c.backchannel_logout_uri IS NOT NULL
  ON CONFLICT (session_id, client_id) DO NOTHING
)
SELECT id, user_id, client_id, parent_id, act FROM revoked`

// Revoking a session revokes what was delegated from it, transitively.
const REVOKE = {
  subtree: revokeAndQueue(sessionTree('id = $3'), 'id IN (SELECT id FROM tree)'),
  user: revokeAndQueue('', 'user_id = $3'),
  // A delegated session belongs to the agent's client, not to its parent's: deleting the parent's
  // client must still reach the agents acting under its sessions.
  client: revokeAndQueue(sessionTree('client_id = $3'), 'id IN (SELECT id FROM tree)'),
} as const

/*
 * Leases due outbox rows across processes. The subquery locks what it picks FOR UPDATE SKIP
 * LOCKED, so concurrent workers take disjoint rows instead of queueing behind each other. A
 * worker whose snapshot predates another's committed lease re-checks the row's latest version
 * when it locks it (READ COMMITTED re-evaluation), finds locked_until in the future, and skips
 * it: a row is never leased twice.
 */
const CLAIM_BACKCHANNEL = `UPDATE backchannel_logouts SET locked_until = $2
 WHERE id IN (SELECT id FROM backchannel_logouts
               WHERE next_attempt_at <= $1 AND (locked_until IS NULL OR locked_until <= $1)
               ORDER BY id LIMIT $3
                 FOR UPDATE SKIP LOCKED)
RETURNING ${BACKCHANNEL_COLUMNS.join(', ')}`

const FIND_REFRESH_TOKEN = findRefreshTokenSql('$1')
// The same read for the hashes of one event-loop turn (see PostgresStore.findRefreshToken).
const FIND_REFRESH_TOKENS = findRefreshTokenSql('ANY($1::text[])')

// The hot read's types: the pool's, except that JSON and JSONB (only the client's columns in
// that join) stay text, so the row can be compared with the one its client was parsed from
// (rows.ts ClientRowCache) and is parsed only when it changed.
const JSON_OID = 114
const JSONB_OID = 3802
const HOT_READ_TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    (oid === JSON_OID || oid === JSONB_OID) && format !== 'binary' ? (value: string) => value : TYPES.getTypeParser(oid, format)
  ) as typeof pg.types.getTypeParser,
}

/*
 * The rotation, in one statement and so one round trip and one implicit transaction.
 *
 * Data-modifying CTEs all run against the statement's snapshot and cannot see each other's
 * writes, only their RETURNING rows. That alone would let `spent` succeed while `slid` fails
 * (session revoked, or generation moved on), and the statement would commit a spent token
 * with no successor. So `live` first takes the session row lock (FOR UPDATE) and `spent` is
 * conditional on it:
 *
 * - Once `live` holds the lock, nobody can revoke the session or move its generation until we
 *   commit, so `slid` (same conditions, same row) must match whenever `spent` did. Spent
 *   implies slid; slid requires spent; the inserts require slid. All or nothing.
 * - Two callers presenting the same token under READ COMMITTED: the second blocks on the
 *   session row lock; when the first commits, PostgreSQL re-evaluates the locked row's latest
 *   version against `generation = $7`, which has moved, so `live` is empty and nothing is
 *   written. Had the lock been skipped, the token row lock would serialise them the same way
 *   (re-check of `spent_at IS NULL`). Exactly one caller sees rotated = 1.
 * - Locks are always taken session row first, token row second, so rotations cannot deadlock
 *   with each other; revocations lock only session rows.
 *
 * `session_id = $6` on the token is defence in depth: a rotation can only spend a token of
 * the session it slides.
 */
const ROTATE_REFRESH_TOKEN = `WITH live AS (
  SELECT id FROM sessions
   WHERE id = $6 AND revoked_at IS NULL AND generation = $7
     FOR UPDATE
), spent AS (
  UPDATE refresh_tokens
     SET spent_at = $2, successor_sealed = $3, spent_ip = $4, spent_user_agent = $5
   WHERE hash = $1 AND spent_at IS NULL AND session_id = $6 AND EXISTS (SELECT 1 FROM live)
  RETURNING hash
), slid AS (
  UPDATE sessions
     SET last_refreshed_at = $2, idle_expires_at = $8, generation = generation + 1
   WHERE id = $6 AND revoked_at IS NULL AND generation = $7 AND EXISTS (SELECT 1 FROM spent)
  RETURNING id
), successor AS (
  INSERT INTO refresh_tokens (${TOKEN_COLUMNS.join(', ')})
  SELECT ${castParams(TOKEN_COLUMNS, TOKEN_TYPES, 9)} FROM slid
), audit AS (
  INSERT INTO audit_events (${AUDIT_COLUMNS.join(', ')})
  SELECT ${castParams(AUDIT_COLUMNS, AUDIT_TYPES, 9 + TOKEN_COLUMNS.length)} FROM slid
)
SELECT count(*)::int AS rotated FROM slid`

/*
 * Several rotations in one statement (group commit, docs/architecture.md "Refresh rotation"):
 * each rotation is one element of the unnested arrays, and every CTE is ROTATE_REFRESH_TOKEN's
 * applied per element, joined on the session. The caller sends at most one rotation per
 * session, so a session's row, spent token and successor belong to exactly one element.
 *
 * `live` locks the sessions in id order and SKIPs the ones another transaction holds: this
 * statement never waits for a session's lock, so it cannot deadlock with a revocation (which
 * locks several sessions in no fixed order); token rows it locks only under their session's. A rotation whose session was skipped — or that fails
 * for any reason — is not in `slid`, wrote nothing (spent implies slid, as above), and is
 * retried alone with ROTATE_REFRESH_TOKEN, which waits for the lock and gives the answer.
 * One statement is one transaction: every rotation in it is answered after its commit.
 */
const BATCH_INPUT: readonly (readonly [string, string])[] = [
  ['r_hash', 'text'], ['r_at', 'bigint'], ['r_sealed', 'text'], ['r_ip', 'text'], ['r_ua', 'text'], ['r_session', 'text'],
  ['r_gen', 'bigint'], ['r_idle', 'bigint'],
  ...TOKEN_COLUMNS.map((c) => [`t_${c}`, TOKEN_TYPES[c]] as const),
  // JSONB arrives as text and is cast per element (an array of jsonb would need its own literal).
  ...AUDIT_COLUMNS.map((c) => [`a_${c}`, AUDIT_TYPES[c] === 'jsonb' ? 'text' : AUDIT_TYPES[c]] as const),
]
const ROTATE_REFRESH_TOKENS = `WITH b AS (
  SELECT * FROM unnest(${BATCH_INPUT.map(([, t], i) => `$${i + 1}::${t}[]`).join(', ')})
    AS b(${BATCH_INPUT.map(([c]) => c).join(', ')})
), live AS (
  SELECT s.id FROM sessions s JOIN b ON s.id = b.r_session
   WHERE s.revoked_at IS NULL AND s.generation = b.r_gen
   ORDER BY s.id
     FOR UPDATE OF s SKIP LOCKED
), spent AS (
  UPDATE refresh_tokens rt
     SET spent_at = b.r_at, successor_sealed = b.r_sealed, spent_ip = b.r_ip, spent_user_agent = b.r_ua
    FROM b
   WHERE rt.hash = b.r_hash AND rt.spent_at IS NULL AND rt.session_id = b.r_session AND b.r_session IN (SELECT id FROM live)
  RETURNING rt.session_id
), slid AS (
  UPDATE sessions s
     SET last_refreshed_at = b.r_at, idle_expires_at = b.r_idle, generation = s.generation + 1
    FROM b
   WHERE s.id = b.r_session AND s.revoked_at IS NULL AND s.generation = b.r_gen AND s.id IN (SELECT session_id FROM spent)
  RETURNING s.id
), successor AS (
  INSERT INTO refresh_tokens (${TOKEN_COLUMNS.join(', ')})
  SELECT ${TOKEN_COLUMNS.map((c) => `b.t_${c}`).join(', ')} FROM b JOIN slid ON slid.id = b.r_session
), audit AS (
  INSERT INTO audit_events (${AUDIT_COLUMNS.join(', ')})
  SELECT ${AUDIT_COLUMNS.map((c) => (AUDIT_TYPES[c] === 'jsonb' ? `b.a_${c}::jsonb` : `b.a_${c}`)).join(', ')} FROM b JOIN slid ON slid.id = b.r_session
)
SELECT id FROM slid`

/*
 * A device poll, in one statement, returning the row as it was before the poll. `prev` locks
 * the row (FOR UPDATE) and, under READ COMMITTED, a poll that waited on a concurrent one reads
 * the version that one committed, so concurrent polls each see a distinct predecessor and none
 * is lost. (`prev`, not `old`: PostgreSQL 18 reserves OLD/NEW in RETURNING.)
 */
const RECORD_DEVICE_POLL = `UPDATE device_codes d
   SET last_polled_at = $2, interval = d.interval + $3
  FROM (SELECT ${DEVICE_CODE_COLUMNS.join(', ')} FROM device_codes WHERE hash = $1 FOR UPDATE) prev
 WHERE d.hash = prev.hash
RETURNING ${DEVICE_CODE_COLUMNS.map((c) => `prev.${c}`).join(', ')}`

/**
 * The shared store for several nodes: PostgreSQL through a `pg.Pool`. Everything but the
 * statements above is the shared query layer ({@link SqlStore}, kysely's PostgresDialect on
 * the same pool).
 *
 * The refresh hot path is two named prepared statements sent straight to the pool, each one
 * round trip and each shared by the requests of one event-loop turn:
 * {@link PostgresStore.findRefreshToken} (one join) and {@link PostgresStore.rotateRefreshToken}
 * (one statement of data-modifying CTEs).
 *
 * @example
 * const store = new PostgresStore({ connectionString: process.env.DATABASE_URL!, schema: 'evergreen' })
 * await store.migrate()
 * await store.ready()
 */
export class PostgresStore extends SqlStore {
  readonly kind = 'postgres' as const
  private readonly pool: pg.Pool
  private readonly schema: string | undefined
  private closed = false
  /** Rotations waiting for the next group commit (see {@link PostgresStore.rotateRefreshToken}). */
  private pending: PendingRotation[] = []
  /** Hot reads waiting for the next turn's query (see {@link PostgresStore.findRefreshToken}). */
  private pendingReads: PendingRead[] = []
  /** The hot read's parsed clients, reused while their row is unchanged (rows.ts). */
  private readonly clientRows = new ClientRowCache()

  constructor(options: PostgresStoreOptions) {
    const { connectionString, max = 10, schema } = options
    if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
      throw Object.assign(new TypeError('"schema" must match /^[a-z_][a-z0-9_]*$/ and not start with pg_'), {
        code: 'ERR_INVALID_ARG_VALUE',
      })
    }
    // pg lets a connection string's parameters override the config object, so an `options`
    // parameter would silently drop our search_path and put the tables somewhere else.
    if (schema !== undefined && /[?&]options=/.test(connectionString)) {
      throw Object.assign(new TypeError('"schema" cannot be combined with an options= connection parameter'), {
        code: 'ERR_INVALID_ARG_VALUE',
      })
    }
    const pool = new pg.Pool({
      connectionString,
      max,
      types: TYPES,
      // A startup parameter rather than a SET after connect: it is in force before the first
      // query, on every connection the pool ever opens, with no extra round trip.
      ...(schema !== undefined ? { options: `-c search_path="${schema}"` } : {}),
    })
    // An idle client whose server went away emits 'error' on the pool, and an unhandled
    // 'error' event would crash the process. The pool has already discarded that client and
    // the next query opens a fresh one; failures that matter surface on that query.
    pool.on('error', () => {})
    super(new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), POSTGRES)
    this.pool = pool
    this.schema = schema
  }

  async migrate(): Promise<void> {
    await this.transaction(async (trx) => {
      await sql`SELECT pg_advisory_xact_lock(${sql.lit(MIGRATION_LOCK)}::bigint)`.execute(trx)
      // Under the lock, so concurrent first starts don't race on pg_namespace. search_path
      // already names the schema; PostgreSQL picks it up as soon as it exists.
      if (this.schema !== undefined) await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(this.schema)}`.execute(trx)
      await sql`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`.execute(trx)
      const done = new Set((await trx.selectFrom('schema_migrations').select('version').execute()).map((r) => r.version))
      const record = (version: number) =>
        trx.insertInto('schema_migrations').values({ version, applied_at: sql<number>`extract(epoch FROM now())::bigint` }).execute()
      for (const m of LEGACY_MIGRATIONS.postgres) {
        if (done.has(m.version)) continue
        await trx.executeQuery(CompiledQuery.raw(m.sql))
        await record(m.version)
      }
      for (const m of SHARED_MIGRATIONS) {
        if (done.has(m.version)) continue
        for (const statement of m.statements(trx.schema, { json: 'jsonb' })) await trx.executeQuery(statement.compile())
        await record(m.version)
      }
    })
  }

  async ready(): Promise<void> {
    const { rows } = await this.pool.query<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations')
    const v = rows[0]?.v ?? null
    if (v !== LATEST_VERSION) throw new Error(`schema at version ${v ?? 'none'}, expected ${LATEST_VERSION}`)
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    // Rotations already accepted are committed (or fail) before the pool goes.
    if (this.pending.length > 0) await this.flushRotations()
    if (this.pendingReads.length > 0) await this.flushReads()
    // Ends the pool.
    await this.kysely.destroy()
  }

  /**
   * The hot read. The reads that arrive in one event-loop turn go together on the next turn, as
   * one query for all their hashes (one round trip, one row description to parse); a turn with
   * one read sends the one-hash query. Each read still happens after its request arrived and
   * returns the rows as they are then, like a read of its own.
   */
  findRefreshToken(hash: string): Promise<RefreshTokenView | undefined> {
    return new Promise<RefreshTokenView | undefined>((resolve, reject) => {
      if (this.pendingReads.length === 0) setImmediate(() => void this.flushReads())
      this.pendingReads.push({ hash, resolve, reject })
    })
  }

  private async flushReads(): Promise<void> {
    const reads = this.pendingReads
    this.pendingReads = []
    try {
      // As arrays in the join's column order, like SQLite's: no 60-key row object per refresh.
      const { rows } = await this.pool.query<unknown[]>(
        reads.length === 1
          ? { name: 'evergreen_find_refresh_token', text: FIND_REFRESH_TOKEN, values: [reads[0]!.hash], rowMode: 'array', types: HOT_READ_TYPES }
          : { name: 'evergreen_find_refresh_tokens', text: FIND_REFRESH_TOKENS, values: [reads.map((r) => r.hash)], rowMode: 'array', types: HOT_READ_TYPES },
      )
      // The token's hash is the first column; it is the primary key, so one row per hash.
      const byHash = new Map<unknown, unknown[]>()
      for (const row of rows) byHash.set(row[0], row)
      for (const r of reads) {
        const row = byHash.get(r.hash)
        r.resolve(row && rawToRefreshTokenView(row, this.clientRows))
      }
    } catch (err) {
      for (const r of reads) r.reject(err)
    }
  }

  /**
   * Group commit, as on SQLite: the rotations that arrive in one event-loop turn go to the
   * database together on the next turn, in one statement (ROTATE_REFRESH_TOKENS): one round
   * trip and one commit for the group instead of one each. A group of one, and every rotation
   * the group statement did not apply, takes the one-rotation statement.
   */
  rotateRefreshToken(rotation: Rotation): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      if (this.pending.length === 0) setImmediate(() => void this.flushRotations())
      this.pending.push({ rotation, resolve, reject })
    })
  }

  private async flushRotations(): Promise<void> {
    const batch = this.pending
    this.pending = []
    if (batch.length === 1) {
      const [one] = batch as [PendingRotation]
      return this.rotateOne(one.rotation).then(one.resolve, one.reject)
    }
    // One rotation per session in the statement; a second one of a session (two presentations
    // of one token at once) goes alone afterwards, like any the statement did not apply.
    const grouped: PendingRotation[] = []
    const alone: PendingRotation[] = []
    const sessions = new Set<string>()
    for (const p of batch) {
      if (sessions.has(p.rotation.session_id)) alone.push(p)
      else {
        sessions.add(p.rotation.session_id)
        grouped.push(p)
      }
    }
    let slid: Set<string>
    try {
      slid = await this.rotateGroup(grouped.map((p) => p.rotation))
    } catch {
      // The statement failed as a whole (nothing of it committed): each rotation on its own.
      slid = new Set()
    }
    for (const p of grouped) {
      if (slid.has(p.rotation.session_id)) p.resolve(true)
      else alone.push(p)
    }
    await Promise.all(alone.map((p) => this.rotateOne(p.rotation).then(p.resolve, p.reject)))
  }

  private async rotateGroup(rotations: Rotation[]): Promise<Set<string>> {
    const columns: unknown[][] = BATCH_INPUT.map(() => new Array<unknown>(rotations.length))
    rotations.forEach((r, i) => {
      const values = [
        r.spent_hash, r.spent_at, r.successor_sealed, r.spent_ip, r.spent_user_agent, r.session_id, r.expected_generation, r.idle_expires_at,
        ...columnValues(r.successor, TOKEN_COLUMNS, bool),
        ...columnValues(r.audit, AUDIT_COLUMNS, bool),
      ]
      for (let c = 0; c < values.length; c++) columns[c]![i] = values[c]
    })
    const { rows } = await this.pool.query<unknown[]>({ name: 'evergreen_rotate_refresh_tokens', text: ROTATE_REFRESH_TOKENS, values: columns, rowMode: 'array' })
    return new Set(rows.map((r) => r[0] as string))
  }

  private async rotateOne(r: Rotation): Promise<boolean> {
    const { rows } = await this.pool.query<{ rotated: number }>({
      name: 'evergreen_rotate_refresh_token',
      text: ROTATE_REFRESH_TOKEN,
      values: [
        r.spent_hash, r.spent_at, r.successor_sealed, r.spent_ip, r.spent_user_agent,
        r.session_id, r.expected_generation, r.idle_expires_at,
        ...columnValues(r.successor, TOKEN_COLUMNS, bool),
        ...columnValues(r.audit, AUDIT_COLUMNS, bool),
      ],
    })
    return rows[0]?.rotated === 1
  }

  async consumeAuthorizationCode(hash: string, at: number): Promise<{ consumed: boolean; code: AuthorizationCodeRecord } | undefined> {
    // The UPDATE is the compare-and-set: a concurrent caller waits on the row lock, re-checks
    // consumed_at and matches nothing. Only then the SELECT, a separate statement on purpose:
    // under READ COMMITTED it takes a fresh snapshot and so returns the winner's consumption,
    // which a CTE in the UPDATE's own (older) snapshot would not see.
    const { rows } = await this.pool.query<AuthorizationCodeRecord>(
      `UPDATE authorization_codes SET consumed_at = $2 WHERE hash = $1 AND consumed_at IS NULL
       RETURNING ${AUTHORIZATION_CODE_COLUMNS.join(', ')}`,
      [hash, at],
    )
    if (rows[0]) return { consumed: true, code: rows[0] }
    const existing = await this.pool.query<AuthorizationCodeRecord>(
      `SELECT ${AUTHORIZATION_CODE_COLUMNS.join(', ')} FROM authorization_codes WHERE hash = $1`,
      [hash],
    )
    return existing.rows[0] && { consumed: false, code: existing.rows[0] }
  }

  async recordDevicePoll(hash: string, at: number, slowDown: boolean): Promise<DeviceCodeRecord | undefined> {
    const { rows } = await this.pool.query<DeviceCodeRecord>(RECORD_DEVICE_POLL, [hash, at, slowDown ? 5 : 0])
    return rows[0]
  }

  async claimBackchannelLogouts(now: number, lockedUntil: number, limit: number): Promise<BackchannelLogoutRecord[]> {
    const { rows } = await this.pool.query<BackchannelLogoutRecord>(CLAIM_BACKCHANNEL, [now, lockedUntil, limit])
    return rows.sort((a, b) => a.id - b.id)
  }

  protected async revokeAndQueue(trx: Executor, target: RevocationTarget, at: number, reason: string): Promise<RevokedRow[]> {
    const { rows } = await trx.executeQuery<RevokedRow>(CompiledQuery.raw(REVOKE[target.by], [at, reason, target.id]))
    return rows
  }
}

/** A rotation waiting for its group commit. */
interface PendingRotation {
  rotation: Rotation
  resolve: (rotated: boolean) => void
  reject: (err: unknown) => void
}

/** A hot read waiting for its turn's query. */
interface PendingRead {
  hash: string
  resolve: (view: RefreshTokenView | undefined) => void
  reject: (err: unknown) => void
}

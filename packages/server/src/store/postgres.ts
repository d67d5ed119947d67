import pg from 'pg'
import { emailKey } from '../accounts/email.js'
import { decodeCursor, toPage } from './cursor.js'
import { POSTGRES_MIGRATIONS } from './postgres-schema.js'
import {
  AUDIT_COLUMNS, AUTHORIZATION_CODE_COLUMNS, BACKCHANNEL_COLUMNS, CLIENT_COLUMNS, DEVICE_CODE_COLUMNS, KEY_COLUMNS, LOGIN_SESSION_COLUMNS,
  SESSION_COLUMNS, TOKEN_COLUMNS, USER_COLUMNS,
  columnValues, prefixedColumns, toAudit, toAuthorizationCode, toBackchannelLogout, toClient, toDeviceCode, toLoginSession, toSession,
  toSigningKey, toToken, toUser, unprefix,
} from './rows.js'
import {
  StoreConflictError,
  type AuditEvent, type AuditFilter, type AuthorizationCodeRecord, type BackchannelLogoutRecord, type ClientPatch, type ClientRecord,
  type DeviceCodeRecord, type ListOptions, type LoginSessionRecord, type Page, type RefreshTokenRecord,
  type RefreshTokenView, type Rotation, type SessionFilter, type SessionRecord, type SigningKeyRecord, type Store,
  type UpstreamIdentityRecord, type UserRecord,
} from './types.js'

type Row = Record<string, unknown>
type Queryable = Pick<pg.PoolClient, 'query'>

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
const insertSql = (table: string, columns: readonly string[], extra: readonly string[] = []) => {
  const all = [...columns, ...extra]
  return `INSERT INTO ${table} (${all.join(', ')}) VALUES (${all.map((_, i) => `$${i + 1}`).join(', ')})`
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
  RETURNING id, user_id, client_id
), queued AS (
  INSERT INTO backchannel_logouts (session_id, user_id, client_id, uri, attempts, next_attempt_at, locked_until, created_at)
  SELECT r.id, r.user_id, r.client_id, c.backchannel_logout_uri, 0, $1::bigint, NULL, $1::bigint
    FROM revoked r JOIN clients c ON c.client_id = r.client_id
   WHERE c.backchannel_logout_uri IS NOT NULL
  ON CONFLICT (session_id, client_id) DO NOTHING
)
SELECT count(*)::int AS changed FROM revoked`

// Revoking a session revokes what was delegated from it, transitively.
const REVOKE_SUBTREE = revokeAndQueue(
  `WITH RECURSIVE tree(id) AS (
  SELECT id FROM sessions WHERE id = $3
  UNION SELECT s.id FROM sessions s JOIN tree ON s.parent_id = tree.id
)`,
  'id IN (SELECT id FROM tree)',
)
const REVOKE_USER_SESSIONS = revokeAndQueue('', 'user_id = $3')
const REVOKE_CLIENT_SESSIONS = revokeAndQueue('', 'client_id = $3')

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

const FIND_REFRESH_TOKEN = `SELECT ${prefixedColumns('rt', 't', TOKEN_COLUMNS)}, ${prefixedColumns('s', 's', SESSION_COLUMNS)},
       ${prefixedColumns('c', 'c', CLIENT_COLUMNS)}
  FROM refresh_tokens rt
  JOIN sessions s ON s.id = rt.session_id
  JOIN clients c ON c.client_id = s.client_id AND c.deleted_at IS NULL
 WHERE rt.hash = $1`

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
 * The shared store for several nodes: PostgreSQL through a `pg.Pool`. The refresh hot path is
 * two named prepared statements, each one round trip: {@link PostgresStore.findRefreshToken}
 * (one join) and {@link PostgresStore.rotateRefreshToken} (one statement of data-modifying
 * CTEs). Everything else that writes more than one row runs in a transaction on one client.
 *
 * @example
 * const store = new PostgresStore({ connectionString: process.env.DATABASE_URL!, schema: 'evergreen' })
 * await store.migrate()
 * await store.ready()
 */
export class PostgresStore implements Store {
  readonly kind = 'postgres' as const
  private readonly pool: pg.Pool
  private readonly schema: string | undefined
  private closed = false

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
    this.schema = schema
    this.pool = new pg.Pool({
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
    this.pool.on('error', () => {})
  }

  async migrate(): Promise<void> {
    await this.transaction(async (c) => {
      await c.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`)
      // Under the lock, so concurrent first starts don't race on pg_namespace. search_path
      // already names the schema; PostgreSQL picks it up as soon as it exists.
      if (this.schema !== undefined) await c.query(`CREATE SCHEMA IF NOT EXISTS "${this.schema}"`)
      await c.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)')
      const done = new Set((await c.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version))
      for (const m of POSTGRES_MIGRATIONS) {
        if (done.has(m.version)) continue
        await c.query(m.sql)
        await c.query(
          'INSERT INTO schema_migrations (version, applied_at) VALUES ($1, extract(epoch FROM now())::bigint)',
          [m.version],
        )
      }
    })
  }

  async ready(): Promise<void> {
    const { rows } = await this.pool.query<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations')
    const latest = POSTGRES_MIGRATIONS[POSTGRES_MIGRATIONS.length - 1]!.version
    const v = rows[0]?.v ?? null
    if (v !== latest) throw new Error(`schema at version ${v ?? 'none'}, expected ${latest}`)
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.pool.end()
  }

  async getMeta(key: string): Promise<string | undefined> {
    const { rows } = await this.pool.query<{ value: string }>('SELECT value FROM meta WHERE key = $1', [key])
    return rows[0]?.value
  }

  async putMetaIfAbsent(key: string, value: string): Promise<string> {
    // Two statements on purpose: under READ COMMITTED the SELECT takes a fresh snapshot and so
    // sees a row a concurrent caller committed while our INSERT waited on it. A single
    // statement (CTE) would read its own older snapshot and could find nothing.
    await this.pool.query('INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [key, value])
    return (await this.getMeta(key))!
  }

  async createUser(user: UserRecord, audit: AuditEvent): Promise<void> {
    try {
      await this.transaction(async (c) => {
        await c.query(insertSql('users', USER_COLUMNS, ['email_lower']), [
          ...columnValues(user, USER_COLUMNS, bool),
          // Computed in JS for both stores, so they agree on what "the same email" is.
          emailKey(user.email),
        ])
        await this.audit(c, audit)
      })
    } catch (err) {
      if (isUniqueViolation(err, 'users')) throw new StoreConflictError('email already registered')
      throw err
    }
  }

  async getUser(id: string): Promise<UserRecord | undefined> {
    const { rows } = await this.pool.query<Row>(`SELECT ${USER_COLUMNS.join(', ')} FROM users WHERE id = $1`, [id])
    return rows[0] && toUser(rows[0])
  }

  async getUserByEmail(email: string): Promise<UserRecord | undefined> {
    const { rows } = await this.pool.query<Row>(`SELECT ${USER_COLUMNS.join(', ')} FROM users WHERE email_lower = $1`, [
      emailKey(email),
    ])
    return rows[0] && toUser(rows[0])
  }

  async getUpstreamIdentity(issuer: string, subject: string): Promise<UpstreamIdentityRecord | undefined> {
    const { rows } = await this.pool.query<UpstreamIdentityRecord>(
      'SELECT issuer, subject, user_id, created_at FROM upstream_identities WHERE issuer = $1 AND subject = $2',
      [issuer, subject],
    )
    return rows[0] && { ...rows[0], created_at: Number(rows[0].created_at) }
  }

  async linkUpstreamIdentity(identity: UpstreamIdentityRecord): Promise<boolean> {
    // DO NOTHING without a target covers both unique constraints: (issuer, subject) and (issuer, user_id).
    const inserted = await this.pool.query(
      'INSERT INTO upstream_identities (issuer, subject, user_id, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
      [identity.issuer, identity.subject, identity.user_id, identity.created_at],
    )
    return inserted.rowCount === 1
  }

  async listUsers(options: ListOptions): Promise<Page<UserRecord>> {
    return this.page('users', USER_COLUMNS, 'created_at', 'id', new Where(), options, toUser, (u) => ({ at: u.created_at, id: u.id }))
  }

  async disableUser(id: string, at: number, audit: AuditEvent): Promise<boolean> {
    return this.transaction(async (c) => {
      const disabled = await c.query('UPDATE users SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL', [at, id])
      if (disabled.rowCount !== 1) return false
      await c.query(REVOKE_USER_SESSIONS, [at, 'user_disabled', id])
      await c.query('UPDATE login_sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL', [at, id])
      await this.audit(c, audit)
      return true
    })
  }

  async createClient(client: ClientRecord, audit: AuditEvent): Promise<void> {
    try {
      await this.transaction(async (c) => {
        await c.query(insertSql('clients', CLIENT_COLUMNS), columnValues(client, CLIENT_COLUMNS, bool))
        await this.audit(c, audit)
      })
    } catch (err) {
      if (isUniqueViolation(err, 'clients')) throw new StoreConflictError('client_id already exists')
      throw err
    }
  }

  async getClient(clientId: string): Promise<ClientRecord | undefined> {
    const { rows } = await this.pool.query<Row>(
      `SELECT ${CLIENT_COLUMNS.join(', ')} FROM clients WHERE client_id = $1 AND deleted_at IS NULL`,
      [clientId],
    )
    return rows[0] && toClient(rows[0])
  }

  async listClients(options: ListOptions): Promise<Page<ClientRecord>> {
    return this.page('clients', CLIENT_COLUMNS, 'created_at', 'client_id', new Where().add('deleted_at IS NULL'), options, toClient, (c) => ({
      at: c.created_at,
      id: c.client_id,
    }))
  }

  async updateClient(clientId: string, patch: ClientPatch, audit: AuditEvent): Promise<ClientRecord | undefined> {
    const columns = Object.keys(patch).filter((k) => (CLIENT_COLUMNS as readonly string[]).includes(k) && k !== 'client_id')
    return this.transaction(async (c) => {
      const values = columnValues(patch, columns, bool)
      const { rows } = columns.length > 0
        ? await c.query<Row>(
          `UPDATE clients SET ${columns.map((col, i) => `${col} = $${i + 1}`).join(', ')}
            WHERE client_id = $${columns.length + 1} AND deleted_at IS NULL
           RETURNING ${CLIENT_COLUMNS.join(', ')}`,
          [...values, clientId],
        )
        : await c.query<Row>(`SELECT ${CLIENT_COLUMNS.join(', ')} FROM clients WHERE client_id = $1 AND deleted_at IS NULL`, [clientId])
      if (!rows[0]) return undefined
      await this.audit(c, audit)
      return toClient(rows[0])
    })
  }

  async deleteClient(clientId: string, at: number, audit: AuditEvent): Promise<boolean> {
    return this.transaction(async (c) => {
      const deleted = await c.query('UPDATE clients SET deleted_at = $1 WHERE client_id = $2 AND deleted_at IS NULL', [at, clientId])
      if (deleted.rowCount !== 1) return false
      await c.query(REVOKE_CLIENT_SESSIONS, [at, 'client_deleted', clientId])
      await this.audit(c, audit)
      return true
    })
  }

  async createSession(session: SessionRecord, token: RefreshTokenRecord, audit: AuditEvent): Promise<void> {
    await this.transaction((c) => this.insertSession(c, session, token, audit))
  }

  /** The writes of {@link createSession}, on a client already in a transaction. */
  private async insertSession(c: Queryable, session: SessionRecord, token: RefreshTokenRecord, audit: AuditEvent): Promise<void> {
    await c.query(insertSql('sessions', SESSION_COLUMNS), columnValues(session, SESSION_COLUMNS, bool))
    await c.query(insertSql('refresh_tokens', TOKEN_COLUMNS), columnValues(token, TOKEN_COLUMNS, bool))
    await this.audit(c, audit)
  }

  async getSession(id: string): Promise<SessionRecord | undefined> {
    const { rows } = await this.pool.query<Row>(`SELECT ${SESSION_COLUMNS.join(', ')} FROM sessions WHERE id = $1`, [id])
    return rows[0] && toSession(rows[0])
  }

  async listSessions(filter: SessionFilter): Promise<Page<SessionRecord>> {
    const where = new Where()
    if (filter.user_id !== undefined) where.add(`user_id = ${where.param(filter.user_id)}`)
    if (filter.client_id !== undefined) where.add(`client_id = ${where.param(filter.client_id)}`)
    if (filter.active_at !== undefined) {
      const at = where.param(filter.active_at)
      where.add(`revoked_at IS NULL AND idle_expires_at > ${at} AND (absolute_expires_at IS NULL OR absolute_expires_at > ${at})`)
    }
    return this.page('sessions', SESSION_COLUMNS, 'created_at', 'id', where, filter, toSession, (s) => ({ at: s.created_at, id: s.id }))
  }

  async revokeSession(id: string, at: number, reason: string, audit: AuditEvent): Promise<number> {
    return this.transaction(async (c) => {
      const { rows } = await c.query<{ changed: number }>(REVOKE_SUBTREE, [at, reason, id])
      const changed = rows[0]?.changed ?? 0
      if (changed > 0) await this.audit(c, audit)
      return changed
    })
  }

  async findRefreshToken(hash: string): Promise<RefreshTokenView | undefined> {
    const { rows } = await this.pool.query<Row>({ name: 'evergreen_find_refresh_token', text: FIND_REFRESH_TOKEN, values: [hash] })
    const r = rows[0]
    if (!r) return undefined
    return {
      token: toToken(unprefix(r, 't', TOKEN_COLUMNS)),
      session: toSession(unprefix(r, 's', SESSION_COLUMNS)),
      client: toClient(unprefix(r, 'c', CLIENT_COLUMNS)),
    }
  }

  async rotateRefreshToken(r: Rotation): Promise<boolean> {
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

  async appendAudit(event: AuditEvent): Promise<void> {
    await this.audit(this.pool, event)
  }

  async listAudit(filter: AuditFilter): Promise<Page<AuditEvent>> {
    const where = new Where()
    if (filter.session_id !== undefined) where.add(`session_id = ${where.param(filter.session_id)}`)
    if (filter.user_id !== undefined) where.add(`user_id = ${where.param(filter.user_id)}`)
    if (filter.type !== undefined) where.add(`type = ${where.param(filter.type)}`)
    return this.page('audit_events', AUDIT_COLUMNS, 'at', 'id', where, filter, toAudit, (e) => ({ at: e.at, id: e.id }))
  }

  async createLoginSession(session: LoginSessionRecord, audit: AuditEvent): Promise<void> {
    await this.transaction(async (c) => {
      await c.query(insertSql('login_sessions', LOGIN_SESSION_COLUMNS), columnValues(session, LOGIN_SESSION_COLUMNS, bool))
      await this.audit(c, audit)
    })
  }

  async getLoginSession(hash: string): Promise<LoginSessionRecord | undefined> {
    const { rows } = await this.pool.query<Row>(`SELECT ${LOGIN_SESSION_COLUMNS.join(', ')} FROM login_sessions WHERE hash = $1`, [hash])
    return rows[0] && toLoginSession(rows[0])
  }

  async revokeLoginSession(hash: string, at: number, audit?: AuditEvent): Promise<boolean> {
    return this.transaction(async (c) => {
      const revoked = await c.query('UPDATE login_sessions SET revoked_at = $1 WHERE hash = $2 AND revoked_at IS NULL', [at, hash])
      if (revoked.rowCount !== 1) return false
      if (audit) await this.audit(c, audit)
      return true
    })
  }

  async listLoginSessions(userId: string, activeAt: number): Promise<LoginSessionRecord[]> {
    const { rows } = await this.pool.query<Row>(
      `SELECT ${LOGIN_SESSION_COLUMNS.join(', ')} FROM login_sessions
        WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at DESC, hash`,
      [userId, activeAt],
    )
    return rows.map(toLoginSession)
  }

  async revokeLoginSessions(userId: string, at: number, exceptHash: string | null, audit: AuditEvent): Promise<number> {
    return this.transaction(async (c) => {
      const revoked = await c.query(
        'UPDATE login_sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL AND hash <> $3 AND expires_at > $1',
        [at, userId, exceptHash ?? ''],
      )
      const changed = revoked.rowCount ?? 0
      if (changed > 0) await this.audit(c, audit)
      return changed
    })
  }

  async createAuthorizationCode(code: AuthorizationCodeRecord): Promise<void> {
    await this.pool.query(
      insertSql('authorization_codes', AUTHORIZATION_CODE_COLUMNS),
      columnValues(code, AUTHORIZATION_CODE_COLUMNS, bool),
    )
  }

  async consumeAuthorizationCode(hash: string, at: number): Promise<{ consumed: boolean; code: AuthorizationCodeRecord } | undefined> {
    // The UPDATE is the compare-and-set: a concurrent caller waits on the row lock, re-checks
    // consumed_at and matches nothing. Only then the SELECT, a separate statement on purpose:
    // under READ COMMITTED it takes a fresh snapshot and so returns the winner's consumption,
    // which a CTE in the UPDATE's own (older) snapshot would not see.
    const { rows } = await this.pool.query<Row>(
      `UPDATE authorization_codes SET consumed_at = $2 WHERE hash = $1 AND consumed_at IS NULL
       RETURNING ${AUTHORIZATION_CODE_COLUMNS.join(', ')}`,
      [hash, at],
    )
    if (rows[0]) return { consumed: true, code: toAuthorizationCode(rows[0]) }
    const existing = await this.pool.query<Row>(
      `SELECT ${AUTHORIZATION_CODE_COLUMNS.join(', ')} FROM authorization_codes WHERE hash = $1`,
      [hash],
    )
    return existing.rows[0] && { consumed: false, code: toAuthorizationCode(existing.rows[0]) }
  }

  async setAuthorizationCodeSession(hash: string, sessionId: string): Promise<void> {
    await this.pool.query('UPDATE authorization_codes SET session_id = $1 WHERE hash = $2', [sessionId, hash])
  }

  async createDeviceCode(code: DeviceCodeRecord): Promise<void> {
    try {
      await this.transaction(async (c) => {
        // A user code is only taken while its holder lives; an expired holder that has not been
        // pruned yet gives way. `created_at` is "now": the store never reads the clock. Two
        // concurrent creators of one user code serialise on the unique index: the second fails.
        await c.query('DELETE FROM device_codes WHERE user_code = $1 AND expires_at <= $2', [code.user_code, code.created_at])
        await c.query(insertSql('device_codes', DEVICE_CODE_COLUMNS), columnValues(code, DEVICE_CODE_COLUMNS, bool))
      })
    } catch (err) {
      if (isUniqueViolation(err, 'device_codes', 'device_codes_user_code')) throw new StoreConflictError('user_code already in use')
      throw err
    }
  }

  async getDeviceCode(hash: string): Promise<DeviceCodeRecord | undefined> {
    const { rows } = await this.pool.query<Row>(`SELECT ${DEVICE_CODE_COLUMNS.join(', ')} FROM device_codes WHERE hash = $1`, [hash])
    return rows[0] && toDeviceCode(rows[0])
  }

  async getDeviceCodeByUserCode(userCode: string): Promise<DeviceCodeRecord | undefined> {
    const { rows } = await this.pool.query<Row>(`SELECT ${DEVICE_CODE_COLUMNS.join(', ')} FROM device_codes WHERE user_code = $1`, [
      userCode,
    ])
    return rows[0] && toDeviceCode(rows[0])
  }

  async recordDevicePoll(hash: string, at: number, slowDown: boolean): Promise<DeviceCodeRecord | undefined> {
    const { rows } = await this.pool.query<Row>(RECORD_DEVICE_POLL, [hash, at, slowDown ? 5 : 0])
    return rows[0] && toDeviceCode(rows[0])
  }

  async decideDeviceCode(hash: string, decision: 'approved' | 'denied', userId: string, at: number, audit: AuditEvent): Promise<boolean> {
    return this.transaction(async (c) => {
      const decided = await c.query(
        `UPDATE device_codes SET status = $1, user_id = $2, decided_at = $3 WHERE hash = $4 AND status = 'pending'`,
        [decision, userId, at, hash],
      )
      if (decided.rowCount !== 1) return false
      await this.audit(c, audit)
      return true
    })
  }

  async consumeDeviceCode(hash: string, session: SessionRecord, token: RefreshTokenRecord, audit: AuditEvent): Promise<boolean> {
    return this.transaction(async (c) => {
      // The row lock this takes holds a concurrent consumer until we commit; it then re-checks
      // status, finds 'consumed', and matches nothing.
      const consumed = await c.query(
        `UPDATE device_codes SET status = 'consumed', session_id = $1 WHERE hash = $2 AND status = 'approved'`,
        [session.id, hash],
      )
      if (consumed.rowCount !== 1) return false
      await this.insertSession(c, session, token, audit)
      return true
    })
  }

  async pruneExpired(before: number): Promise<number> {
    return this.transaction(async (c) => {
      let removed = 0
      for (const table of ['refresh_tokens', 'authorization_codes', 'device_codes', 'login_sessions', 'denied_access_tokens']) {
        removed += (await c.query(`DELETE FROM ${table} WHERE expires_at < $1`, [before])).rowCount ?? 0
      }
      return removed
    })
  }

  async denyAccessToken(jti: string, expiresAt: number, audit: AuditEvent): Promise<void> {
    await this.transaction(async (c) => {
      const denied = await c.query('INSERT INTO denied_access_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING', [jti, expiresAt])
      if (denied.rowCount === 1) await this.audit(c, audit)
    })
  }

  async isAccessTokenDenied(jti: string): Promise<boolean> {
    const { rows } = await this.pool.query('SELECT 1 FROM denied_access_tokens WHERE jti = $1', [jti])
    return rows.length > 0
  }

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    const { rows } = await this.pool.query<Row>(`SELECT ${KEY_COLUMNS.join(', ')} FROM signing_keys ORDER BY activates_at, kid`)
    return rows.map(toSigningKey)
  }

  async insertSigningKey(key: SigningKeyRecord): Promise<void> {
    await this.pool.query(insertSql('signing_keys', KEY_COLUMNS), columnValues(key, KEY_COLUMNS, bool))
  }

  async retireSigningKeysExcept(kid: string, at: number, expiresAt: number): Promise<void> {
    await this.pool.query('UPDATE signing_keys SET retired_at = $1, expires_at = $2 WHERE kid <> $3 AND retired_at IS NULL', [
      at, expiresAt, kid,
    ])
  }

  async revokeSigningKey(kid: string, at: number): Promise<boolean> {
    const revoked = await this.pool.query(
      `UPDATE signing_keys SET retired_at = CASE WHEN retired_at IS NULL OR retired_at > $1 THEN $1 ELSE retired_at END, expires_at = $1
        WHERE kid = $2 AND (expires_at IS NULL OR expires_at > $1)`,
      [at, kid],
    )
    return revoked.rowCount === 1
  }

  async claimBackchannelLogouts(now: number, lockedUntil: number, limit: number): Promise<BackchannelLogoutRecord[]> {
    const { rows } = await this.pool.query<Row>(CLAIM_BACKCHANNEL, [now, lockedUntil, limit])
    return rows.map(toBackchannelLogout).sort((a, b) => a.id - b.id)
  }

  async completeBackchannelLogout(id: number, audit?: AuditEvent): Promise<void> {
    await this.transaction(async (c) => {
      await c.query('DELETE FROM backchannel_logouts WHERE id = $1', [id])
      if (audit) await this.audit(c, audit)
    })
  }

  async retryBackchannelLogout(id: number, nextAttemptAt: number): Promise<void> {
    await this.pool.query(
      'UPDATE backchannel_logouts SET attempts = attempts + 1, next_attempt_at = $1, locked_until = NULL WHERE id = $2',
      [nextAttemptAt, id],
    )
  }

  async trimBackchannelLogouts(max: number): Promise<number> {
    // Everything at or below the (max+1)-th newest id; NULL (nothing) while under the cap.
    const trimmed = await this.pool.query(
      'DELETE FROM backchannel_logouts WHERE id <= (SELECT id FROM backchannel_logouts ORDER BY id DESC LIMIT 1 OFFSET $1)',
      [max],
    )
    return trimmed.rowCount ?? 0
  }

  async listBackchannelLogouts(): Promise<BackchannelLogoutRecord[]> {
    const { rows } = await this.pool.query<Row>(`SELECT ${BACKCHANNEL_COLUMNS.join(', ')} FROM backchannel_logouts ORDER BY id`)
    return rows.map(toBackchannelLogout)
  }

  private async audit(c: Queryable, event: AuditEvent): Promise<void> {
    await c.query(insertSql('audit_events', AUDIT_COLUMNS), columnValues(event, AUDIT_COLUMNS, bool))
  }

  /** Runs `fn` in BEGIN … COMMIT on one checked-out client, rolling back if it throws. */
  private async transaction<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect()
    let broken: Error | undefined
    try {
      await c.query('BEGIN')
      const result = await fn(c)
      await c.query('COMMIT')
      return result
    } catch (err) {
      try {
        await c.query('ROLLBACK')
      } catch (rollbackErr) {
        // A connection that cannot roll back is in an unknown state: destroy it rather than
        // hand it to the next caller mid-transaction.
        broken = rollbackErr as Error
      }
      throw err
    } finally {
      c.release(broken)
    }
  }

  private async page<T>(
    table: string,
    columns: readonly string[],
    atColumn: string,
    idColumn: string,
    where: Where,
    options: ListOptions,
    map: (r: Row) => T,
    position: (item: T) => { at: number; id: string },
  ): Promise<Page<T>> {
    const after = decodeCursor(options.cursor)
    if (after) {
      const at = where.param(after.at)
      where.add(`(${atColumn} > ${at} OR (${atColumn} = ${at} AND ${idColumn} > ${where.param(after.id)}))`)
    }
    const sql = `SELECT ${columns.join(', ')} FROM ${table}
      ${where.conditions.length ? `WHERE ${where.conditions.join(' AND ')}` : ''}
      ORDER BY ${atColumn}, ${idColumn} LIMIT ${where.param(options.limit + 1)}`
    const { rows } = await this.pool.query<Row>(sql, where.params)
    return toPage(rows.map(map), options.limit, position)
  }
}

/** WHERE conditions with their `$n` parameters numbered as they are added. */
class Where {
  readonly conditions: string[] = []
  readonly params: unknown[] = []

  add(condition: string): this {
    this.conditions.push(condition)
    return this
  }

  param(value: unknown): string {
    this.params.push(value)
    return `$${this.params.length}`
  }
}

/** A unique violation on `table`, and on the index `constraint` when one is named. */
function isUniqueViolation(err: unknown, table: string, constraint?: string): boolean {
  return err instanceof pg.DatabaseError && err.code === UNIQUE_VIOLATION && err.table === table &&
    (constraint === undefined || err.constraint === constraint)
}

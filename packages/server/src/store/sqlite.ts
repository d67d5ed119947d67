import BetterSqlite3 from 'better-sqlite3'
import { CompiledQuery, Kysely, SqliteDialect, sql } from 'kysely'
import { closeSync, mkdirSync, openSync } from 'node:fs'
import { dirname } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setImmediate, setTimeout } from 'node:timers'
import type { Database } from './database.js'
import { LATEST_VERSION, LEGACY_MIGRATIONS, SHARED_MIGRATIONS } from './migrations.js'
import { startCheckpointer, type Checkpointer, type CheckpointResult } from './sqlite-checkpointer.js'
import {
  AUDIT_COLUMNS, AUTHORIZATION_CODE_COLUMNS, BACKCHANNEL_COLUMNS, ClientRowCache, DEVICE_CODE_COLUMNS, TOKEN_COLUMNS, columnValues,
  findRefreshTokenSql, rawToRefreshTokenView,
} from './rows.js'
import { SqlStore, type DialectAdapter, type Executor, type RevocationTarget, type RevokedRow } from './sql-store.js'
import type { AuthorizationCodeRecord, BackchannelLogoutRecord, DeviceCodeRecord, RefreshTokenView, Rotation } from './types.js'
import { sessionTree } from './session-tree.js'

/** What a revoking UPDATE returns: enough to queue the session's back-channel logout. */

const placeholders = (n: number) => Array.from({ length: n }, () => '?').join(', ')
const insertSql = (table: string, columns: readonly string[]) =>
  `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${placeholders(columns.length)})`
const bool = (b: boolean) => (b ? 1 : 0)

const SQLITE: DialectAdapter = {
  bool,
  isUniqueViolation(err, unique) {
    const e = err as { code?: string; message?: string }
    return (e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') &&
      String(e.message).includes(`${unique.table}.${unique.column}`)
  },
}

/*
 * Revocation, hand-written: the delegation subtree is a recursive CTE, and each revoking UPDATE
 * returns exactly the rows it changed so only those get an outbox row (a concurrent revoker that
 * got there first queues its own). `$at`/`$reason` come first except for the subtree and client, whose CTE
 * names the roots before the UPDATE.
 */
const REVOKE = {
  subtree: `${sessionTree('id = ?')} UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE id IN (SELECT id FROM tree) AND revoked_at IS NULL
  RETURNING id, user_id, client_id, parent_id, act`,
  user: 'UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE user_id = ? AND revoked_at IS NULL RETURNING id, user_id, client_id, parent_id, act',
  // A delegated session belongs to the agent's client, not to its parent's: deleting the parent's
  // client must still reach the agents acting under its sessions.
  client: `${sessionTree('client_id = ?')} UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE id IN (SELECT id FROM tree) AND revoked_at IS NULL
  RETURNING id, user_id, client_id, parent_id, act`,
} as const
// Joined without deleted_at: deleteClient marks the client deleted in the same transaction and
// its sessions' apps must still hear about it. `WHERE` before ON CONFLICT is required by
// SQLite's parser for INSERT … SELECT … ON CONFLICT.
const QUEUE_BACKCHANNEL = `INSERT INTO backchannel_logouts (session_id, user_id, client_id, uri, attempts, next_attempt_at, locked_until, created_at)
 SELECT ?, ?, c.client_id, c.backchannel_logout_uri, 0, ?, NULL, ? FROM clients c
  WHERE c.client_id = ? AND c.backchannel_logout_uri IS NOT NULL
 ON CONFLICT (session_id, client_id) DO NOTHING`

/** The longest a statement waits for another connection's write lock, in all. */
const BUSY_WAIT_MS = 5000

/**
 * The WAL size (pages) at which a connection checkpoints inline. 10,000 (~40 MB) instead of the
 * default ~4 MB: each checkpoint fsyncs, and at the default they cost about a third of the rotation
 * transaction (measured 91 vs 128 µs). With the background checkpointer it is only the backstop.
 */
const AUTOCHECKPOINT_PAGES = 10_000
const BACKSTOP_AUTOCHECKPOINT_PAGES = 40_000

function openConnection(filename: string, busyTimeoutMs: number, autocheckpointPages = AUTOCHECKPOINT_PAGES): BetterSqlite3.Database {
  const db = new BetterSqlite3(filename)
  db.pragma('journal_mode = WAL')
  // NORMAL in WAL mode never corrupts; a power cut can drop the last commits, which costs a
  // client one re-login at worst, and buys roughly 10x on the rotation transaction.
  db.pragma('synchronous = NORMAL')
  db.pragma(`busy_timeout = ${busyTimeoutMs}`)
  db.pragma(`wal_autocheckpoint = ${autocheckpointPages}`)
  return db
}

/** SQLITE_BUSY and its extended codes (SQLITE_BUSY_RECOVERY, …): another connection holds the lock. */
function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY')
}

/**
 * Retries `fn` while it fails with SQLITE_BUSY, without blocking the event loop: twice on the next
 * turn (a same-process kysely transaction usually finishes within one), then with a timer backing
 * off from 1 to 10 ms, for at most {@link BUSY_WAIT_MS}; then the last SQLITE_BUSY is thrown.
 * Safe for the hot statements: a transaction fails with SQLITE_BUSY at its `BEGIN IMMEDIATE`,
 * before it changed anything.
 */
async function whenNotBusy<T>(fn: () => T): Promise<T> {
  const started = performance.now()
  for (let attempt = 0; ; attempt++) {
    await (attempt < 2 ? new Promise<void>((r) => setImmediate(r)) : new Promise<void>((r) => setTimeout(r, Math.min(10, 2 ** (attempt - 2)))))
    try {
      return fn()
    } catch (err) {
      if (!isBusy(err) || performance.now() - started > BUSY_WAIT_MS) throw err
    }
  }
}

/**
 * The embedded default store: better-sqlite3 in WAL mode. Everything but the statements below
 * is the shared query layer ({@link SqlStore}, kysely's SqliteDialect on this same connection).
 *
 * Hand-written and prepared once at open, because they are the hot path or need an IMMEDIATE
 * transaction: the refresh-token read and rotation (synchronous, so a rotation is one
 * in-process transaction with no round trip and no promise hop per statement; the rotations of
 * one event-loop turn share it, see {@link SqliteStore.rotateRefreshToken}), code
 * consumption, the device poll and the outbox claim.
 *
 * Those synchronous statements run on a second connection of their own (`hot`), never on
 * kysely's: a synchronous transaction started while a kysely transaction is open on the same
 * connection would nest inside it (better-sqlite3 makes it a savepoint) and vanish if that
 * transaction rolled back. On their own connection, an open kysely transaction (here or in another
 * process of `--workers`) is simply another writer holding the lock.
 *
 * SQLITE_BUSY and the event loop: better-sqlite3 is synchronous, so SQLite's busy handler
 * (`busy_timeout`) *sleeps the whole process* while it waits for another connection's write lock,
 * from 1 ms upwards. The hot connection therefore has `busy_timeout = 0` and waits without
 * blocking ({@link whenNotBusy}: it yields to the event loop, then backs off up to 10 ms, for at
 * most {@link BUSY_WAIT_MS} in all), which matters once several processes share the file. kysely's
 * connection (admin API, pages, upkeep) keeps a blocking `busy_timeout`, since kysely runs
 * statements synchronously too; it only ever waits out another connection's transaction, which
 * for the hot path is one synchronous transaction (tens of µs per rotation in its group).
 */
export class SqliteStore extends SqlStore {
  readonly kind = 'sqlite' as const
  /** kysely's better-sqlite3 handle; `.name` is the file. */
  private readonly db: BetterSqlite3.Database
  /** The hand-written statements' own handle: the same one for `:memory:` (which is per connection). */
  private readonly hot: BetterSqlite3.Database
  private stmts!: ReturnType<SqliteStore['prepare']>
  private readonly rotateTx: BetterSqlite3.Transaction<(r: Rotation) => boolean>
  private readonly rotateBatchTx: BetterSqlite3.Transaction<(batch: PendingRotation[]) => boolean[]>
  /** Rotations waiting for the next group commit (see {@link rotateRefreshToken}). */
  private pending: PendingRotation[] = []
  /** The hot read's parsed clients, reused while their row is unchanged (rows.ts). */
  private readonly clientRows = new ClientRowCache()
  private readonly checkpointer: Checkpointer | undefined

  /**
   * @param options.backgroundCheckpoints checkpoint from a worker thread (sqlite-checkpointer.ts)
   *   instead of inside a request's commit; what `evergreen serve` uses
   */
  constructor(filename: string, options: { backgroundCheckpoints?: boolean } = {}) {
    if (filename !== ':memory:') {
      mkdirSync(dirname(filename), { recursive: true, mode: 0o700 })
      // Create it 0600 before SQLite does (its default follows the umask, usually 0644); the WAL
      // and shared-memory files SQLite adds later copy the database file's mode.
      closeSync(openSync(filename, 'a', 0o600))
    }
    const background = options.backgroundCheckpoints === true && filename !== ':memory:'
    const autocheckpoint = background ? BACKSTOP_AUTOCHECKPOINT_PAGES : AUTOCHECKPOINT_PAGES
    const raw = openConnection(filename, BUSY_WAIT_MS, autocheckpoint)
    super(new Kysely<Database>({ dialect: new SqliteDialect({ database: raw }) }), SQLITE)
    this.db = raw
    this.hot = filename === ':memory:' ? raw : openConnection(filename, 0, autocheckpoint)
    this.checkpointer = background ? startCheckpointer(filename) : undefined
    this.rotateTx = this.hot.transaction((r: Rotation) => this.rotateTransaction(r))
    this.rotateBatchTx = this.hot.transaction((batch: PendingRotation[]) => this.rotateBatch(batch))
  }

  async migrate(): Promise<void> {
    const raw = this.db
    await this.exclusive(() => {
      raw.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)')
      const record = raw.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)')
      const apply = raw.transaction(() => {
        const done = new Set((raw.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version))
        const now = Math.floor(Date.now() / 1000)
        for (const m of LEGACY_MIGRATIONS.sqlite) {
          if (done.has(m.version)) continue
          raw.exec(m.sql)
          record.run(m.version, now)
        }
        for (const m of SHARED_MIGRATIONS) {
          if (done.has(m.version)) continue
          for (const statement of m.statements(this.kysely.schema, { json: 'text' })) {
            const compiled = statement.compile()
            raw.prepare(compiled.sql).run(...compiled.parameters)
          }
          record.run(m.version, now)
        }
      })
      apply.immediate()
    })
    this.stmts = this.prepare()
  }

  async ready(): Promise<void> {
    const row = this.db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null }
    if (row.v !== LATEST_VERSION) throw new Error(`schema at version ${row.v ?? 'none'}, expected ${LATEST_VERSION}`)
  }

  /** One checkpoint now, on the background thread; undefined without one. For upkeep and tests. */
  async checkpoint(): Promise<CheckpointResult | undefined> {
    return this.checkpointer?.checkpoint()
  }

  async close(): Promise<void> {
    // Rotations already accepted are committed (or fail) before the connections go.
    if (this.pending.length > 0) await this.flushRotations()
    await this.checkpointer?.close()
    if (this.hot !== this.db && this.hot.open) this.hot.close()
    // Kysely's SqliteDriver closes the better-sqlite3 handle it was given.
    if (this.db.open) await this.kysely.destroy()
  }

  private prepare() {
    const db = this.hot
    return {
      findToken: db.prepare(findRefreshTokenSql('?')).raw(true),
      spendToken: db.prepare(
        `UPDATE refresh_tokens SET spent_at = ?, successor_sealed = ?, spent_ip = ?, spent_user_agent = ?
          WHERE hash = ? AND session_id = ? AND spent_at IS NULL`,
      ),
      slideSession: db.prepare(
        `UPDATE sessions SET last_refreshed_at = ?, idle_expires_at = ?, generation = generation + 1
          WHERE id = ? AND revoked_at IS NULL AND generation = ?`,
      ),
      insertToken: db.prepare(insertSql('refresh_tokens', TOKEN_COLUMNS)),
      insertAudit: db.prepare(insertSql('audit_events', AUDIT_COLUMNS)),
      claimBackchannel: db.prepare(
        `UPDATE backchannel_logouts SET locked_until = ?
          WHERE id IN (SELECT id FROM backchannel_logouts
                        WHERE next_attempt_at <= ? AND (locked_until IS NULL OR locked_until <= ?)
                        ORDER BY id LIMIT ?)
         RETURNING ${BACKCHANNEL_COLUMNS.join(', ')}`,
      ),
      getAuthorizationCode: db.prepare(`SELECT ${AUTHORIZATION_CODE_COLUMNS.join(', ')} FROM authorization_codes WHERE hash = ?`),
      consumeAuthorizationCode: db.prepare('UPDATE authorization_codes SET consumed_at = ? WHERE hash = ? AND consumed_at IS NULL'),
      getDeviceCode: db.prepare(`SELECT ${DEVICE_CODE_COLUMNS.join(', ')} FROM device_codes WHERE hash = ?`),
      pollDeviceCode: db.prepare('UPDATE device_codes SET last_polled_at = ?, interval = interval + ? WHERE hash = ?'),
    }
  }

  /**
   * Runs a synchronous step of the hot connection. On `:memory:` (one connection) it waits for
   * an open kysely transaction to finish first, so it cannot nest inside it; on a file it runs at
   * once and waits out another writer with {@link whenNotBusy}. The usual case costs one check.
   */
  private exclusive<T>(fn: () => T): T | Promise<T> {
    if (this.hot === this.db && this.db.inTransaction) return this.kysely.connection().execute(async () => fn())
    try {
      return fn()
    } catch (err) {
      if (!isBusy(err)) throw err
      return whenNotBusy(fn)
    }
  }

  /**
   * The shared transactions begin IMMEDIATE, like the hand-written ones: the write lock is taken
   * (waiting up to busy_timeout) before the first read, so a transaction that reads and then
   * writes cannot fail with SQLITE_BUSY part-way because another process wrote in between.
   * kysely's own transaction() begins DEFERRED.
   */
  protected override transaction<T>(fn: (trx: Executor) => Promise<T>): Promise<T> {
    return this.kysely.connection().execute(async (conn) => {
      await sql`BEGIN IMMEDIATE`.execute(conn)
      try {
        const result = await fn(conn)
        await sql`COMMIT`.execute(conn)
        return result
      } catch (err) {
        // Some errors (SQLITE_FULL, SQLITE_IOERR, …) have already rolled the transaction back.
        if (this.db.inTransaction) await sql`ROLLBACK`.execute(conn)
        throw err
      }
    })
  }

  async findRefreshToken(hash: string): Promise<RefreshTokenView | undefined> {
    const r = await this.exclusive(() => this.stmts.findToken.get(hash) as unknown[] | undefined)
    return r && rawToRefreshTokenView(r, this.clientRows)
  }

  /**
   * Group commit (docs/architecture.md "Refresh rotation"): the rotations that arrive in one
   * event-loop turn are applied in one IMMEDIATE transaction on the next turn; every caller is
   * answered only after the shared COMMIT succeeded. Fewer commits write fewer WAL frames (the
   * rows appended to the same table and index pages share them). No rotation needs a SAVEPOINT:
   * one that loses its compare-and-set writes nothing ({@link rotateTransaction}), and any error
   * sends the whole group back to one transaction per rotation. (A SAVEPOINT per rotation journals
   * the original of each page it touches, about seven, and that journal went to a temp file:
   * ~15 pwrite calls per rotation, a fifth of the server's CPU per refresh; bench/RESULTS.md.)
   * `:memory:` (one connection, shared with kysely) keeps the one-transaction path.
   */
  rotateRefreshToken(rotation: Rotation): Promise<boolean> {
    if (this.hot === this.db) return this.rotateOne(rotation)
    return new Promise<boolean>((resolve, reject) => {
      if (this.pending.length === 0) setImmediate(() => void this.flushRotations())
      this.pending.push({ rotation, resolve, reject })
    })
  }

  private async rotateOne(rotation: Rotation): Promise<boolean> {
    try {
      // IMMEDIATE takes the write lock up front, so two processes on one file serialise here
      // instead of both reading "unspent" and one failing with SQLITE_BUSY mid-transaction.
      return await this.exclusive(() => this.rotateTx.immediate(rotation))
    } catch (err) {
      if (err instanceof RotationAborted) return false
      throw err
    }
  }

  private async flushRotations(): Promise<void> {
    const batch = this.pending
    this.pending = []
    if (batch.length === 0) return
    if (batch.length === 1) {
      const [one] = batch as [PendingRotation]
      return this.rotateOne(one.rotation).then(one.resolve, one.reject)
    }
    let rotated: boolean[]
    try {
      // BEGIN IMMEDIATE waits out another process's writer (whenNotBusy) before anything ran.
      rotated = await this.exclusive(() => this.rotateBatchTx.immediate(batch))
    } catch {
      // The shared transaction failed as a whole and was rolled back (an error in one rotation,
      // its COMMIT, an I/O error): nothing of it was committed, so each rotation gets its own
      // transaction and its own answer, as without grouping.
      for (const p of batch) void this.rotateOne(p.rotation).then(p.resolve, p.reject)
      return
    }
    batch.forEach((p, i) => p.resolve(rotated[i]!))
  }

  private rotateBatch(batch: PendingRotation[]): boolean[] {
    // A throw (RotationAborted included) rolls the whole group back; see flushRotations.
    return batch.map((p) => this.rotateTransaction(p.rotation))
  }

  /**
   * One rotation's statements. Returns false having written nothing when the rotation lost: the
   * session's compare-and-set comes first (a concurrent rotation moved its generation, or it was
   * revoked), so the common ways to lose need no rollback, and a group commit no savepoint. With
   * the session's generation unchanged, nothing can have spent its current token, so a failed
   * spend afterwards is a broken invariant: it throws, and the transaction is rolled back.
   */
  private rotateTransaction(r: Rotation): boolean {
    const slid = this.stmts.slideSession.run(r.spent_at, r.idle_expires_at, r.session_id, r.expected_generation)
    if (slid.changes !== 1) return false
    const spent = this.stmts.spendToken.run(r.spent_at, r.successor_sealed, r.spent_ip, r.spent_user_agent, r.spent_hash, r.session_id)
    if (spent.changes !== 1) throw new RotationAborted()
    this.stmts.insertToken.run(...columnValues(r.successor, TOKEN_COLUMNS, bool))
    this.stmts.insertAudit.run(...columnValues(r.audit, AUDIT_COLUMNS, bool))
    return true
  }

  async consumeAuthorizationCode(hash: string, at: number): Promise<{ consumed: boolean; code: AuthorizationCodeRecord } | undefined> {
    // The UPDATE is the compare-and-set; the read in the same IMMEDIATE transaction returns the
    // row it left behind (or the earlier consumption, for a replay), even across processes.
    return this.exclusive(() =>
      this.hot.transaction(() => {
        const consumed = this.stmts.consumeAuthorizationCode.run(at, hash).changes === 1
        const code = this.stmts.getAuthorizationCode.get(hash) as AuthorizationCodeRecord | undefined
        return code && { consumed, code }
      }).immediate(),
    )
  }

  async recordDevicePoll(hash: string, at: number, slowDown: boolean): Promise<DeviceCodeRecord | undefined> {
    // IMMEDIATE: the read must see the row as the write will find it, even across processes,
    // so concurrent polls each see a distinct predecessor.
    return this.exclusive(() =>
      this.hot.transaction(() => {
        const before = this.stmts.getDeviceCode.get(hash) as DeviceCodeRecord | undefined
        if (!before) return undefined
        this.stmts.pollDeviceCode.run(at, slowDown ? 5 : 0, hash)
        return before
      }).immediate(),
    )
  }

  async claimBackchannelLogouts(now: number, lockedUntil: number, limit: number): Promise<BackchannelLogoutRecord[]> {
    // IMMEDIATE: two processes on one file take the write lock in turn, so a row is leased once.
    const rows = await this.exclusive(() =>
      this.hot.transaction(() => this.stmts.claimBackchannel.all(lockedUntil, now, now, limit) as BackchannelLogoutRecord[]).immediate(),
    )
    // RETURNING order is unspecified in SQLite.
    return rows.sort((a, b) => a.id - b.id)
  }

  protected async revokeAndQueue(trx: Executor, target: RevocationTarget, at: number, reason: string): Promise<RevokedRow[]> {
    const params = target.by === 'user' ? [at, reason, target.id] : [target.id, at, reason]
    const { rows } = await trx.executeQuery<RevokedRow>(CompiledQuery.raw(REVOKE[target.by], params))
    for (const s of rows) await trx.executeQuery(CompiledQuery.raw(QUEUE_BACKCHANNEL, [s.id, s.user_id, at, at, s.client_id]))
    return rows
  }
}

class RotationAborted extends Error {}

/** A rotation waiting for its group commit. */
interface PendingRotation {
  rotation: Rotation
  resolve: (rotated: boolean) => void
  reject: (err: unknown) => void
}

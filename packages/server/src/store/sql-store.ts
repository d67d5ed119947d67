import { sql, type Kysely, type SelectQueryBuilder, type SqlBool, type Transaction } from 'kysely'
import { emailKey } from '../accounts/email.js'
import { decodeCursor, toPage, type CursorPosition } from './cursor.js'
import type { Database } from './database.js'
import {
  BACKCHANNEL_COLUMNS, CLIENT_COLUMNS, DEVICE_CODE_COLUMNS, KEY_COLUMNS, LOGIN_SESSION_COLUMNS, SESSION_COLUMNS,
  USER_COLUMNS, toAudit, toClient, toSigningKey,
} from './rows.js'
import {
  StoreConflictError,
  type AuditEvent, type AuditFilter, type AuthorizationCodeRecord, type BackchannelLogoutRecord, type CascadeAudit, type ClientPatch, type ClientRecord,
  type DeviceCodeRecord, type ListOptions, type LoginSessionRecord, type Page, type RefreshTokenRecord, type RefreshTokenView,
  type Rotation, type SessionFilter, type SessionRecord, type SigningKeyRecord, type Store, type UpstreamIdentityRecord, type UserRecord,
} from './types.js'

/** Where a query runs: the store's connection, or a transaction on it. */
export type Executor = Kysely<Database> | Transaction<Database>

/** Which sessions a revocation starts from. */
export type RevocationTarget =
  | { by: 'subtree'; id: string }
  | { by: 'user'; id: string }
  | { by: 'client'; id: string }

/** A session a revocation changed, as {@link SqlStore.revokeAndQueue} returns it. */
export type RevokedRow = Pick<SessionRecord, 'id' | 'user_id' | 'client_id' | 'parent_id' | 'act'>

/** What the two databases do differently for the shared queries; everything else is kysely's. */
export interface DialectAdapter {
  /** How a boolean is bound: 0/1 on SQLite (better-sqlite3 refuses JS booleans), BOOLEAN on PostgreSQL. */
  bool(value: boolean): boolean | number
  /**
   * True for a unique violation of exactly this constraint: SQLite names it `table.column` in
   * the message, PostgreSQL by constraint name. Only the constraint we mean becomes a
   * conflict; a duplicate audit id is a bug, not a 409.
   */
  isUniqueViolation(err: unknown, unique: { table: string; column: string; constraint: string }): boolean
}

const USERS_EMAIL = { table: 'users', column: 'email_lower', constraint: 'users_email_lower_key' }
const CLIENTS_ID = { table: 'clients', column: 'client_id', constraint: 'clients_pkey' }
const DEVICE_USER_CODE = { table: 'device_codes', column: 'user_code', constraint: 'device_codes_user_code' }

const CLIENT_JSON = new Set<string>(['redirect_uris', 'post_logout_redirect_uris', 'grant_types', 'allowed_scopes', 'allowed_audiences'])
/** JSON columns that may be null: null stays SQL NULL rather than the text 'null'. */
const CLIENT_NULLABLE_JSON = new Set<string>(['jwks', 'token_exchange'])
const PATCHABLE = new Set<string>(CLIENT_COLUMNS.filter((c) => c !== 'client_id' && c !== 'created_at'))

/** Tables whose rows pruneExpired removes once `expires_at` has passed. */
const EXPIRING = ['refresh_tokens', 'authorization_codes', 'device_codes', 'login_sessions', 'denied_access_tokens', 'client_assertions'] as const

/**
 * Keyset paging on `(at, id)`: after the cursor's position, in that order, one row more than
 * the page so {@link toPage} knows whether there is a next one.
 */
function keyset<DB, TB extends keyof DB, O>(
  query: SelectQueryBuilder<DB, TB, O>, at: string, id: string, options: ListOptions,
): SelectQueryBuilder<DB, TB, O> {
  const after = decodeCursor(options.cursor)
  const q = after
    ? query.where(sql<SqlBool>`(${sql.ref(at)} > ${after.at} OR (${sql.ref(at)} = ${after.at} AND ${sql.ref(id)} > ${after.id}))`)
    : query
  return q.orderBy(sql.ref(at)).orderBy(sql.ref(id)).limit(options.limit + 1)
}

/**
 * The part of {@link Store} that is plain CRUD, filtering and paging, written once over
 * kysely for SQLite and PostgreSQL alike. A store supplies its `Kysely<Database>`, a
 * {@link DialectAdapter}, its migrations and the statements that earn hand-written SQL per
 * dialect: the hot-path read and rotation, code consumption, device polling, the outbox claim
 * and revocation with its outbox rows (each explained where it is written).
 */
export abstract class SqlStore implements Store {
  abstract readonly kind: 'sqlite' | 'postgres'

  constructor(
    protected readonly kysely: Kysely<Database>,
    protected readonly dialect: DialectAdapter,
  ) {}

  abstract migrate(): Promise<void>
  abstract ready(): Promise<void>
  abstract close(): Promise<void>
  abstract findRefreshToken(hash: string): Promise<RefreshTokenView | undefined>
  abstract rotateRefreshToken(rotation: Rotation): Promise<boolean>
  abstract consumeAuthorizationCode(hash: string, at: number): Promise<{ consumed: boolean; code: AuthorizationCodeRecord } | undefined>
  abstract recordDevicePoll(hash: string, at: number, slowDown: boolean): Promise<DeviceCodeRecord | undefined>
  abstract claimBackchannelLogouts(now: number, lockedUntil: number, limit: number): Promise<BackchannelLogoutRecord[]>
  /**
   * Revokes the target's live sessions and queues one back-channel logout for each whose client
   * has a URI, inside `trx`; returns the sessions it changed.
   */
  protected abstract revokeAndQueue(trx: Executor, target: RevocationTarget, at: number, reason: string): Promise<RevokedRow[]>

  /**
   * {@link revokeAndQueue}, then one `cascade` event for each revoked session whose parent this
   * same revocation revoked (it went with its parent), in `trx`; returns how many changed.
   */
  private async revokeWithDescendants(trx: Executor, target: RevocationTarget, at: number, reason: string, cascade: CascadeAudit): Promise<number> {
    const rows = await this.revokeAndQueue(trx, target, at, reason)
    const revoked = new Set(rows.map((r) => r.id))
    for (const r of rows) {
      if (r.parent_id !== null && revoked.has(r.parent_id)) await this.audit(trx, cascade({ id: r.id, user_id: r.user_id, client_id: r.client_id, act: r.act, parent_id: r.parent_id }))
    }
    return rows.length
  }

  /** Runs `fn` in one transaction; a store may override how it begins (SQLite: IMMEDIATE). */
  protected transaction<T>(fn: (trx: Executor) => Promise<T>): Promise<T> {
    return this.kysely.transaction().execute(fn)
  }

  async getMeta(key: string): Promise<string | undefined> {
    return (await this.kysely.selectFrom('meta').select('value').where('key', '=', key).executeTakeFirst())?.value
  }

  async putMetaIfAbsent(key: string, value: string): Promise<string> {
    // Two statements on purpose: under READ COMMITTED the SELECT takes a fresh snapshot and so
    // sees a row a concurrent caller committed while our INSERT waited on it. A single
    // statement (CTE) would read its own older snapshot and could find nothing.
    await this.kysely.insertInto('meta').values({ key, value }).onConflict((oc) => oc.column('key').doNothing()).execute()
    return (await this.getMeta(key))!
  }

  async createUser(user: UserRecord, audit: AuditEvent): Promise<void> {
    try {
      await this.transaction(async (trx) => {
        // Computed in JS for both stores, so they agree on what "the same email" is.
        await trx.insertInto('users').values({ ...user, email_lower: emailKey(user.email) }).execute()
        await this.audit(trx, audit)
      })
    } catch (err) {
      if (this.dialect.isUniqueViolation(err, USERS_EMAIL)) throw new StoreConflictError('email already registered')
      throw err
    }
  }

  async getUser(id: string): Promise<UserRecord | undefined> {
    return this.kysely.selectFrom('users').select(USER_COLUMNS).where('id', '=', id).executeTakeFirst()
  }

  async getUserByEmail(email: string): Promise<UserRecord | undefined> {
    return this.kysely.selectFrom('users').select(USER_COLUMNS).where('email_lower', '=', emailKey(email)).executeTakeFirst()
  }

  async listUsers(options: ListOptions): Promise<Page<UserRecord>> {
    const rows = await keyset(this.kysely.selectFrom('users').select(USER_COLUMNS), 'created_at', 'id', options).execute()
    return toPage(rows, options.limit, (u) => ({ at: u.created_at, id: u.id }))
  }

  async getUpstreamIdentity(issuer: string, subject: string): Promise<UpstreamIdentityRecord | undefined> {
    return this.kysely.selectFrom('upstream_identities').selectAll().where('issuer', '=', issuer).where('subject', '=', subject).executeTakeFirst()
  }

  async linkUpstreamIdentity(identity: UpstreamIdentityRecord): Promise<boolean> {
    // DO NOTHING without a target covers both unique constraints: (issuer, subject) and (issuer, user_id).
    const r = await this.kysely.insertInto('upstream_identities').values(identity).onConflict((oc) => oc.doNothing()).executeTakeFirst()
    return Number(r.numInsertedOrUpdatedRows ?? 0) === 1
  }

  async disableUser(id: string, at: number, audit: AuditEvent, cascade: CascadeAudit): Promise<boolean> {
    return this.transaction(async (trx) => {
      const disabled = await trx.updateTable('users').set({ disabled_at: at }).where('id', '=', id).where('disabled_at', 'is', null).executeTakeFirst()
      if (Number(disabled.numUpdatedRows) !== 1) return false
      await this.audit(trx, audit)
      await this.revokeWithDescendants(trx, { by: 'user', id }, at, 'user_disabled', cascade)
      await trx.updateTable('login_sessions').set({ revoked_at: at }).where('user_id', '=', id).where('revoked_at', 'is', null).execute()
      return true
    })
  }

  async createClient(client: ClientRecord, audit: AuditEvent): Promise<void> {
    try {
      await this.transaction(async (trx) => {
        await trx.insertInto('clients').values(this.clientColumns(client)).execute()
        await this.audit(trx, audit)
      })
    } catch (err) {
      if (this.dialect.isUniqueViolation(err, CLIENTS_ID)) throw new StoreConflictError('client_id already exists')
      throw err
    }
  }

  async getClient(clientId: string): Promise<ClientRecord | undefined> {
    const r = await this.liveClient(this.kysely, clientId)
    return r && toClient(r)
  }

  async listClients(options: ListOptions): Promise<Page<ClientRecord>> {
    const query = this.kysely.selectFrom('clients').select(CLIENT_COLUMNS).where('deleted_at', 'is', null)
    const rows = (await keyset(query, 'created_at', 'client_id', options).execute()).map(toClient)
    return toPage(rows, options.limit, (c) => ({ at: c.created_at, id: c.client_id }))
  }

  async updateClient(clientId: string, patch: ClientPatch, audit: AuditEvent): Promise<ClientRecord | undefined> {
    const set = this.clientColumns(Object.fromEntries(Object.entries(patch).filter(([k]) => PATCHABLE.has(k))))
    return this.transaction(async (trx) => {
      if (Object.keys(set).length > 0) {
        const updated = await trx.updateTable('clients').set(set).where('client_id', '=', clientId).where('deleted_at', 'is', null).executeTakeFirst()
        if (Number(updated.numUpdatedRows) === 0) return undefined
      }
      const r = await this.liveClient(trx, clientId)
      if (!r) return undefined
      await this.audit(trx, audit)
      return toClient(r)
    })
  }

  async touchClient(clientId: string, usedAt: number, expiresAt: number | null): Promise<boolean> {
    const result = await this.kysely
      .updateTable('clients')
      .set(
        expiresAt === null
          ? { last_used_at: usedAt }
          : {
              last_used_at: usedAt,
              // Forward only: a node with an older view of the expiry must not pull it back.
              expires_at: sql<number>`CASE WHEN expires_at IS NULL OR expires_at < ${expiresAt} THEN ${expiresAt} ELSE expires_at END`,
            },
      )
      .where('client_id', '=', clientId)
      .where('deleted_at', 'is', null)
      .executeTakeFirst()
    return Number(result.numUpdatedRows) === 1
  }

  async listExpiredClients(at: number, limit: number): Promise<string[]> {
    const rows = await this.kysely
      .selectFrom('clients')
      .select('client_id')
      .where('deleted_at', 'is', null)
      .where('expires_at', 'is not', null)
      .where('expires_at', '<=', at)
      .orderBy('expires_at')
      .orderBy('client_id')
      .limit(limit)
      .execute()
    return rows.map((r) => r.client_id)
  }

  async deleteClient(clientId: string, at: number, audit: AuditEvent, cascade: CascadeAudit): Promise<boolean> {
    return this.transaction(async (trx) => {
      const deleted = await trx.updateTable('clients').set({ deleted_at: at }).where('client_id', '=', clientId).where('deleted_at', 'is', null).executeTakeFirst()
      if (Number(deleted.numUpdatedRows) !== 1) return false
      await this.audit(trx, audit)
      await this.revokeWithDescendants(trx, { by: 'client', id: clientId }, at, 'client_deleted', cascade)
      return true
    })
  }

  async createSession(session: SessionRecord, token: RefreshTokenRecord, audit: AuditEvent): Promise<void> {
    await this.transaction((trx) => this.insertSession(trx, session, token, audit))
  }

  async getSession(id: string): Promise<SessionRecord | undefined> {
    return this.kysely.selectFrom('sessions').select(SESSION_COLUMNS).where('id', '=', id).executeTakeFirst()
  }

  async listSessions(filter: SessionFilter): Promise<Page<SessionRecord>> {
    let query = this.kysely.selectFrom('sessions').select(SESSION_COLUMNS)
    if (filter.user_id !== undefined) query = query.where('user_id', '=', filter.user_id)
    if (filter.client_id !== undefined) query = query.where('client_id', '=', filter.client_id)
    if (filter.parent_id !== undefined) query = query.where('parent_id', '=', filter.parent_id)
    const activeAt = filter.active_at
    if (activeAt !== undefined) {
      query = query
        .where('revoked_at', 'is', null)
        .where('idle_expires_at', '>', activeAt)
        .where((eb) => eb.or([eb('absolute_expires_at', 'is', null), eb('absolute_expires_at', '>', activeAt)]))
    }
    const rows = await keyset(query, 'created_at', 'id', filter).execute()
    return toPage(rows, filter.limit, (s) => ({ at: s.created_at, id: s.id }))
  }

  async revokeSession(id: string, at: number, reason: string, audit: AuditEvent, cascade: CascadeAudit): Promise<number> {
    return this.transaction(async (trx) => {
      const changed = await this.revokeWithDescendants(trx, { by: 'subtree', id }, at, reason, cascade)
      if (changed > 0) await this.audit(trx, audit)
      return changed
    })
  }

  async appendAudit(event: AuditEvent): Promise<void> {
    await this.audit(this.kysely, event)
  }

  async listAudit(filter: AuditFilter): Promise<Page<AuditEvent>> {
    let query = this.kysely.selectFrom('audit_events').selectAll()
    if (filter.session_id !== undefined) query = query.where('session_id', '=', filter.session_id)
    if (filter.user_id !== undefined) query = query.where('user_id', '=', filter.user_id)
    if (filter.type !== undefined) query = query.where('type', '=', filter.type as AuditEvent['type'])
    const rows = (await keyset(query, 'at', 'id', filter).execute()).map(toAudit)
    return toPage(rows, filter.limit, (e): CursorPosition => ({ at: e.at, id: e.id }))
  }

  async createLoginSession(session: LoginSessionRecord, audit: AuditEvent): Promise<void> {
    await this.transaction(async (trx) => {
      await trx.insertInto('login_sessions').values(session).execute()
      await this.audit(trx, audit)
    })
  }

  async getLoginSession(hash: string): Promise<LoginSessionRecord | undefined> {
    return this.kysely.selectFrom('login_sessions').select(LOGIN_SESSION_COLUMNS).where('hash', '=', hash).executeTakeFirst()
  }

  async revokeLoginSession(hash: string, at: number, audit?: AuditEvent): Promise<boolean> {
    return this.transaction(async (trx) => {
      const revoked = await trx.updateTable('login_sessions').set({ revoked_at: at }).where('hash', '=', hash).where('revoked_at', 'is', null).executeTakeFirst()
      if (Number(revoked.numUpdatedRows) !== 1) return false
      if (audit) await this.audit(trx, audit)
      return true
    })
  }

  async listLoginSessions(userId: string, activeAt: number): Promise<LoginSessionRecord[]> {
    return this.kysely
      .selectFrom('login_sessions')
      .select(LOGIN_SESSION_COLUMNS)
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', activeAt)
      .orderBy('created_at', 'desc')
      .orderBy('hash')
      .execute()
  }

  async revokeLoginSessions(userId: string, at: number, exceptHash: string | null, audit: AuditEvent): Promise<number> {
    return this.transaction(async (trx) => {
      const revoked = await trx
        .updateTable('login_sessions')
        .set({ revoked_at: at })
        .where('user_id', '=', userId)
        .where('revoked_at', 'is', null)
        // '' never matches a hash (64 hex characters), so it stands for "no exception".
        .where('hash', '<>', exceptHash ?? '')
        .where('expires_at', '>', at)
        .executeTakeFirst()
      const changed = Number(revoked.numUpdatedRows)
      if (changed > 0) await this.audit(trx, audit)
      return changed
    })
  }

  async createAuthorizationCode(code: AuthorizationCodeRecord): Promise<void> {
    await this.kysely.insertInto('authorization_codes').values(code).execute()
  }

  async setAuthorizationCodeSession(hash: string, sessionId: string): Promise<void> {
    await this.kysely.updateTable('authorization_codes').set({ session_id: sessionId }).where('hash', '=', hash).execute()
  }

  async createDeviceCode(code: DeviceCodeRecord): Promise<void> {
    try {
      await this.transaction(async (trx) => {
        // A user code is only taken while its holder lives; an expired holder that has not been
        // pruned yet gives way. `created_at` is "now": the store never reads the clock. Two
        // concurrent creators of one user code serialise on the unique index: the second fails.
        await trx.deleteFrom('device_codes').where('user_code', '=', code.user_code).where('expires_at', '<=', code.created_at).execute()
        await trx.insertInto('device_codes').values(code).execute()
      })
    } catch (err) {
      if (this.dialect.isUniqueViolation(err, DEVICE_USER_CODE)) throw new StoreConflictError('user_code already in use')
      throw err
    }
  }

  async getDeviceCode(hash: string): Promise<DeviceCodeRecord | undefined> {
    return this.kysely.selectFrom('device_codes').select(DEVICE_CODE_COLUMNS).where('hash', '=', hash).executeTakeFirst()
  }

  async getDeviceCodeByUserCode(userCode: string): Promise<DeviceCodeRecord | undefined> {
    return this.kysely.selectFrom('device_codes').select(DEVICE_CODE_COLUMNS).where('user_code', '=', userCode).executeTakeFirst()
  }

  async decideDeviceCode(hash: string, decision: 'approved' | 'denied', userId: string, at: number, audit: AuditEvent): Promise<boolean> {
    return this.transaction(async (trx) => {
      const decided = await trx
        .updateTable('device_codes')
        .set({ status: decision, user_id: userId, decided_at: at })
        .where('hash', '=', hash)
        .where('status', '=', 'pending')
        .executeTakeFirst()
      if (Number(decided.numUpdatedRows) !== 1) return false
      await this.audit(trx, audit)
      return true
    })
  }

  async consumeDeviceCode(hash: string, session: SessionRecord, token: RefreshTokenRecord, audit: AuditEvent): Promise<boolean> {
    return this.transaction(async (trx) => {
      // The compare-and-set is the transaction's first statement, so it takes the write lock
      // (SQLite) or the row lock (PostgreSQL) before anything is read: a concurrent consumer
      // waits, then finds 'consumed' and matches nothing.
      const consumed = await trx
        .updateTable('device_codes')
        .set({ status: 'consumed', session_id: session.id })
        .where('hash', '=', hash)
        .where('status', '=', 'approved')
        .executeTakeFirst()
      if (Number(consumed.numUpdatedRows) !== 1) return false
      await this.insertSession(trx, session, token, audit)
      return true
    })
  }

  async denyAccessToken(jti: string, expiresAt: number, audit: AuditEvent): Promise<void> {
    await this.transaction(async (trx) => {
      const denied = await trx
        .insertInto('denied_access_tokens')
        .values({ jti, expires_at: expiresAt })
        .onConflict((oc) => oc.column('jti').doNothing())
        .executeTakeFirst()
      if (Number(denied.numInsertedOrUpdatedRows ?? 0) === 1) await this.audit(trx, audit)
    })
  }

  async useClientAssertion(clientId: string, jti: string, expiresAt: number): Promise<boolean> {
    const inserted = await this.kysely
      .insertInto('client_assertions')
      .values({ client_id: clientId, jti, expires_at: expiresAt })
      .onConflict((oc) => oc.columns(['client_id', 'jti']).doNothing())
      .executeTakeFirst()
    return Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1
  }

  async isAccessTokenDenied(jti: string): Promise<boolean> {
    return (await this.kysely.selectFrom('denied_access_tokens').select('jti').where('jti', '=', jti).executeTakeFirst()) !== undefined
  }

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    const rows = await this.kysely.selectFrom('signing_keys').select(KEY_COLUMNS).orderBy('activates_at').orderBy('kid').execute()
    return rows.map(toSigningKey)
  }

  async insertSigningKey(key: SigningKeyRecord): Promise<void> {
    await this.kysely.insertInto('signing_keys').values({ ...key, public_jwk: JSON.stringify(key.public_jwk) }).execute()
  }

  async retireSigningKeysExcept(kid: string, at: number, expiresAt: number): Promise<void> {
    await this.kysely.updateTable('signing_keys').set({ retired_at: at, expires_at: expiresAt }).where('kid', '<>', kid).where('retired_at', 'is', null).execute()
  }

  async revokeSigningKey(kid: string, at: number): Promise<boolean> {
    const revoked = await this.kysely
      .updateTable('signing_keys')
      .set((eb) => ({
        retired_at: eb.case().when(eb.or([eb('retired_at', 'is', null), eb('retired_at', '>', at)])).then(at).else(eb.ref('retired_at')).end(),
        expires_at: at,
      }))
      .where('kid', '=', kid)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', at)]))
      .executeTakeFirst()
    return Number(revoked.numUpdatedRows) === 1
  }

  async completeBackchannelLogout(id: number, audit?: AuditEvent): Promise<void> {
    await this.transaction(async (trx) => {
      await trx.deleteFrom('backchannel_logouts').where('id', '=', id).execute()
      if (audit) await this.audit(trx, audit)
    })
  }

  async retryBackchannelLogout(id: number, nextAttemptAt: number): Promise<void> {
    await this.kysely
      .updateTable('backchannel_logouts')
      .set((eb) => ({ attempts: eb('attempts', '+', 1), next_attempt_at: nextAttemptAt, locked_until: null }))
      .where('id', '=', id)
      .execute()
  }

  async trimBackchannelLogouts(max: number): Promise<number> {
    // Everything at or below the (max+1)-th newest id; NULL (nothing) while under the cap.
    const trimmed = await this.kysely
      .deleteFrom('backchannel_logouts')
      .where('id', '<=', (eb) => eb.selectFrom('backchannel_logouts').select('id').orderBy('id', 'desc').limit(1).offset(max))
      .executeTakeFirst()
    return Number(trimmed.numDeletedRows)
  }

  async listBackchannelLogouts(): Promise<BackchannelLogoutRecord[]> {
    return this.kysely.selectFrom('backchannel_logouts').select(BACKCHANNEL_COLUMNS).orderBy('id').execute()
  }

  async pruneExpired(before: number): Promise<number> {
    return this.transaction(async (trx) => {
      let removed = 0
      for (const table of EXPIRING) {
        removed += Number((await trx.deleteFrom(table).where('expires_at', '<', before).executeTakeFirst()).numDeletedRows)
      }
      return removed
    })
  }

  /** The writes of {@link createSession}, inside the caller's transaction. */
  protected async insertSession(trx: Executor, session: SessionRecord, token: RefreshTokenRecord, audit: AuditEvent): Promise<void> {
    await trx.insertInto('sessions').values(session).execute()
    await trx.insertInto('refresh_tokens').values(token).execute()
    await this.audit(trx, audit)
  }

  protected async audit(db: Executor, event: AuditEvent): Promise<void> {
    await db.insertInto('audit_events').values({ ...event, data: JSON.stringify(event.data) }).execute()
  }

  private liveClient(db: Executor, clientId: string) {
    return db.selectFrom('clients').select(CLIENT_COLUMNS).where('client_id', '=', clientId).where('deleted_at', 'is', null).executeTakeFirst()
  }

  /** A client (or a patch of one) as its columns: JSON arrays as text, the boolean as the dialect binds it. */
  private clientColumns<T extends Partial<ClientRecord>>(client: T) {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(client)) {
      if (v === undefined) continue
      out[k] = CLIENT_NULLABLE_JSON.has(k) ? (v === null ? null : JSON.stringify(v)) : CLIENT_JSON.has(k) ? JSON.stringify(v) : typeof v === 'boolean' ? this.dialect.bool(v) : v
    }
    return out as Omit<T, 'first_party' | 'require_dpop' | 'dpop_bound_access_tokens' | 'jwks' | 'token_exchange' | 'redirect_uris' | 'post_logout_redirect_uris' | 'grant_types' | 'allowed_scopes' | 'allowed_audiences'> & {
      [K in keyof T & ('redirect_uris' | 'post_logout_redirect_uris' | 'grant_types' | 'allowed_scopes' | 'allowed_audiences')]: string
    } & { [K in keyof T & 'first_party']: boolean | number } & { [K in keyof T & ('require_dpop' | 'dpop_bound_access_tokens')]?: boolean | number } & { [K in keyof T & 'jwks']?: string | null } & { [K in keyof T & 'token_exchange']: string | null }
  }
}

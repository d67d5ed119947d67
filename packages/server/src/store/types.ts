/**
 * The persistence contract of the token service. Every store (SQLite, PostgreSQL) implements it
 * and passes the same behavioural suite (`store-contract.ts`). Times are epoch seconds.
 *
 * Methods are shaped around what the protocol does, not around tables: the refresh hot path is
 * one read ({@link Store.findRefreshToken}) and one atomic write ({@link Store.rotateRefreshToken}).
 */

import { ServerError } from '../errors.js'
import type { AuditEventType, AuditEventView, ClientView, SessionFields, SessionKind, TokenEndpointAuthMethod, TokenExchangePolicy } from '@evergreen/core'

// Wire vocabularies declared once in core (docs/architecture.md "Wire vocabulary").
export type { AuditEventType, SessionKind, TokenEndpointAuthMethod, TokenExchangePolicy }

export interface UserRecord {
  id: string
  email: string
  name: string | null
  /** PHC string (argon2id), never returned by the admin API. */
  password_hash: string | null
  created_at: number
  disabled_at: number | null
}

/**
 * An account at the upstream OpenID Connect provider, linked to a local user. Once linked, that
 * upstream account signs in by (issuer, subject) alone: a later account upstream that claims the
 * same email (a recycled address, a renamed user) is someone else.
 */
export interface UpstreamIdentityRecord {
  issuer: string
  subject: string
  user_id: string
  created_at: number
}

/** A stored client: the fields the admin API shows (core's ClientView, declared once) and its secret's hash. */
export interface ClientRecord extends ClientView {
  /** SHA-256 (hex) of the client secret; null for public clients. */
  secret_hash: string | null
  /** SHA-256 (hex) of the secret a rotation replaced; it authenticates until `previous_secret_expires_at`. */
  previous_secret_hash?: string | null
}

/**
 * A stored session: core's SessionFields, except that the delegation chain (`act`) is kept as JSON
 * text, so the hot-path join returns it alike on both databases without a mapper; the admin view
 * parses it.
 */
export type SessionRecord = Omit<SessionFields, 'act'> & { act: string | null }

export interface RefreshTokenRecord {
  /** SHA-256 (hex) of the token: the token itself is never stored. */
  hash: string
  session_id: string
  generation: number
  created_at: number
  expires_at: number
  spent_at: number | null
  /**
   * What recovers the successor together with the spent token, and only with it: the salt it was
   * derived with (or, for rows spent before derivation, the successor sealed under the spent token).
   * See sessions/successor.ts; the column keeps its first name.
   */
  successor_sealed: string | null
  spent_ip: string | null
  spent_user_agent: string | null
}

/** A refresh token with its session and client, as the hot path reads them in one query. */
export interface RefreshTokenView {
  token: RefreshTokenRecord
  session: SessionRecord
  client: ClientRecord
}

/** A stored audit event: exactly what the admin API shows (core's AuditEventView). */
export type AuditEvent = AuditEventView

export interface SigningKeyRecord {
  kid: string
  alg: 'ES256' | 'RS256'
  public_jwk: Record<string, unknown>
  /** The private key (PKCS#8 PEM) sealed with AES-256-GCM under EVERGREEN_SECRET. */
  private_sealed: string
  created_at: number
  /** Signing starts here: publish first, so every verifier has it before any token uses it. */
  activates_at: number
  /** No longer used for signing after this (set when a successor activates). */
  retired_at: number | null
  /** Dropped from the JWKS after this: retired_at + the longest access-token lifetime. */
  expires_at: number | null
}

/** The server's own browser login (the cookie behind /login, /device and /settings pages). */
export interface LoginSessionRecord {
  /** SHA-256 (hex) of the cookie value; the cookie value itself is never stored. */
  hash: string
  user_id: string
  created_at: number
  expires_at: number
  /** How the user signed in: 'password' or 'upstream'. */
  method: string
  ip: string | null
  user_agent: string | null
  revoked_at: number | null
}

/** An authorization code (RFC 6749 §4.1) with its PKCE challenge (RFC 7636). */
export interface AuthorizationCodeRecord {
  /** SHA-256 (hex) of the code. */
  hash: string
  client_id: string
  user_id: string
  redirect_uri: string
  scope: string
  code_challenge: string | null
  code_challenge_method: 'S256' | null
  nonce: string | null
  /**
   * The RFC 8707 resources the person authorized, space-separated (a resource URI has no space),
   * or null when the request named none; the code exchange may narrow to one, never widen.
   */
  resource: string | null
  /** When the user authenticated (OIDC `auth_time`). */
  auth_time: number
  created_at: number
  expires_at: number
  consumed_at: number | null
  /** The session the code was exchanged for, so a replayed code can revoke it (RFC 6749 §4.1.2). */
  session_id: string | null
  /** RFC 9449 §10 `dpop_jkt` from the authorization request: the key that must redeem the code. */
  dpop_jkt?: string | null
}

export type DeviceCodeStatus = 'pending' | 'approved' | 'denied' | 'consumed'

/** A device authorization (RFC 8628 §3.2). */
export interface DeviceCodeRecord {
  /** SHA-256 (hex) of the device_code. */
  hash: string
  /**
   * `userCodeDigest` of the normalised user code (never the code itself): what the unique index
   * and the lookup from /device use.
   */
  user_code: string
  client_id: string
  scope: string
  /** `refresh_token_ttl` asked at device authorization, applied when the session is created. */
  requested_ttl: number | null
  /** The RFC 8707 resource asked at device authorization, or null; the poll may not name another. */
  resource: string | null
  created_at: number
  expires_at: number
  /** Current minimum polling interval in seconds; grows by 5 on each slow_down (§3.5). */
  interval: number
  last_polled_at: number | null
  status: DeviceCodeStatus
  user_id: string | null
  decided_at: number | null
  session_id: string | null
  /** The DPoP key (proof or `dpop_jkt` at device authorization) that must redeem the device code. */
  dpop_jkt?: string | null
}

/**
 * One pending back-channel logout (OIDC Back-Channel Logout 1.0): the outbox row a revocation
 * writes in its own transaction, for the client of each revoked session that registered a
 * `backchannel_logout_uri`. Deleted once delivered or given up.
 */
export interface BackchannelLogoutRecord {
  /** Assigned by the store, increasing: the oldest pending rows have the smallest ids. */
  id: number
  session_id: string
  /** The logout token's `sub`; null for a session without a user. */
  user_id: string | null
  client_id: string
  uri: string
  /** Failed deliveries so far. */
  attempts: number
  next_attempt_at: number
  /** A worker holds the row until then; null when nobody does. */
  locked_until: number | null
  created_at: number
}

export interface Page<T> {
  items: T[]
  next_cursor: string | null
}

export interface ListOptions {
  limit: number
  /** Opaque cursor returned as `next_cursor` by the previous page. */
  cursor?: string | undefined
}

export interface SessionFilter extends ListOptions {
  user_id?: string | undefined
  client_id?: string | undefined
  /** Sessions delegated directly from this one. */
  parent_id?: string | undefined
  active_at?: number | undefined
}

export interface AuditFilter extends ListOptions {
  session_id?: string | undefined
  user_id?: string | undefined
  type?: string | undefined
}

/** Everything one rotation writes, applied atomically by {@link Store.rotateRefreshToken}. */
export interface Rotation {
  spent_hash: string
  spent_at: number
  spent_ip: string | null
  spent_user_agent: string | null
  successor_sealed: string
  successor: RefreshTokenRecord
  session_id: string
  /** The session's generation before this rotation; the write fails if it moved on. */
  expected_generation: number
  idle_expires_at: number
  audit: AuditEvent
}

export type ClientPatch = Partial<Omit<ClientRecord, 'client_id' | 'created_at'>>

/** A write refused by a uniqueness rule (a duplicate email, client id or user code). */
export class StoreConflictError extends ServerError<'STORE_CONFLICT'> {
  constructor(message: string) {
    super('STORE_CONFLICT', message)
    this.name = 'StoreConflictError'
  }
}

/** A session a revocation reached through its parent: what its audit event names. */
export type CascadedSession = Pick<SessionRecord, 'id' | 'user_id' | 'client_id' | 'act'> & { parent_id: string }

/**
 * Builds the `session.revoked` event of a delegated session revoked because its parent was, in
 * the same revocation (sessions/revoke.ts `revokedWithParent`). Every revoking store method
 * takes one and writes its events in the revocation's transaction.
 */
export type CascadeAudit = (session: CascadedSession) => AuditEvent

export interface Store {
  readonly kind: 'sqlite' | 'postgres'

  /** Applies pending schema migrations; safe to call from several processes at once. */
  migrate(): Promise<void>
  /** Resolves when the database answers and migrations are current; rejects otherwise. */
  ready(): Promise<void>
  close(): Promise<void>

  /** Small key/value settings the service keeps for itself (admin key hash, secret check). */
  getMeta(key: string): Promise<string | undefined>
  /** Sets `key` only if it is absent; returns the value that is stored afterwards. */
  putMetaIfAbsent(key: string, value: string): Promise<string>

  /** @throws StoreConflictError when the email is taken (case-insensitive). */
  createUser(user: UserRecord, audit: AuditEvent): Promise<void>
  getUser(id: string): Promise<UserRecord | undefined>
  getUserByEmail(email: string): Promise<UserRecord | undefined>
  listUsers(options: ListOptions): Promise<Page<UserRecord>>
  /** The link for an upstream (issuer, subject), if any. */
  getUpstreamIdentity(issuer: string, subject: string): Promise<UpstreamIdentityRecord | undefined>
  /**
   * Links an upstream (issuer, subject) to a user. A subject links to one user and a user to one
   * subject per issuer; returns false, writing nothing, when either is taken.
   */
  linkUpstreamIdentity(identity: UpstreamIdentityRecord): Promise<boolean>
  /**
   * Disables the user and revokes all their sessions and browser sign-ins, in one transaction. Like every revoking
   * method, queues a back-channel logout for each session it revokes whose client has a
   * `backchannel_logout_uri`, in the same transaction (see {@link Store.claimBackchannelLogouts}).
   */
  disableUser(id: string, at: number, audit: AuditEvent, cascade: CascadeAudit): Promise<boolean>

  createClient(client: ClientRecord, audit: AuditEvent): Promise<void>
  getClient(clientId: string): Promise<ClientRecord | undefined>
  listClients(options: ListOptions): Promise<Page<ClientRecord>>
  updateClient(clientId: string, patch: ClientPatch, audit: AuditEvent): Promise<ClientRecord | undefined>
  /**
   * Deletes the client and revokes its sessions and what was delegated from them, queueing their
   * back-channel logouts; writes `cascade`'s event for each delegated session revoked with its parent.
   */
  deleteClient(clientId: string, at: number, audit: AuditEvent, cascade: CascadeAudit): Promise<boolean>
  /**
   * Records that a live client was used at `usedAt` and, when `expiresAt` is given, moves its
   * expiry there; writes no audit event (use is not a change an operator needs to see). False
   * when the client is deleted or unknown. The expiry only moves forward, so two nodes touching
   * the same client at once cannot shorten it.
   */
  touchClient(clientId: string, usedAt: number, expiresAt: number | null): Promise<boolean>
  /**
   * Ids of live clients whose `expires_at` is at or before `at`, oldest expiry first, at most
   * `limit`: what the maintenance sweep deletes (with {@link Store.deleteClient}, so their
   * sessions are revoked and logouts queued as for any deletion).
   */
  listExpiredClients(at: number, limit: number): Promise<string[]>

  /** Creates a session with its first refresh token, in one transaction. */
  createSession(session: SessionRecord, token: RefreshTokenRecord, audit: AuditEvent): Promise<void>
  getSession(id: string): Promise<SessionRecord | undefined>
  listSessions(filter: SessionFilter): Promise<Page<SessionRecord>>
  /**
   * Revokes the session and every session delegated from it (transitively), writing `audit`
   * for the root and `cascade`'s event for each descendant it revoked, in the same transaction.
   * Already-revoked sessions keep their first revocation (and get no event). Queues one
   * back-channel logout per revoked session whose client has a `backchannel_logout_uri`. Returns
   * how many sessions changed.
   */
  revokeSession(id: string, at: number, reason: string, audit: AuditEvent, cascade: CascadeAudit): Promise<number>

  /** The hot-path read: token, session and (not deleted) client in one round trip. */
  findRefreshToken(hash: string): Promise<RefreshTokenView | undefined>
  /**
   * The hot-path write, atomic: marks `spent_hash` spent (compare-and-set on spent_at IS NULL),
   * inserts the successor, slides the session, appends the audit event. Returns false, writing
   * nothing, when the token was already spent or the session was revoked or moved on — the
   * caller lost a race and re-reads.
   */
  rotateRefreshToken(rotation: Rotation): Promise<boolean>

  appendAudit(event: AuditEvent): Promise<void>
  listAudit(filter: AuditFilter): Promise<Page<AuditEvent>>

  createLoginSession(session: LoginSessionRecord, audit: AuditEvent): Promise<void>
  getLoginSession(hash: string): Promise<LoginSessionRecord | undefined>
  /**
   * Marks the login session revoked (logout), writing `audit` with it when given; false (and no
   * audit) when it was unknown or already revoked.
   */
  revokeLoginSession(hash: string, at: number, audit?: AuditEvent): Promise<boolean>
  /** The user's live browser sign-ins at `activeAt` (not revoked, not expired), newest first. */
  listLoginSessions(userId: string, activeAt: number): Promise<LoginSessionRecord[]>
  /**
   * Revokes every live browser sign-in of the user but `exceptHash` (this browser, or null for
   * all), writing `audit` with them when any changed. Returns how many changed.
   */
  revokeLoginSessions(userId: string, at: number, exceptHash: string | null, audit: AuditEvent): Promise<number>

  createAuthorizationCode(code: AuthorizationCodeRecord): Promise<void>
  /**
   * Compare-and-set on consumed_at IS NULL. Returns `{ consumed: true, code }` for the one caller
   * that consumed it, `{ consumed: false, code }` when it had already been consumed (a replay),
   * and undefined for an unknown code.
   */
  consumeAuthorizationCode(hash: string, at: number): Promise<{ consumed: boolean; code: AuthorizationCodeRecord } | undefined>
  /** Records the session a consumed code produced. */
  setAuthorizationCodeSession(hash: string, sessionId: string): Promise<void>

  /** @throws StoreConflictError when the user_code is already in use by a live device code. */
  createDeviceCode(code: DeviceCodeRecord): Promise<void>
  getDeviceCode(hash: string): Promise<DeviceCodeRecord | undefined>
  getDeviceCodeByUserCode(userCode: string): Promise<DeviceCodeRecord | undefined>
  /**
   * Records a poll at `at` and returns the record as it was before this poll, so the caller can
   * tell a too-fast poll (RFC 8628 §3.5 slow_down). When `slowDown` is true the interval grows by 5.
   */
  recordDevicePoll(hash: string, at: number, slowDown: boolean): Promise<DeviceCodeRecord | undefined>
  /** pending → approved/denied; false when it was not pending (already decided or unknown). */
  decideDeviceCode(hash: string, decision: 'approved' | 'denied', userId: string, at: number, audit: AuditEvent): Promise<boolean>
  /**
   * approved → consumed, creating the session and its first refresh token in the same
   * transaction, so two polls can never both receive tokens. False (writing nothing) when the
   * code was not approved any more.
   */
  consumeDeviceCode(hash: string, session: SessionRecord, token: RefreshTokenRecord, audit: AuditEvent): Promise<boolean>

  /**
   * Denies a session-less access token by its `jti` until `expiresAt` (its `exp`), writing
   * `audit` in the same transaction. Denying a jti twice keeps one row and writes no second audit.
   */
  denyAccessToken(jti: string, expiresAt: number, audit: AuditEvent): Promise<void>
  /**
   * Records a `private_key_jwt` assertion's `jti` for `clientId` until `expiresAt` (its `exp`).
   * False when that client already used the jti: RFC 7523 §3 item 7 replay. Atomic, so of two
   * concurrent uses exactly one wins. pruneExpired removes rows once they expired.
   */
  useClientAssertion(clientId: string, jti: string, expiresAt: number): Promise<boolean>
  /** True while `jti` is on the deny-list (pruneExpired removes rows once their token expired). */
  isAccessTokenDenied(jti: string): Promise<boolean>

  listSigningKeys(): Promise<SigningKeyRecord[]>
  insertSigningKey(key: SigningKeyRecord): Promise<void>
  /** Retires every active key but `kid` at `at`, keeping each verifiable until `expiresAt`. */
  retireSigningKeysExcept(kid: string, at: number, expiresAt: number): Promise<void>
  /**
   * Revokes a key at `at`: it stops signing (retired_at no later than `at`) and expires at `at`,
   * so it leaves the JWKS and verifies nothing more. False when the key is unknown or had
   * already expired.
   */
  revokeSigningKey(kid: string, at: number): Promise<boolean>

  /**
   * Leases up to `limit` due back-channel logouts (next_attempt_at <= `now`, not held by another
   * worker) until `lockedUntil`, oldest first. Safe across processes: a row is handed to one
   * claimer at a time, and a crashed claimer's rows come back when its lease lapses.
   */
  claimBackchannelLogouts(now: number, lockedUntil: number, limit: number): Promise<BackchannelLogoutRecord[]>
  /** Removes a delivered or abandoned row, writing `audit` in the same transaction when given. */
  completeBackchannelLogout(id: number, audit?: AuditEvent): Promise<void>
  /** Records a failed delivery: attempts + 1, due again at `nextAttemptAt`, lease released. */
  retryBackchannelLogout(id: number, nextAttemptAt: number): Promise<void>
  /**
   * Keeps the outbox bounded: deletes the oldest rows beyond the newest `max`, returning how many
   * went. A flood of revocations while receivers are down costs the oldest notifications, never
   * the database.
   */
  trimBackchannelLogouts(max: number): Promise<number>
  /** Every pending row, oldest first (for tests and operators; the outbox is bounded). */
  listBackchannelLogouts(): Promise<BackchannelLogoutRecord[]>

  /**
   * Deletes what can no longer matter: refresh tokens, authorization codes, device codes, login
   * sessions, denied access-token ids and client-assertion ids that expired before `before`. Sessions and audit events are kept. Returns rows removed.
   */
  pruneExpired(before: number): Promise<number>
}

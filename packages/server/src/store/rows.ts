import type { JwkSet } from '@evergreen/core'
import type { Selectable } from 'kysely'
import type { Database } from './database.js'
import type {
  AuditEvent, BackchannelLogoutRecord, AuthorizationCodeRecord, ClientRecord, DeviceCodeRecord, LoginSessionRecord, RefreshTokenRecord,
  RefreshTokenView, SessionRecord, SigningKeyRecord, TokenExchangePolicy, UserRecord,
} from './types.js'

/**
 * The record's fields in a fixed order, checked against the record type: a field added to a
 * record and missing here (or one left here after it went) fails to compile.
 */
function columnsOf<T>(fields: Record<keyof T & string, true>): readonly (keyof T & string)[] {
  return Object.keys(fields) as (keyof T & string)[]
}

// Column lists the queries select, shared by both stores and by the hand-written statements
// (the hot-path join prefixes them), so nothing picks its own list.
export const USER_COLUMNS = columnsOf<UserRecord>({ id: true, email: true, name: true, password_hash: true, created_at: true, disabled_at: true })
export const CLIENT_COLUMNS = columnsOf<ClientRecord>({
  client_id: true, name: true, secret_hash: true, redirect_uris: true, post_logout_redirect_uris: true, backchannel_logout_uri: true,
  grant_types: true, token_endpoint_auth_method: true, jwks: true, jwks_uri: true, previous_secret_hash: true, previous_secret_expires_at: true, allowed_scopes: true, allowed_audiences: true, access_token_ttl: true,
  refresh_token_ttl: true, refresh_token_ttl_max: true, session_max_lifetime: true, first_party: true, default_resource: true, token_exchange: true,
  registration: true, last_used_at: true, expires_at: true, created_at: true, updated_at: true,
  require_dpop: true, dpop_bound_access_tokens: true,
})
export const SESSION_COLUMNS = columnsOf<SessionRecord>({
  id: true, user_id: true, client_id: true, kind: true, scope: true, audience: true, created_at: true, last_refreshed_at: true,
  idle_expires_at: true, absolute_expires_at: true, refresh_ttl: true, generation: true, revoked_at: true, revoked_reason: true,
  parent_id: true, resource: true, act: true, name: true, user_agent: true, ip: true, auth_time: true, dpop_jkt: true,
})
export const TOKEN_COLUMNS = columnsOf<RefreshTokenRecord>({
  hash: true, session_id: true, generation: true, created_at: true, expires_at: true, spent_at: true, successor_sealed: true,
  spent_ip: true, spent_user_agent: true,
})
export const AUDIT_COLUMNS = columnsOf<AuditEvent>({
  id: true, type: true, at: true, session_id: true, user_id: true, client_id: true, ip: true, user_agent: true, data: true,
})
export const KEY_COLUMNS = columnsOf<SigningKeyRecord>({
  kid: true, alg: true, public_jwk: true, private_sealed: true, created_at: true, activates_at: true, retired_at: true, expires_at: true,
})
export const LOGIN_SESSION_COLUMNS = columnsOf<LoginSessionRecord>({
  hash: true, user_id: true, created_at: true, expires_at: true, method: true, ip: true, user_agent: true, revoked_at: true,
})
export const AUTHORIZATION_CODE_COLUMNS = columnsOf<AuthorizationCodeRecord>({
  hash: true, client_id: true, user_id: true, redirect_uri: true, scope: true, code_challenge: true, code_challenge_method: true,
  nonce: true, resource: true, auth_time: true, created_at: true, expires_at: true, consumed_at: true, session_id: true, dpop_jkt: true,
})
export const DEVICE_CODE_COLUMNS = columnsOf<DeviceCodeRecord>({
  hash: true, user_code: true, client_id: true, scope: true, requested_ttl: true, resource: true, created_at: true, expires_at: true, interval: true,
  last_polled_at: true, status: true, user_id: true, decided_at: true, session_id: true, dpop_jkt: true,
})
export const BACKCHANNEL_COLUMNS = columnsOf<BackchannelLogoutRecord>({
  id: true, session_id: true, user_id: true, client_id: true, uri: true, attempts: true, next_attempt_at: true, locked_until: true,
  created_at: true,
})

type Row = Record<string, unknown>

/** `t.a AS p_a, t.b AS p_b` for a joined select whose columns would otherwise collide. */
function prefixedColumns(table: string, prefix: string, columns: readonly string[]): string {
  return columns.map((c) => `${table}.${c} AS ${prefix}_${c}`).join(', ')
}

/**
 * The hot-path read, the same join on both databases: token, session and (not deleted) client
 * in one query. Each store prepares it once with its own placeholder for the hash (`?` or `$1`)
 * and sends it outside the query layer, so a refresh pays no query building.
 */
export const findRefreshTokenSql = (placeholder: string) =>
  `SELECT ${prefixedColumns('rt', 't', TOKEN_COLUMNS)}, ${prefixedColumns('s', 's', SESSION_COLUMNS)},
       ${prefixedColumns('c', 'c', CLIENT_COLUMNS)}
  FROM refresh_tokens rt
  JOIN sessions s ON s.id = rt.session_id
  JOIN clients c ON c.client_id = s.client_id AND c.deleted_at IS NULL
 WHERE rt.hash = ${placeholder}`

/**
 * The hot read as arrays (SQLite's `.raw()`, PostgreSQL's `rowMode: 'array'` with JSON left as
 * text), in {@link findRefreshTokenSql}'s column order: no 60-key row object to build and pick
 * apart again. The client's part goes through `clients`,
 * which parses it only when its values differ from the last row seen for that client.
 */
export function rawToRefreshTokenView(v: unknown[], clients: ClientRowCache): RefreshTokenView {
  const token: Row = {}
  let i = 0
  for (const c of TOKEN_COLUMNS) token[c] = v[i++]
  const session: Row = {}
  for (const c of SESSION_COLUMNS) session[c] = v[i++]
  return { token: token as unknown as RefreshTokenRecord, session: session as unknown as SessionRecord, client: clients.get(v, i) }
}

/**
 * The parsed client of the hot read, per process (docs/architecture.md "Performance budget").
 * Not a cache of the client: every request still reads the client's row in its one joined
 * query, and the parsed record is reused only when every column of that row is identical to the
 * row it was parsed from, so a change made by any process or node is seen at the next request
 * exactly as without it. What it saves is the JSON parsing (six columns) and the record's
 * building. The records it hands out are frozen (shared between requests). Bounded: at
 * {@link CLIENT_ROW_CACHE_SIZE} clients it starts over.
 */
export class ClientRowCache {
  private readonly entries = new Map<string, { values: unknown[]; record: ClientRecord }>()

  get(v: unknown[], offset: number): ClientRecord {
    const id = v[offset] as string
    const hit = this.entries.get(id)
    if (hit !== undefined && sameValues(hit.values, v, offset)) return hit.record
    const row: Row = {}
    for (let k = 0; k < CLIENT_COLUMNS.length; k++) row[CLIENT_COLUMNS[k]!] = v[offset + k]
    const record = deepFreeze(toClient(row as ClientRow))
    if (this.entries.size >= CLIENT_ROW_CACHE_SIZE) this.entries.clear()
    this.entries.set(id, { values: v.slice(offset, offset + CLIENT_COLUMNS.length), record })
    return record
  }
}

const CLIENT_ROW_CACHE_SIZE = 1000

function sameValues(cached: unknown[], v: unknown[], offset: number): boolean {
  for (let k = 0; k < cached.length; k++) if (cached[k] !== v[offset + k]) return false
  return true
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const inner of Object.values(value)) deepFreeze(inner)
  }
  return value
}

const json = <T>(v: unknown): T => (typeof v === 'string' ? (JSON.parse(v) as T) : (v as T))

// Most tables store their record as it is (both drivers return integers as numbers: SQLite
// natively, PostgreSQL's INT8 through the store's type parser), so they need no mapper. These
// three hold JSON or a boolean, which the two databases return differently.

type ClientRow = Pick<Selectable<Database['clients']>, (typeof CLIENT_COLUMNS)[number]>

export function toClient(r: ClientRow): ClientRecord {
  return {
    ...r,
    redirect_uris: json<string[]>(r.redirect_uris),
    post_logout_redirect_uris: json<string[]>(r.post_logout_redirect_uris),
    grant_types: json<string[]>(r.grant_types),
    allowed_scopes: json<string[]>(r.allowed_scopes),
    allowed_audiences: json<string[]>(r.allowed_audiences),
    token_exchange: r.token_exchange === null ? null : json<TokenExchangePolicy>(r.token_exchange),
    first_party: r.first_party === true || r.first_party === 1,
    require_dpop: r.require_dpop === true || r.require_dpop === 1,
    dpop_bound_access_tokens: r.dpop_bound_access_tokens === true || r.dpop_bound_access_tokens === 1,
    jwks: r.jwks === null || r.jwks === undefined ? null : json<JwkSet>(r.jwks),
  }
}

export function toAudit(r: Selectable<Database['audit_events']>): AuditEvent {
  return { ...r, data: json<Record<string, unknown>>(r.data) }
}

export function toSigningKey(r: Selectable<Database['signing_keys']>): SigningKeyRecord {
  return { ...r, public_jwk: json<Record<string, unknown>>(r.public_jwk) }
}

/** Values in column order for a hand-written INSERT, with arrays/objects as JSON text. */
export function columnValues(record: object, columns: readonly string[], bool: (b: boolean) => unknown): unknown[] {
  const rec = record as Row
  return columns.map((c) => {
    const v = rec[c]
    if (typeof v === 'boolean') return bool(v)
    if (v !== null && typeof v === 'object') return JSON.stringify(v)
    return v ?? null
  })
}

import type {
  AuditEvent, BackchannelLogoutRecord, AuthorizationCodeRecord, ClientRecord, DeviceCodeRecord, LoginSessionRecord, RefreshTokenRecord, SessionRecord,
  SigningKeyRecord, UserRecord,
} from './types.js'

// Column lists shared by both SQL stores, so the joined hot-path query and the row mappers
// cannot drift apart between SQLite and PostgreSQL.
export const USER_COLUMNS = ['id', 'email', 'name', 'password_hash', 'created_at', 'disabled_at'] as const
export const CLIENT_COLUMNS = [
  'client_id', 'name', 'secret_hash', 'redirect_uris', 'post_logout_redirect_uris', 'backchannel_logout_uri', 'grant_types', 'token_endpoint_auth_method',
  'allowed_scopes', 'allowed_audiences', 'access_token_ttl', 'refresh_token_ttl', 'refresh_token_ttl_max',
  'session_max_lifetime', 'first_party', 'created_at', 'updated_at',
] as const
export const SESSION_COLUMNS = [
  'id', 'user_id', 'client_id', 'kind', 'scope', 'audience', 'created_at', 'last_refreshed_at',
  'idle_expires_at', 'absolute_expires_at', 'refresh_ttl', 'generation', 'revoked_at',
  'revoked_reason', 'parent_id', 'name', 'user_agent', 'ip',
] as const
export const TOKEN_COLUMNS = [
  'hash', 'session_id', 'generation', 'created_at', 'expires_at', 'spent_at', 'successor_sealed',
  'spent_ip', 'spent_user_agent',
] as const
export const AUDIT_COLUMNS = ['id', 'type', 'at', 'session_id', 'user_id', 'client_id', 'ip', 'user_agent', 'data'] as const
export const KEY_COLUMNS = [
  'kid', 'alg', 'public_jwk', 'private_sealed', 'created_at', 'activates_at', 'retired_at', 'expires_at',
] as const
export const LOGIN_SESSION_COLUMNS = [
  'hash', 'user_id', 'created_at', 'expires_at', 'method', 'ip', 'user_agent', 'revoked_at',
] as const
export const AUTHORIZATION_CODE_COLUMNS = [
  'hash', 'client_id', 'user_id', 'redirect_uri', 'scope', 'code_challenge', 'code_challenge_method', 'nonce',
  'auth_time', 'created_at', 'expires_at', 'consumed_at', 'session_id',
] as const
export const DEVICE_CODE_COLUMNS = [
  'hash', 'user_code', 'client_id', 'scope', 'requested_ttl', 'created_at', 'expires_at', 'interval',
  'last_polled_at', 'status', 'user_id', 'decided_at', 'session_id',
] as const

export const BACKCHANNEL_COLUMNS = [
  'id', 'session_id', 'user_id', 'client_id', 'uri', 'attempts', 'next_attempt_at', 'locked_until', 'created_at',
] as const

type Row = Record<string, unknown>

/** `t.a AS p_a, t.b AS p_b` for a joined select whose columns would otherwise collide. */
export function prefixedColumns(table: string, prefix: string, columns: readonly string[]): string {
  return columns.map((c) => `${table}.${c} AS ${prefix}_${c}`).join(', ')
}

/** Picks the `prefix_`-ed columns of a joined row back out. */
export function unprefix(row: Row, prefix: string, columns: readonly string[]): Row {
  const out: Row = {}
  for (const c of columns) out[c] = row[`${prefix}_${c}`]
  return out
}

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v))
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v))
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v))
const json = <T>(v: unknown): T => (typeof v === 'string' ? (JSON.parse(v) as T) : (v as T))

export function toUser(r: Row): UserRecord {
  return {
    id: String(r.id),
    email: String(r.email),
    name: strOrNull(r.name),
    password_hash: strOrNull(r.password_hash),
    created_at: num(r.created_at),
    disabled_at: numOrNull(r.disabled_at),
  }
}

export function toClient(r: Row): ClientRecord {
  return {
    client_id: String(r.client_id),
    name: String(r.name),
    secret_hash: strOrNull(r.secret_hash),
    redirect_uris: json<string[]>(r.redirect_uris),
    post_logout_redirect_uris: json<string[]>(r.post_logout_redirect_uris),
    backchannel_logout_uri: strOrNull(r.backchannel_logout_uri),
    grant_types: json<string[]>(r.grant_types),
    token_endpoint_auth_method: r.token_endpoint_auth_method as ClientRecord['token_endpoint_auth_method'],
    allowed_scopes: json<string[]>(r.allowed_scopes),
    allowed_audiences: json<string[]>(r.allowed_audiences),
    access_token_ttl: numOrNull(r.access_token_ttl),
    refresh_token_ttl: numOrNull(r.refresh_token_ttl),
    refresh_token_ttl_max: numOrNull(r.refresh_token_ttl_max),
    session_max_lifetime: numOrNull(r.session_max_lifetime),
    first_party: r.first_party === true || r.first_party === 1,
    created_at: num(r.created_at),
    updated_at: num(r.updated_at),
  }
}

export function toSession(r: Row): SessionRecord {
  return {
    id: String(r.id),
    user_id: strOrNull(r.user_id),
    client_id: String(r.client_id),
    kind: r.kind as SessionRecord['kind'],
    scope: String(r.scope),
    audience: strOrNull(r.audience),
    created_at: num(r.created_at),
    last_refreshed_at: numOrNull(r.last_refreshed_at),
    idle_expires_at: num(r.idle_expires_at),
    absolute_expires_at: numOrNull(r.absolute_expires_at),
    refresh_ttl: num(r.refresh_ttl),
    generation: num(r.generation),
    revoked_at: numOrNull(r.revoked_at),
    revoked_reason: strOrNull(r.revoked_reason),
    parent_id: strOrNull(r.parent_id),
    name: strOrNull(r.name),
    user_agent: strOrNull(r.user_agent),
    ip: strOrNull(r.ip),
  }
}

export function toToken(r: Row): RefreshTokenRecord {
  return {
    hash: String(r.hash),
    session_id: String(r.session_id),
    generation: num(r.generation),
    created_at: num(r.created_at),
    expires_at: num(r.expires_at),
    spent_at: numOrNull(r.spent_at),
    successor_sealed: strOrNull(r.successor_sealed),
    spent_ip: strOrNull(r.spent_ip),
    spent_user_agent: strOrNull(r.spent_user_agent),
  }
}

export function toAudit(r: Row): AuditEvent {
  return {
    id: String(r.id),
    type: r.type as AuditEvent['type'],
    at: num(r.at),
    session_id: strOrNull(r.session_id),
    user_id: strOrNull(r.user_id),
    client_id: strOrNull(r.client_id),
    ip: strOrNull(r.ip),
    user_agent: strOrNull(r.user_agent),
    data: json<Record<string, unknown>>(r.data),
  }
}

export function toSigningKey(r: Row): SigningKeyRecord {
  return {
    kid: String(r.kid),
    alg: r.alg as SigningKeyRecord['alg'],
    public_jwk: json<Record<string, unknown>>(r.public_jwk),
    private_sealed: String(r.private_sealed),
    created_at: num(r.created_at),
    activates_at: num(r.activates_at),
    retired_at: numOrNull(r.retired_at),
    expires_at: numOrNull(r.expires_at),
  }
}

export function toLoginSession(r: Row): LoginSessionRecord {
  return {
    hash: String(r.hash),
    user_id: String(r.user_id),
    created_at: num(r.created_at),
    expires_at: num(r.expires_at),
    method: String(r.method),
    ip: strOrNull(r.ip),
    user_agent: strOrNull(r.user_agent),
    revoked_at: numOrNull(r.revoked_at),
  }
}

export function toAuthorizationCode(r: Row): AuthorizationCodeRecord {
  return {
    hash: String(r.hash),
    client_id: String(r.client_id),
    user_id: String(r.user_id),
    redirect_uri: String(r.redirect_uri),
    scope: String(r.scope),
    code_challenge: strOrNull(r.code_challenge),
    code_challenge_method: strOrNull(r.code_challenge_method) as AuthorizationCodeRecord['code_challenge_method'],
    nonce: strOrNull(r.nonce),
    auth_time: num(r.auth_time),
    created_at: num(r.created_at),
    expires_at: num(r.expires_at),
    consumed_at: numOrNull(r.consumed_at),
    session_id: strOrNull(r.session_id),
  }
}

export function toDeviceCode(r: Row): DeviceCodeRecord {
  return {
    hash: String(r.hash),
    user_code: String(r.user_code),
    client_id: String(r.client_id),
    scope: String(r.scope),
    requested_ttl: numOrNull(r.requested_ttl),
    created_at: num(r.created_at),
    expires_at: num(r.expires_at),
    interval: num(r.interval),
    last_polled_at: numOrNull(r.last_polled_at),
    status: r.status as DeviceCodeRecord['status'],
    user_id: strOrNull(r.user_id),
    decided_at: numOrNull(r.decided_at),
    session_id: strOrNull(r.session_id),
  }
}

export function toBackchannelLogout(r: Row): BackchannelLogoutRecord {
  return {
    id: num(r.id),
    session_id: String(r.session_id),
    user_id: strOrNull(r.user_id),
    client_id: String(r.client_id),
    uri: String(r.uri),
    attempts: num(r.attempts),
    next_attempt_at: num(r.next_attempt_at),
    locked_until: numOrNull(r.locked_until),
    created_at: num(r.created_at),
  }
}

/** Values in column order for an INSERT, with arrays/objects as JSON text. */
export function columnValues(record: object, columns: readonly string[], bool: (b: boolean) => unknown): unknown[] {
  const rec = record as Row
  return columns.map((c) => {
    const v = rec[c]
    if (typeof v === 'boolean') return bool(v)
    if (v !== null && typeof v === 'object') return JSON.stringify(v)
    return v ?? null
  })
}

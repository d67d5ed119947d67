import type { ColumnType, Generated } from 'kysely'
import type {
  AuditEvent, AuthorizationCodeRecord, BackchannelLogoutRecord, ClientRecord, DeviceCodeRecord, LoginSessionRecord, RefreshTokenRecord,
  SessionRecord, SigningKeyRecord, UpstreamIdentityRecord, UserRecord,
} from './types.js'

/**
 * A JSON column: written as JSON text on both databases; read back as text from SQLite (TEXT) and
 * already parsed from PostgreSQL (JSONB). rows.ts `json()` accepts either.
 */
export type JsonColumn = ColumnType<unknown, string, string>
/** SQLite has no boolean (better-sqlite3 refuses JS booleans; it stores 0/1); PostgreSQL has BOOLEAN. */
export type BoolColumn = ColumnType<boolean | number, boolean | number, boolean | number>

type Flat<T> = { [K in keyof T]: T[K] }
type ClientJsonKeys = 'redirect_uris' | 'post_logout_redirect_uris' | 'grant_types' | 'allowed_scopes' | 'allowed_audiences'
type ClientNullableJson = 'jwks'
type ClientBoolKeys = 'first_party' | 'require_dpop' | 'dpop_bound_access_tokens'

/**
 * Every table as the query layer sees it, typed from the records in types.ts: a table whose row
 * is its record (sessions, refresh tokens, codes, ...) is that record, so a field added to the
 * record is a column the queries know at once. Only the differences are spelled out: JSON and
 * boolean columns, and the store's own bookkeeping (email_lower, deleted_at, the outbox id).
 */
export interface Database {
  meta: { key: string; value: string }
  schema_migrations: { version: number; applied_at: number }
  /** email_lower is `emailKey(email)`, computed in JS so both stores agree on "the same email". */
  users: Flat<UserRecord & { email_lower: string }>
  upstream_identities: UpstreamIdentityRecord
  clients: Flat<Omit<ClientRecord, ClientJsonKeys | ClientNullableJson | ClientBoolKeys | 'token_exchange'> & { [K in ClientJsonKeys]: JsonColumn } & {
    jwks?: ColumnType<unknown, string | null, string | null>
    token_exchange: ColumnType<unknown, string | null, string | null>
    first_party: BoolColumn
    require_dpop?: BoolColumn
    dpop_bound_access_tokens?: BoolColumn
    /** Soft delete: the hot-path join and getClient skip deleted clients. */
    deleted_at: number | null
  }>
  sessions: SessionRecord
  refresh_tokens: RefreshTokenRecord
  audit_events: Flat<Omit<AuditEvent, 'data'> & { data: JsonColumn }>
  signing_keys: Flat<Omit<SigningKeyRecord, 'public_jwk'> & { public_jwk: JsonColumn }>
  login_sessions: LoginSessionRecord
  authorization_codes: AuthorizationCodeRecord
  device_codes: DeviceCodeRecord
  denied_access_tokens: { jti: string; expires_at: number }
  client_assertions: { client_id: string; jti: string; expires_at: number }
  backchannel_logouts: Flat<Omit<BackchannelLogoutRecord, 'id' | 'attempts'> & { id: Generated<number>; attempts: Generated<number> }>
}

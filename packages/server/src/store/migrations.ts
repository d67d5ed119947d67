import type { Compilable, SchemaModule } from 'kysely'
import { POSTGRES_MIGRATIONS } from './postgres-schema.js'
import { SQLITE_MIGRATIONS } from './sqlite-schema.js'

/**
 * The schema's history, and the one place new schema is written.
 *
 * Versions 1–8 shipped as SQL per dialect (sqlite-schema.ts, postgres-schema.ts). They stay
 * there, frozen, exactly as applied: existing databases recorded those versions, and rewriting
 * them in the schema builder would change the DDL a fresh database gets (types, collations,
 * SQLite's table rebuild in 3) without any way to prove the two spellings equal. Nothing new is
 * added to those files.
 *
 * From version 9 on a migration is written once, with kysely's schema builder, and compiled for
 * whichever dialect runs it; {@link SchemaTypes} covers the few column types that differ.
 * Each store applies the frozen SQL and then these, in one transaction under its own lock
 * (docs/architecture.md "The store contract").
 */
export interface SchemaTypes {
  /** JSON: TEXT on SQLite, JSONB on PostgreSQL. */
  json: 'text' | 'jsonb'
}

export interface SharedMigration {
  version: number
  /** The statements, built but not run: each store compiles and runs them in its migration transaction. */
  statements: (schema: SchemaModule, types: SchemaTypes) => Compilable[]
}

export const SHARED_MIGRATIONS: readonly SharedMigration[] = [
  {
    // listSessions({ client_id }) pages by (created_at, id) like the per-user list, which has had
    // (user_id, created_at, id) since 1; the client index was client_id alone, so an admin's
    // page of one client's sessions sorted all of them. No column of this index changes on a
    // rotation, so the hot path writes no more index pages (SQLite) and keeps HOT updates (PG).
    version: 9,
    statements: (schema) => [
      schema.dropIndex('sessions_client'),
      schema.createIndex('sessions_client').on('sessions').columns(['client_id', 'created_at', 'id']),
    ],
  },
  {
    // When the user signed in for this session (OIDC auth_time), so it outlives the
    // authorization code and an operator can see how old a session's authentication is.
    version: 10,
    statements: (schema) => [schema.alterTable('sessions').addColumn('auth_time', 'bigint')],
  },
  {
    // Machine clients: private_key_jwt keys (inline or by URL), the secret a rotation replaced
    // with the end of its overlap, and the assertion ids already used, kept until they expire so
    // a replayed assertion is refused (RFC 7523 §3 item 7).
    version: 11,
    statements: (schema, types) => [
      schema.alterTable('clients').addColumn('jwks', types.json),
      schema.alterTable('clients').addColumn('jwks_uri', 'text'),
      schema.alterTable('clients').addColumn('previous_secret_hash', 'text'),
      schema.alterTable('clients').addColumn('previous_secret_expires_at', 'bigint'),
      schema
        .createTable('client_assertions')
        .addColumn('client_id', 'text', (c) => c.notNull())
        .addColumn('jti', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('client_assertions_pkey', ['client_id', 'jti']),
      schema.createIndex('client_assertions_expires').on('client_assertions').column('expires_at'),
    ],
  },
  {
    // Delegation by token exchange (RFC 8693) and resource indicators (RFC 8707): a session
    // remembers its resource and, when delegated, its actor chain; a client its default resource
    // and its exchange policy. All nullable, so existing rows mean "no resource, not delegated,
    // may not exchange".
    version: 12,
    statements: (schema, types) => [
      schema.alterTable('sessions').addColumn('resource', 'text'),
      schema.alterTable('sessions').addColumn('act', 'text'),
      schema.alterTable('clients').addColumn('default_resource', 'text'),
      schema.alterTable('clients').addColumn('token_exchange', types.json),
    ],
  },
  {
    // Resource indicators at the authorization and device authorization endpoints (RFC 8707
    // §2.1): what the person approved travels with the code, so the token request can narrow it
    // but not widen it. Null on existing rows: "none named", the token request's rule as before.
    version: 13,
    statements: (schema) => [
      schema.alterTable('authorization_codes').addColumn('resource', 'text'),
      schema.alterTable('device_codes').addColumn('resource', 'text'),
    ],
  },
  {
    // DPoP (RFC 9449): a session remembers the key thumbprint it is bound to, and so do the codes
    // that will start one (RFC 9449 §10 `dpop_jkt`); a client whether it must use DPoP and whether
    // its access tokens are bound too. Nullable / false by default, so existing rows are unbound.
    // The proofs' jti replay cache reuses client_assertions (11) under a `dpop:` namespace.
    version: 14,
    statements: (schema) => [
      schema.alterTable('sessions').addColumn('dpop_jkt', 'text'),
      schema.alterTable('authorization_codes').addColumn('dpop_jkt', 'text'),
      schema.alterTable('device_codes').addColumn('dpop_jkt', 'text'),
      schema.alterTable('clients').addColumn('require_dpop', 'boolean', (c) => c.notNull().defaultTo(false)),
      schema.alterTable('clients').addColumn('dpop_bound_access_tokens', 'boolean', (c) => c.notNull().defaultTo(false)),
    ],
  },
  {
    // Clients that register themselves (docs/architecture.md "Client registration"): how the
    // client came to be (null: an operator), when it was last used, and when an unused
    // dynamically registered client stops working. The index serves the maintenance sweep.
    version: 15,
    statements: (schema) => [
      schema.alterTable('clients').addColumn('registration', 'text'),
      schema.alterTable('clients').addColumn('last_used_at', 'bigint'),
      schema.alterTable('clients').addColumn('expires_at', 'bigint'),
      schema.createIndex('clients_expires').on('clients').column('expires_at'),
    ],
  },
]

/** The frozen per-dialect SQL a store applies before the shared migrations. */
export const LEGACY_MIGRATIONS = { sqlite: SQLITE_MIGRATIONS, postgres: POSTGRES_MIGRATIONS } as const

/** The version a migrated database is at. */
export const LATEST_VERSION = Math.max(
  ...SQLITE_MIGRATIONS.map((m) => m.version),
  ...POSTGRES_MIGRATIONS.map((m) => m.version),
  ...SHARED_MIGRATIONS.map((m) => m.version),
)

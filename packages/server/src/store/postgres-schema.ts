/**
 * PostgreSQL migrations 1–8, applied in order and recorded in `schema_migrations`, with the same
 * version numbers as sqlite-schema.ts. Frozen: this is the history existing databases went
 * through, kept as it shipped. New migrations are written once, in migrations.ts.
 *
 * Tables are created unqualified, in the connection's current schema, so a deployment (or a
 * test) picks the schema with `search_path`.
 *
 * - Epoch seconds are BIGINT; the store parses INT8 back into JS numbers.
 * - Ids, and every column that refers to one, are `COLLATE "C"`: byte order, as in SQLite, so
 *   keyset pages break in the same place on both stores whatever the database's locale. The
 *   referring columns share the collation so joins and filters never mix two collations.
 * - JSON columns are JSONB; rows.ts accepts either JSON text or the parsed value.
 *
 * @see ./sqlite-schema.ts
 */
export const POSTGRES_MIGRATIONS: readonly { version: number; sql: string }[] = [
  {
    version: 1,
    sql: `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE users (
  id TEXT COLLATE "C" PRIMARY KEY,
  email TEXT NOT NULL,
  email_lower TEXT NOT NULL UNIQUE,
  name TEXT,
  password_hash TEXT,
  created_at BIGINT NOT NULL,
  disabled_at BIGINT
);
CREATE INDEX users_created ON users (created_at, id);
CREATE TABLE clients (
  client_id TEXT COLLATE "C" PRIMARY KEY,
  name TEXT NOT NULL,
  secret_hash TEXT,
  redirect_uris JSONB NOT NULL,
  grant_types JSONB NOT NULL,
  token_endpoint_auth_method TEXT NOT NULL,
  allowed_scopes JSONB NOT NULL,
  access_token_ttl BIGINT,
  refresh_token_ttl BIGINT,
  refresh_token_ttl_max BIGINT,
  session_max_lifetime BIGINT,
  first_party BOOLEAN NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  deleted_at BIGINT
);
CREATE INDEX clients_created ON clients (created_at, client_id);
CREATE TABLE sessions (
  id TEXT COLLATE "C" PRIMARY KEY,
  user_id TEXT COLLATE "C",
  client_id TEXT COLLATE "C" NOT NULL,
  kind TEXT NOT NULL,
  scope TEXT NOT NULL,
  audience TEXT,
  created_at BIGINT NOT NULL,
  last_refreshed_at BIGINT,
  idle_expires_at BIGINT NOT NULL,
  absolute_expires_at BIGINT,
  refresh_ttl BIGINT NOT NULL,
  generation BIGINT NOT NULL,
  revoked_at BIGINT,
  revoked_reason TEXT,
  parent_id TEXT COLLATE "C",
  name TEXT,
  user_agent TEXT,
  ip TEXT
);
CREATE INDEX sessions_created ON sessions (created_at, id);
CREATE INDEX sessions_user ON sessions (user_id, created_at, id);
CREATE INDEX sessions_client ON sessions (client_id);
CREATE INDEX sessions_parent ON sessions (parent_id);
CREATE TABLE refresh_tokens (
  hash TEXT COLLATE "C" PRIMARY KEY,
  session_id TEXT COLLATE "C" NOT NULL,
  generation BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  spent_at BIGINT,
  successor_sealed TEXT,
  spent_ip TEXT,
  spent_user_agent TEXT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);
CREATE TABLE audit_events (
  id TEXT COLLATE "C" PRIMARY KEY,
  type TEXT NOT NULL,
  at BIGINT NOT NULL,
  session_id TEXT COLLATE "C",
  user_id TEXT COLLATE "C",
  client_id TEXT COLLATE "C",
  ip TEXT,
  user_agent TEXT,
  data JSONB NOT NULL
);
CREATE INDEX audit_at ON audit_events (at, id);
CREATE INDEX audit_session ON audit_events (session_id, at, id);
CREATE INDEX audit_user ON audit_events (user_id, at, id);
CREATE INDEX audit_type ON audit_events (type, at, id);
CREATE TABLE signing_keys (
  kid TEXT COLLATE "C" PRIMARY KEY,
  alg TEXT NOT NULL,
  public_jwk JSONB NOT NULL,
  private_sealed TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  activates_at BIGINT NOT NULL,
  retired_at BIGINT,
  expires_at BIGINT
);
`,
  },
  {
    version: 2,
    sql: `
CREATE TABLE login_sessions (
  hash TEXT COLLATE "C" PRIMARY KEY,
  user_id TEXT COLLATE "C" NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  method TEXT NOT NULL,
  ip TEXT,
  user_agent TEXT,
  revoked_at BIGINT
);
CREATE INDEX login_sessions_user ON login_sessions (user_id);
CREATE INDEX login_sessions_expires ON login_sessions (expires_at);
CREATE TABLE authorization_codes (
  hash TEXT COLLATE "C" PRIMARY KEY,
  client_id TEXT COLLATE "C" NOT NULL,
  user_id TEXT COLLATE "C" NOT NULL,
  redirect_uri TEXT NOT NULL,
  scope TEXT NOT NULL,
  code_challenge TEXT,
  code_challenge_method TEXT,
  nonce TEXT,
  auth_time BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  consumed_at BIGINT,
  session_id TEXT COLLATE "C"
);
CREATE INDEX authorization_codes_expires ON authorization_codes (expires_at);
CREATE TABLE device_codes (
  hash TEXT COLLATE "C" PRIMARY KEY,
  user_code TEXT COLLATE "C" NOT NULL,
  client_id TEXT COLLATE "C" NOT NULL,
  scope TEXT NOT NULL,
  requested_ttl BIGINT,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  interval BIGINT NOT NULL,
  last_polled_at BIGINT,
  status TEXT NOT NULL,
  user_id TEXT COLLATE "C",
  decided_at BIGINT,
  session_id TEXT COLLATE "C"
);
-- Unique across expired rows too until they are pruned: createDeviceCode clears a stale holder.
-- The index name is what the store matches a unique violation against.
CREATE UNIQUE INDEX device_codes_user_code ON device_codes (user_code);
CREATE INDEX device_codes_expires ON device_codes (expires_at);
`,
  },
  {
    // Same numbering as SQLite's migration 3: drop the indexes no hot path reads, so each
    // rotation writes fewer index pages. Audit lists filtered only by type scan audit_at.
    version: 3,
    sql: `
DROP INDEX IF EXISTS refresh_tokens_session;
DROP INDEX IF EXISTS audit_type;
`,
  },
  {
    // Same numbering as SQLite's migration 4: the clients' OIDC logout registration and the
    // back-channel logout outbox. An identity column, so "oldest pending" is "smallest id".
    version: 4,
    sql: `
ALTER TABLE clients
  ADD COLUMN post_logout_redirect_uris JSONB NOT NULL DEFAULT '[]'::jsonb,
  ADD COLUMN backchannel_logout_uri TEXT;
CREATE TABLE backchannel_logouts (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  session_id TEXT COLLATE "C" NOT NULL,
  user_id TEXT COLLATE "C",
  client_id TEXT COLLATE "C" NOT NULL,
  uri TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at BIGINT NOT NULL,
  locked_until BIGINT,
  created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX backchannel_logouts_session_client ON backchannel_logouts (session_id, client_id);
CREATE INDEX backchannel_logouts_due ON backchannel_logouts (next_attempt_at);
`,
  },
  {
    // Same as SQLite's migration 5: email_lower becomes ASCII-only lowercase. PostgreSQL's
    // lower() follows the collation and folds Unicode, so translate() spells out A-Z.
    version: 5,
    sql: `
UPDATE users SET email_lower = translate(email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz');
`,
  },
  {
    // Upstream sign-in links by (issuer, subject) once the first verified-email match is made,
    // so a later upstream account claiming the same email cannot take the local one over.
    version: 6,
    sql: `
CREATE TABLE upstream_identities (
  issuer TEXT NOT NULL,
  subject TEXT NOT NULL,
  user_id TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (issuer, subject)
);
CREATE UNIQUE INDEX upstream_identities_user ON upstream_identities (issuer, user_id);
`,
  },
  {
    // Same as SQLite's migration 7: the jti deny-list for revoked session-less access tokens.
    version: 7,
    sql: `
CREATE TABLE denied_access_tokens (
  jti TEXT COLLATE "C" PRIMARY KEY,
  expires_at BIGINT NOT NULL
);
CREATE INDEX denied_access_tokens_expires ON denied_access_tokens (expires_at);
`,
  },
  {
    // Same as SQLite's migration 8: audiences per client.
    version: 8,
    sql: `
ALTER TABLE clients ADD COLUMN allowed_audiences JSONB NOT NULL DEFAULT '[]'::jsonb;
`,
  },
]

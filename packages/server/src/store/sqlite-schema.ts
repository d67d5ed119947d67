/**
 * SQLite migrations 1–8, applied in order and recorded in `schema_migrations`. Frozen: this is
 * the history existing databases went through, kept as it shipped. New migrations are written
 * once, in migrations.ts. postgres-schema.ts keeps the same numbering.
 */
export const SQLITE_MIGRATIONS: readonly { version: number; sql: string }[] = [
  {
    version: 1,
    sql: `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE users (
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL,
  email_lower TEXT NOT NULL UNIQUE,
  name TEXT,
  password_hash TEXT,
  created_at INTEGER NOT NULL,
  disabled_at INTEGER
);
CREATE INDEX users_created ON users (created_at, id);
CREATE TABLE clients (
  client_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  secret_hash TEXT,
  redirect_uris TEXT NOT NULL,
  grant_types TEXT NOT NULL,
  token_endpoint_auth_method TEXT NOT NULL,
  allowed_scopes TEXT NOT NULL,
  access_token_ttl INTEGER,
  refresh_token_ttl INTEGER,
  refresh_token_ttl_max INTEGER,
  session_max_lifetime INTEGER,
  first_party INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  deleted_at INTEGER
);
CREATE INDEX clients_created ON clients (created_at, client_id);
CREATE TABLE sessions (
  id TEXT PRIMARY KEY,
  user_id TEXT,
  client_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  scope TEXT NOT NULL,
  audience TEXT,
  created_at INTEGER NOT NULL,
  last_refreshed_at INTEGER,
  idle_expires_at INTEGER NOT NULL,
  absolute_expires_at INTEGER,
  refresh_ttl INTEGER NOT NULL,
  generation INTEGER NOT NULL,
  revoked_at INTEGER,
  revoked_reason TEXT,
  parent_id TEXT,
  name TEXT,
  user_agent TEXT,
  ip TEXT
);
CREATE INDEX sessions_created ON sessions (created_at, id);
CREATE INDEX sessions_user ON sessions (user_id, created_at, id);
CREATE INDEX sessions_client ON sessions (client_id);
CREATE INDEX sessions_parent ON sessions (parent_id);
CREATE TABLE refresh_tokens (
  hash TEXT PRIMARY KEY,
  session_id TEXT NOT NULL,
  generation INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  spent_at INTEGER,
  successor_sealed TEXT,
  spent_ip TEXT,
  spent_user_agent TEXT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);
CREATE TABLE audit_events (
  id TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  at INTEGER NOT NULL,
  session_id TEXT,
  user_id TEXT,
  client_id TEXT,
  ip TEXT,
  user_agent TEXT,
  data TEXT NOT NULL
);
CREATE INDEX audit_at ON audit_events (at, id);
CREATE INDEX audit_session ON audit_events (session_id, at, id);
CREATE INDEX audit_user ON audit_events (user_id, at, id);
CREATE INDEX audit_type ON audit_events (type, at, id);
CREATE TABLE signing_keys (
  kid TEXT PRIMARY KEY,
  alg TEXT NOT NULL,
  public_jwk TEXT NOT NULL,
  private_sealed TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  activates_at INTEGER NOT NULL,
  retired_at INTEGER,
  expires_at INTEGER
);
`,
  },
  {
    version: 2,
    sql: `
CREATE TABLE login_sessions (
  hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  method TEXT NOT NULL,
  ip TEXT,
  user_agent TEXT,
  revoked_at INTEGER
);
CREATE INDEX login_sessions_user ON login_sessions (user_id);
CREATE INDEX login_sessions_expires ON login_sessions (expires_at);
CREATE TABLE authorization_codes (
  hash TEXT PRIMARY KEY,
  client_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  redirect_uri TEXT NOT NULL,
  scope TEXT NOT NULL,
  code_challenge TEXT,
  code_challenge_method TEXT,
  nonce TEXT,
  auth_time INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  consumed_at INTEGER,
  session_id TEXT
);
CREATE INDEX authorization_codes_expires ON authorization_codes (expires_at);
CREATE TABLE device_codes (
  hash TEXT PRIMARY KEY,
  user_code TEXT NOT NULL,
  client_id TEXT NOT NULL,
  scope TEXT NOT NULL,
  requested_ttl INTEGER,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  interval INTEGER NOT NULL,
  last_polled_at INTEGER,
  status TEXT NOT NULL,
  user_id TEXT,
  decided_at INTEGER,
  session_id TEXT
);
-- Unique across expired rows too until they are pruned: createDeviceCode clears a stale holder.
CREATE UNIQUE INDEX device_codes_user_code ON device_codes (user_code);
CREATE INDEX device_codes_expires ON device_codes (expires_at);
`,
  },
  {
    // Measured: a rotation writes ~13 pages to the WAL, half of them index pages nothing on the
    // hot path reads. Dropping the refresh-token session index and the audit type index, and
    // keying audit rows by (at, id) so the table is its own time index, halved the rotation
    // transaction (128 → 64 µs with the checkpoint interval in sqlite.ts). Audit lists filtered
    // only by type now scan in time order, which an operator's occasional query can afford.
    version: 3,
    sql: `
DROP INDEX refresh_tokens_session;
CREATE TABLE audit_events_v3 (
  id TEXT NOT NULL,
  type TEXT NOT NULL,
  at INTEGER NOT NULL,
  session_id TEXT,
  user_id TEXT,
  client_id TEXT,
  ip TEXT,
  user_agent TEXT,
  data TEXT NOT NULL,
  PRIMARY KEY (at, id)
);
INSERT INTO audit_events_v3 (id, type, at, session_id, user_id, client_id, ip, user_agent, data)
  SELECT id, type, at, session_id, user_id, client_id, ip, user_agent, data FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE audit_events_v3 RENAME TO audit_events;
CREATE INDEX audit_session ON audit_events (session_id, at, id);
CREATE INDEX audit_user ON audit_events (user_id, at, id);
`,
  },
  {
    // Logout that reaches every app: the clients' OIDC logout registration, and the outbox of
    // back-channel logouts that each revocation fills in its own transaction. AUTOINCREMENT so an
    // id is never reused: "oldest pending" is "smallest id", which the cap relies on.
    version: 4,
    sql: `
ALTER TABLE clients ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT;
CREATE TABLE backchannel_logouts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  session_id TEXT NOT NULL,
  user_id TEXT,
  client_id TEXT NOT NULL,
  uri TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  locked_until INTEGER,
  created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX backchannel_logouts_session_client ON backchannel_logouts (session_id, client_id);
CREATE INDEX backchannel_logouts_due ON backchannel_logouts (next_attempt_at);
`,
  },
  {
    // email_lower was JS toLowerCase(), which folds Unicode (the Kelvin sign became `k`) and so
    // merged distinct addresses. It is now ASCII-only lowercase (accounts/email.ts); SQLite's
    // built-in lower() folds exactly ASCII. ASCII folding is finer, so no new duplicates arise.
    version: 5,
    sql: `
UPDATE users SET email_lower = lower(email);
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
  created_at INTEGER NOT NULL,
  PRIMARY KEY (issuer, subject)
);
CREATE UNIQUE INDEX upstream_identities_user ON upstream_identities (issuer, user_id);
`,
  },
  {
    // RFC 7009 revocation of an access token that has no session (client_credentials): its
    // jti is denied until the token's own exp, after which the signature check refuses it anyway.
    version: 7,
    sql: `
CREATE TABLE denied_access_tokens (
  jti TEXT PRIMARY KEY,
  expires_at INTEGER NOT NULL
);
CREATE INDEX denied_access_tokens_expires ON denied_access_tokens (expires_at);
`,
  },
  {
    // Audiences per client: with none registered a client's tokens name only itself, so an
    // unregistered client can no longer mint a token for another resource server.
    version: 8,
    sql: `
ALTER TABLE clients ADD COLUMN allowed_audiences TEXT NOT NULL DEFAULT '[]';
`,
  },
]

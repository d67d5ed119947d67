import type { TokenResponse } from './token-response.js'

// What the operator API under `/admin/v1` accepts and returns, field names as on the wire. The
// server's views are typed against these and the CLI reads them, so neither side re-declares them
// (docs/architecture.md "Wire vocabulary").

/**
 * How a client authenticates at the token endpoint (RFC 7591 §2 `token_endpoint_auth_method`).
 * Discovery, the admin API's validation and the server's client authentication all read this set.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7591#section-2
 */
export const TOKEN_ENDPOINT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'] as const

/**
 * The JWS algorithms a `private_key_jwt` client assertion may use: asymmetric only, so the
 * server never holds anything that could forge one (RFC 7523 §3, OIDC Core §9). Discovery lists
 * them as `token_endpoint_auth_signing_alg_values_supported`.
 *
 * @see https://openid.net/specs/openid-connect-core-1_0.html#ClientAuthentication
 */
export const CLIENT_ASSERTION_ALGS = ['ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512', 'EdDSA', 'Ed25519'] as const

/** RFC 7523 §2.2 `client_assertion_type` for a JWT client assertion. */
export const CLIENT_ASSERTION_TYPE_JWT = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

/** A JWK Set as registered inline for `private_key_jwt` (RFC 7517 §5). */
export interface JwkSet {
  keys: Record<string, unknown>[]
}

/** One of {@link TOKEN_ENDPOINT_AUTH_METHODS}. */
export type TokenEndpointAuthMethod = (typeof TOKEN_ENDPOINT_AUTH_METHODS)[number]

/**
 * How a client came to be known (docs/architecture.md "Client registration"): created by an
 * operator through the admin API, registered by itself at the registration endpoint (RFC 7591),
 * or described by a Client ID Metadata Document its `client_id` URL serves (the row is a cache
 * of that document). The consent screen marks the last two as unverified.
 */
export const CLIENT_REGISTRATIONS = ['admin', 'dynamic', 'metadata_document'] as const

/** One of {@link CLIENT_REGISTRATIONS}. */
export type ClientRegistration = (typeof CLIENT_REGISTRATIONS)[number]

/**
 * Stable dotted audit event names (docs/architecture.md "Audit events"). Renaming one breaks
 * whoever reads the audit log, so they are a closed set.
 */
export const AUDIT_EVENT_TYPES = [
  'session.created',
  'refresh.succeeded',
  'refresh.failed',
  'refresh.reused',
  'refresh.replayed',
  'refresh.superseded',
  'session.revoked',
  'device.approved',
  'device.denied',
  'login.succeeded',
  'login.failed',
  'key.rotated',
  'client.created',
  'client.updated',
  'client.deleted',
  'user.created',
  'user.disabled',
  'logout.succeeded',
  'backchannel_logout.delivered',
  'backchannel_logout.failed',
  'backchannel_logout.dropped',
  'access_token.revoked',
  'key.revoked',
  'login_session.revoked',
  'login.reauthenticated',
  'client.secret_rotated',
  'client.registered',
] as const

/** One of {@link AUDIT_EVENT_TYPES}. */
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number]

/** The algorithms a signing key may use. */
export const SIGNING_ALGS = ['ES256', 'RS256'] as const

/** One of {@link SIGNING_ALGS}. */
export type SigningAlg = (typeof SIGNING_ALGS)[number]

/** What kind of login a session stands for (docs/architecture.md "The session model"). */
export type SessionKind = 'browser' | 'device' | 'cli_credential' | 'delegated' | 'operator' | 'service'

/** One page of a list: pass `next_cursor` back as `cursor` for the next; null on the last. */
export interface Page<T> {
  items: T[]
  next_cursor: string | null
}

/** A user, never with a password hash. */
export interface UserView {
  id: string
  email: string
  name: string | null
  has_password: boolean
  created_at: number
  disabled_at: number | null
}

/** A registered client as stored and shown, never with its secret hash (the store adds only that). */
export interface ClientView {
  client_id: string
  name: string
  redirect_uris: string[]
  /** Where end-session may send the browser afterwards, by exact match (OIDC RP-Initiated Logout §3.1). */
  post_logout_redirect_uris: string[]
  /** Where a logout token is POSTed when one of this client's sessions is revoked (OIDC Back-Channel Logout §2.2). */
  backchannel_logout_uri: string | null
  grant_types: string[]
  token_endpoint_auth_method: TokenEndpointAuthMethod
  /** Inline public keys for `private_key_jwt` (OIDC Dynamic Registration `jwks`). */
  jwks?: JwkSet | null
  /** Where the public keys for `private_key_jwt` are fetched from (`jwks_uri`). */
  jwks_uri?: string | null
  /** While a rotated-out secret still authenticates: its end, epoch seconds; null when none. */
  previous_secret_expires_at?: number | null
  /** Scopes the client may ask for; empty means only the standard OIDC scopes. */
  allowed_scopes: string[]
  /** Audiences its tokens may name (`audience` parameter); empty means only its own client_id. */
  allowed_audiences: string[]
  access_token_ttl: number | null
  refresh_token_ttl: number | null
  refresh_token_ttl_max: number | null
  session_max_lifetime: number | null
  first_party: boolean
  /** RFC 8707 resource given to a token request that names none; null: none. */
  default_resource: string | null
  /** May this client exchange tokens (RFC 8693), and within what; null: it may not. */
  token_exchange: TokenExchangePolicy | null
  /** How the client was registered; absent or null means by an operator (`admin`). */
  registration?: ClientRegistration | null
  /** When the client last authenticated or was authorized (coarse: at most one write an hour). */
  last_used_at?: number | null
  /** A dynamically registered client stops working at this time unless used before; null: never. */
  expires_at?: number | null
  /**
   * Every token request of this client must carry a DPoP proof (RFC 9449); without one it gets
   * `invalid_dpop_proof`. Absent means false.
   */
  require_dpop?: boolean
  /**
   * Access tokens of this client's DPoP-bound sessions are bound too (`token_type: "DPoP"`,
   * `cnf.jkt`); otherwise they stay Bearer while the refresh token is bound. Absent means false.
   */
  dpop_bound_access_tokens?: boolean
  created_at: number
  updated_at: number
}

/**
 * A client's token-exchange policy (RFC 8693): what it may take as a subject and what a
 * delegated token it obtains may carry. Every list is an allow list.
 */
export interface TokenExchangePolicy {
  /** Clients whose sessions' tokens this client may take as `subject_token`. */
  subject_clients: string[]
  /** Scopes a delegated token may carry, always also within the subject's. Empty: any of the subject's. */
  allowed_scopes: string[]
  /** Audiences a delegated token may name. Empty: only the subject's own audience. */
  allowed_audiences: string[]
  /** Resources (RFC 8707) a delegated token may name. Empty: only the subject's own resource. */
  allowed_resources: string[]
  /** Longest refresh TTL of a delegated session in seconds; null: the 90-day cap and the client's. */
  max_refresh_ttl: number | null
}

/** `POST /admin/v1/clients`: the client, and its secret shown this once (only its hash is kept). */
export interface CreatedClientView extends ClientView {
  client_secret?: string
}

/** `POST /admin/v1/clients/:id/secret`: the new secret shown once, and until when the previous one works. */
export interface RotatedSecretView {
  client_id: string
  client_secret: string
  previous_secret_expires_at: number | null
}

/**
 * A session's stored fields: the one declaration of what a session is. The server's store record
 * is this type, and the admin API's view adds only what it derives, so a new column is declared
 * here, once, and reaches the store's column list (compiler-checked) and the admin API.
 */
export interface SessionFields {
  id: string
  user_id: string | null
  client_id: string
  kind: SessionKind
  scope: string
  audience: string | null
  created_at: number
  last_refreshed_at: number | null
  /** When the current refresh token lapses unless rotated; slides by refresh_ttl on each rotation. */
  idle_expires_at: number
  /** Hard end of the session whatever the rotation; null for silent indefinite renewal. */
  absolute_expires_at: number | null
  /** The refresh TTL chosen at issuance, carried through every rotation. */
  refresh_ttl: number
  /** How many rotations the session has seen; the current refresh token has this generation. */
  generation: number
  revoked_at: number | null
  revoked_reason: string | null
  parent_id: string | null
  /** RFC 8707 resource the session's access tokens name in `aud`. */
  resource: string | null
  /** A delegated session's RFC 8693 `act` claim (the agent, its own actors nested); null otherwise. */
  act: Record<string, unknown> | null
  name: string | null
  user_agent: string | null
  ip: string | null
  /** When the user authenticated (OIDC `auth_time`); null for a session not born of a sign-in. */
  auth_time: number | null
  /**
   * RFC 7638 thumbprint of the DPoP key the session is bound to (RFC 9449 `jkt`), fixed at
   * issuance and carried through every rotation; null (or absent) for an unbound session.
   */
  dpop_jkt?: string | null
}

/** A session (one login), with `active` computed at the time of the answer. */
export interface SessionView extends SessionFields {
  active: boolean
}

/** A browser sign-in to the service's own pages, by its public id (never the cookie hash). */
export interface LoginSessionView {
  id: string
  user_id: string
  method: string
  created_at: number
  expires_at: number
  ip: string | null
  user_agent: string | null
}

/** One audit log entry; `data` never holds a token, secret or password. */
export interface AuditEventView {
  id: string
  type: AuditEventType
  at: number
  session_id: string | null
  user_id: string | null
  client_id: string | null
  ip: string | null
  user_agent: string | null
  data: Record<string, unknown>
}

/** A signing key's public facts and where it is in its life. */
export interface KeyView {
  kid: string
  alg: SigningAlg
  status: 'published' | 'active' | 'retired' | 'revoked'
  created_at: number
  activates_at: number
  retired_at: number | null
  expires_at: number | null
}

/** `POST /admin/v1/tokens`: a token response plus the session and the portable credential. */
export interface MintedSession extends TokenResponse {
  session_id: string
  credential: string
}

/** The answer of a revoking `DELETE`: how many sessions or sign-ins it ended. */
export interface RevokedCount {
  revoked: number
}

import type { TokenResponse } from '@evergreen/core'
// The decode-only entry point: the full 'jose' index pulls in every JWS/JWE/JWK module (about 45
// files), which `evergreen token` would otherwise load on each run just to print a stored token.

/** Who the session belongs to, for display (`whoami`); never used for a security decision. */
export interface SessionAccount {
  sub: string
  email?: string
}

/**
 * What a store keeps for one login. Expiry times are epoch milliseconds on *this* machine's clock,
 * computed from `expires_in` when the response arrived — never from the JWT's `exp`, so a client
 * whose clock is off by minutes still refreshes on time.
 */
export interface StoredSession {
  version: 1
  issuer: string
  client_id: string
  access_token: string
  access_token_expires_at: number
  /** Absent for an access-only session (a pasted raw JWT): it cannot be renewed. */
  refresh_token?: string
  refresh_token_expires_at?: number
  token_type: string
  scope?: string
  account?: SessionAccount
  /** Epoch ms of the response this session came from. */
  obtained_at: number
  /**
   * The DPoP key this session is bound to (RFC 9449), kept in the same record so that one atomic
   * write stores token and key together: they can never drift apart. Once present it is carried
   * through every refresh — a bound session never drops back to Bearer.
   */
  dpop?: DpopKeyRecord
}

/**
 * A session's DPoP key as stored: the private ES256 JWK (it must survive the process, see
 * docs/architecture.md "The SDK") and its RFC 7638 thumbprint, which is what the server binds to
 * and what a status display shows. Imported non-extractable when used (`dpop-key.ts`).
 */
export interface DpopKeyRecord {
  alg: 'ES256'
  jwk: { kty: string; crv: string; x: string; y: string; d: string }
  /** base64url SHA-256 JWK thumbprint of the public key. */
  jkt: string
  /**
   * True when the session was created with a proof of this key (a device or code login), so the
   * token service bound it at issuance (RFC 9449 §5). False for a pasted credential: its session
   * was issued before the key existed, so the SDK proves the key on every refresh but the server
   * may not require it.
   */
  bound_at_issuance: boolean
}

/**
 * Builds the stored session from a token response received at `receivedAt` (epoch ms).
 * A server that does not rotate (no `refresh_token` in the answer) keeps the previous refresh
 * token, as RFC 6749 §6 allows.
 *
 * @example sessionFromTokenResponse(tokens, { issuer, clientId, receivedAt: now() })
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 */
export function sessionFromTokenResponse(
  res: TokenResponse,
  ctx: { issuer: string; clientId: string; receivedAt: number; previous?: StoredSession | undefined; dpop?: DpopKeyRecord | undefined },
): StoredSession {
  const session: StoredSession = {
    version: 1,
    issuer: ctx.issuer,
    client_id: ctx.clientId,
    access_token: res.access_token,
    access_token_expires_at: ctx.receivedAt + res.expires_in * 1000,
    token_type: res.token_type,
    obtained_at: ctx.receivedAt,
  }
  if (res.refresh_token !== undefined) {
    session.refresh_token = res.refresh_token
    if (res.refresh_token_expires_in !== undefined) {
      session.refresh_token_expires_at = ctx.receivedAt + res.refresh_token_expires_in * 1000
    }
  } else if (ctx.previous?.refresh_token !== undefined) {
    session.refresh_token = ctx.previous.refresh_token
    if (ctx.previous.refresh_token_expires_at !== undefined) session.refresh_token_expires_at = ctx.previous.refresh_token_expires_at
  }
  const scope = res.scope ?? ctx.previous?.scope
  if (scope !== undefined) session.scope = scope
  const account = accountOf(res.access_token) ?? ctx.previous?.account
  if (account !== undefined) session.account = account
  // The key rides along with every rotation: a refresh of a bound session must stay bound.
  const dpop = ctx.dpop ?? ctx.previous?.dpop
  if (dpop !== undefined) session.dpop = dpop
  return session
}

/**
 * The `sub` (and `email`, when present) of a JWT access token, for display only: nothing is
 * trusted or decided on it, so the payload is read without verification, and without jose (whose
 * decoder is five modules on `evergreen token`'s start-up path).
 */
export function accountOf(accessToken: string): SessionAccount | undefined {
  try {
    const claims = unverifiedJwtPayload(accessToken)
    if (claims === undefined || typeof claims.sub !== 'string') return undefined
    const account: SessionAccount = { sub: claims.sub }
    if (typeof claims.email === 'string') account.email = claims.email
    return account
  } catch {
    return undefined
  }
}

/** A compact JWS's payload as an object, unverified; undefined for anything else. */
function unverifiedJwtPayload(token: string): Record<string, unknown> | undefined {
  const parts = token.split('.')
  if (parts.length !== 3 || !/^[A-Za-z0-9_-]+$/.test(parts[1]!)) return undefined
  const b64 = parts[1]!.replace(/-/g, '+').replace(/_/g, '/')
  const binary = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4))
  const value: unknown = JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))))
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined
}

/** True when the session has a refresh token, i.e. can renew itself. */
export function isRenewable(session: StoredSession): session is StoredSession & { refresh_token: string } {
  return typeof session.refresh_token === 'string' && session.refresh_token.length > 0
}

/**
 * Checks a value read back from a store. Returns undefined for anything that is not a version-1
 * session, so the store can report it as corrupt rather than hand back garbage.
 */
export function parseStoredSession(value: unknown): StoredSession | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const s = value as Record<string, unknown>
  const optionalNumber = (v: unknown) => v === undefined || (typeof v === 'number' && Number.isFinite(v))
  const optionalString = (v: unknown) => v === undefined || typeof v === 'string'
  const ok =
    s.version === 1 &&
    typeof s.issuer === 'string' &&
    typeof s.client_id === 'string' &&
    typeof s.access_token === 'string' &&
    typeof s.access_token_expires_at === 'number' &&
    Number.isFinite(s.access_token_expires_at) &&
    optionalString(s.refresh_token) &&
    optionalNumber(s.refresh_token_expires_at) &&
    typeof s.token_type === 'string' &&
    optionalString(s.scope) &&
    typeof s.obtained_at === 'number' &&
    (s.account === undefined || (typeof s.account === 'object' && s.account !== null && typeof (s.account as { sub?: unknown }).sub === 'string')) &&
    (s.dpop === undefined || isDpopKeyRecord(s.dpop))
  return ok ? (value as StoredSession) : undefined
}

/** A stored DPoP key has every member a P-256 private JWK needs; anything less is a corrupt session. */
function isDpopKeyRecord(v: unknown): v is DpopKeyRecord {
  if (typeof v !== 'object' || v === null) return false
  const r = v as Record<string, unknown>
  const jwk = r.jwk as Record<string, unknown> | null | undefined
  const b64u = (x: unknown) => typeof x === 'string' && /^[A-Za-z0-9_-]+$/.test(x)
  return (
    r.alg === 'ES256' &&
    b64u(r.jkt) &&
    typeof r.bound_at_issuance === 'boolean' &&
    typeof jwk === 'object' &&
    jwk !== null &&
    jwk.kty === 'EC' &&
    jwk.crv === 'P-256' &&
    b64u(jwk.x) &&
    b64u(jwk.y) &&
    b64u(jwk.d)
  )
}

/** True when the session is bound to a DPoP key: every refresh (and, for a DPoP access token, every API call) carries a proof. */
export function isDpopBound(session: StoredSession): session is StoredSession & { dpop: DpopKeyRecord } {
  return session.dpop !== undefined
}

import { decodeBase64url, encodeBase64url } from './base64url.js'
import { isWellFormedRefreshToken } from './refresh-token.js'

/** Prefix of the login credential that `/settings/cli` and the admin API hand out. */
export const CREDENTIAL_PREFIX = 'egc1_'

/**
 * The login credential: a versioned envelope carrying a refresh token and where to use it,
 * so `evergreen login --token <credential>` needs no other flag. Never a raw access JWT.
 */
export interface LoginCredential {
  v: 1
  iss: string
  client_id: string
  refresh_token: string
  /** Epoch seconds when the refresh token expires unless used, for display only. */
  exp?: number
  /**
   * The private ES256 key (a P-256 JWK) the credential's session is bound to (RFC 9449): a
   * delegation made with `dpop_jkt` for a key generated for the agent (`evergreen delegate
   * --bind-key`). Whoever logs in with the credential refreshes with proofs of this key; without
   * it the session's refresh token is refused. Absent: an unbound session.
   */
  dpop_key?: CredentialDpopKey
}

/** An ES256 private key as a JWK: only the members a P-256 key needs. */
export interface CredentialDpopKey {
  kty: 'EC'
  crv: 'P-256'
  x: string
  y: string
  d: string
}

export type ParsedCredential =
  | { ok: true; value: LoginCredential }
  | { ok: false; error: 'not_a_credential' | 'unsupported_version' | 'malformed' }

/** Encodes a credential as `egc1_<base64url(JSON)>`. */
export function encodeCredential(credential: LoginCredential): string {
  return CREDENTIAL_PREFIX + encodeBase64url(new TextEncoder().encode(JSON.stringify(credential)))
}

/**
 * Parses a pasted credential. Failure is a normal result here (people paste the wrong thing),
 * so it returns a discriminated union instead of throwing.
 */
export function decodeCredential(text: string): ParsedCredential {
  const trimmed = text.trim()
  const versioned = /^egc(\d+)_/.exec(trimmed)
  if (!versioned) return { ok: false, error: 'not_a_credential' }
  if (versioned[1] !== '1') return { ok: false, error: 'unsupported_version' }
  const bytes = decodeBase64url(trimmed.slice(CREDENTIAL_PREFIX.length))
  if (!bytes) return { ok: false, error: 'malformed' }
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch {
    return { ok: false, error: 'malformed' }
  }
  if (!isCredential(value)) return { ok: false, error: 'malformed' }
  return { ok: true, value }
}

function isCredential(v: unknown): v is LoginCredential {
  if (typeof v !== 'object' || v === null) return false
  const c = v as Record<string, unknown>
  return (
    c.v === 1 &&
    typeof c.iss === 'string' &&
    /^https?:\/\//.test(c.iss) &&
    typeof c.client_id === 'string' &&
    c.client_id.length > 0 &&
    typeof c.refresh_token === 'string' &&
    isWellFormedRefreshToken(c.refresh_token) &&
    (c.exp === undefined || (typeof c.exp === 'number' && Number.isFinite(c.exp))) &&
    (c.dpop_key === undefined || isDpopKey(c.dpop_key))
  )
}

/** base64url coordinates of a P-256 key: 32 bytes each, 43 characters. Nothing else is carried. */
function isDpopKey(v: unknown): v is CredentialDpopKey {
  if (typeof v !== 'object' || v === null) return false
  const k = v as Record<string, unknown>
  const coord = (x: unknown) => typeof x === 'string' && /^[A-Za-z0-9_-]{43}$/.test(x)
  return Object.keys(k).length === 5 && k.kty === 'EC' && k.crv === 'P-256' && coord(k.x) && coord(k.y) && coord(k.d)
}

import { calculateJwkThumbprint, compactVerify, decodeProtectedHeader, EmbeddedJWK, type JWK } from 'jose'
import { encodeBase64url } from './base64url.js'

/**
 * The JWS algorithms a DPoP proof may use: asymmetric only (RFC 9449 §4.2 forbids `none` and
 * MAC-based algorithms, since the verifier must not share the key). ES256 is what browsers and
 * most SDKs generate; Ed25519 keys are signed as `Ed25519` (the fully-specified name, RFC 9864,
 * which oauth4webapi v3 sends) or `EdDSA` (older clients); RS256 and PS256 cover HSM-held keys.
 * Discovery advertises exactly this list as `dpop_signing_alg_values_supported`.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.2
 */
export const DPOP_SIGNING_ALGS = ['ES256', 'Ed25519', 'EdDSA', 'RS256', 'PS256'] as const

/** One of {@link DPOP_SIGNING_ALGS}. */
export type DpopSigningAlg = (typeof DPOP_SIGNING_ALGS)[number]

/** How far a proof's `iat` may be from the verifier's clock, either way, by default (seconds). */
export const DPOP_DEFAULT_IAT_WINDOW_SECONDS = 60

/** Longest compact proof accepted (bytes): a 4096-bit RSA key plus claims fits in 3 KiB. */
const MAX_PROOF_LENGTH = 8192
/** Longest `jti` accepted: the replay cache keys on it, so it must be bounded. */
const MAX_JTI_LENGTH = 256
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const

/**
 * Why a DPoP proof was refused. Stable: verifiers map these to `invalid_dpop_proof`
 * (or `use_dpop_nonce` for the two nonce codes) and tests assert on them.
 */
export type DpopProofErrorCode =
  | 'DPOP_MALFORMED'
  | 'DPOP_BAD_TYP'
  | 'DPOP_BAD_ALG'
  | 'DPOP_BAD_KEY'
  | 'DPOP_BAD_SIGNATURE'
  | 'DPOP_HTM_MISMATCH'
  | 'DPOP_HTU_MISMATCH'
  | 'DPOP_IAT_OUT_OF_WINDOW'
  | 'DPOP_ATH_MISMATCH'
  | 'DPOP_NONCE_REQUIRED'
  | 'DPOP_NONCE_INVALID'

/**
 * A refused DPoP proof. The message is safe to send as an `error_description`: it never contains
 * the proof, the key or the access token.
 */
export class DpopProofError extends Error {
  readonly code: DpopProofErrorCode

  constructor(code: DpopProofErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'DpopProofError'
    this.code = code
  }

  /** True when the verifier should answer `use_dpop_nonce` with a fresh `DPoP-Nonce` header. */
  get isNonceError(): boolean {
    return this.code === 'DPOP_NONCE_REQUIRED' || this.code === 'DPOP_NONCE_INVALID'
  }
}

/** What a valid proof proves: the key (by RFC 7638 thumbprint) and the claims a replay cache needs. */
export interface VerifiedDpopProof {
  /** RFC 7638 SHA-256 thumbprint of the proof's public key, base64url: the `cnf.jkt` value. */
  jkt: string
  /** The proof's unique id: the caller must check it was never seen before (within the window). */
  jti: string
  /** The proof's issue time, epoch seconds. */
  iat: number
  /** The `nonce` claim, when present. */
  nonce: string | undefined
}

/** Options of {@link verifyDpopProof}. */
export interface VerifyDpopProofOptions {
  /** The compact JWS from the `DPoP` request header. */
  proof: string
  /** The request's HTTP method, e.g. `POST`; compared exactly with `htm`. */
  method: string
  /**
   * The URL the proof must name: the endpoint as published (never built from the Host header).
   * Query and fragment are ignored on both sides (RFC 9449 §4.3).
   */
  url: string
  /** The verifier's clock, epoch seconds. */
  now: number
  /** How far `iat` may be from `now`, either way (seconds); defaults to 60. */
  iatWindowSeconds?: number
  /** When presenting an access token (RFC 9449 §7): the proof's `ath` must be its SHA-256 hash. */
  accessToken?: string
  /**
   * Server nonce check (RFC 9449 §8): a string the `nonce` claim must equal, or a predicate that
   * says whether the presented nonce (undefined when absent) is acceptable. Omitted: not checked.
   */
  nonce?: string | ((presented: string | undefined) => boolean | Promise<boolean>)
  /** Accepted algorithms, a subset of {@link DPOP_SIGNING_ALGS}; defaults to all of them. */
  algorithms?: readonly DpopSigningAlg[]
}

/**
 * Verifies a DPoP proof JWT (RFC 9449 §4.3) except for `jti` uniqueness, which needs shared state
 * and is the caller's job (the server keeps it in its store). Pure: no I/O, Web APIs and jose only,
 * so the token service, resource servers and the web middleware all use this one check.
 *
 * @throws {DpopProofError} with a stable `code` when the proof must be refused.
 * @example
 * const { jkt, jti } = await verifyDpopProof({
 *   proof: request.headers.get('dpop') ?? '', method: 'POST',
 *   url: 'https://id.example/oauth/token', now: Math.floor(Date.now() / 1000),
 * })
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 */
export async function verifyDpopProof(options: VerifyDpopProofOptions): Promise<VerifiedDpopProof> {
  const { proof, method, url, now } = options
  const algorithms = options.algorithms ?? DPOP_SIGNING_ALGS
  const window = options.iatWindowSeconds ?? DPOP_DEFAULT_IAT_WINDOW_SECONDS
  if (typeof proof !== 'string' || proof.length === 0 || proof.length > MAX_PROOF_LENGTH || proof.split('.').length !== 3) {
    throw new DpopProofError('DPOP_MALFORMED', 'DPoP proof is not a compact JWS')
  }

  let header: ReturnType<typeof decodeProtectedHeader>
  try {
    header = decodeProtectedHeader(proof)
  } catch (cause) {
    throw new DpopProofError('DPOP_MALFORMED', 'DPoP proof header is not valid', { cause })
  }
  if (header.typ !== 'dpop+jwt') throw new DpopProofError('DPOP_BAD_TYP', 'DPoP proof typ must be dpop+jwt')
  if (typeof header.alg !== 'string' || !(algorithms as readonly string[]).includes(header.alg)) {
    throw new DpopProofError('DPOP_BAD_ALG', `DPoP proof alg must be one of ${algorithms.join(', ')}`)
  }
  const jwk = header.jwk as JWK | undefined
  if (!jwk || typeof jwk !== 'object' || Array.isArray(jwk)) {
    throw new DpopProofError('DPOP_BAD_KEY', 'DPoP proof has no jwk header')
  }
  // A private key in the header would be published to every verifier: refuse it outright rather
  // than deriving a public key from it (RFC 9449 §4.3 check 7).
  if (PRIVATE_JWK_MEMBERS.some((member) => member in jwk)) {
    throw new DpopProofError('DPOP_BAD_KEY', 'DPoP proof jwk must be a public key')
  }

  let payloadBytes: Uint8Array
  try {
    const verified = await compactVerify(proof, EmbeddedJWK, { algorithms: [...algorithms] })
    payloadBytes = verified.payload
  } catch (cause) {
    throw new DpopProofError('DPOP_BAD_SIGNATURE', 'DPoP proof signature or key is not valid', { cause })
  }

  let claims: Record<string, unknown>
  try {
    const parsed: unknown = JSON.parse(new TextDecoder().decode(payloadBytes))
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new TypeError('not an object')
    claims = parsed as Record<string, unknown>
  } catch (cause) {
    throw new DpopProofError('DPOP_MALFORMED', 'DPoP proof claims are not a JSON object', { cause })
  }

  const { jti, htm, htu, iat } = claims
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_LENGTH) {
    throw new DpopProofError('DPOP_MALFORMED', 'DPoP proof jti is missing or too long')
  }
  if (typeof htm !== 'string' || htm !== method) throw new DpopProofError('DPOP_HTM_MISMATCH', `DPoP proof htm must be ${method}`)
  if (typeof htu !== 'string' || !sameTargetUri(htu, url)) {
    throw new DpopProofError('DPOP_HTU_MISMATCH', 'DPoP proof htu does not match the endpoint URL')
  }
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw new DpopProofError('DPOP_MALFORMED', 'DPoP proof iat is missing')
  if (Math.abs(iat - now) > window) throw new DpopProofError('DPOP_IAT_OUT_OF_WINDOW', 'DPoP proof iat is outside the accepted window')

  if (options.accessToken !== undefined) {
    if (typeof claims.ath !== 'string' || claims.ath !== (await hashAccessToken(options.accessToken))) {
      throw new DpopProofError('DPOP_ATH_MISMATCH', 'DPoP proof ath does not match the access token')
    }
  }

  const presentedNonce = typeof claims.nonce === 'string' ? claims.nonce : undefined
  if (options.nonce !== undefined) {
    const ok =
      typeof options.nonce === 'string' ? presentedNonce === options.nonce : await options.nonce(presentedNonce)
    if (!ok) {
      throw presentedNonce === undefined
        ? new DpopProofError('DPOP_NONCE_REQUIRED', 'DPoP proof must carry the server nonce')
        : new DpopProofError('DPOP_NONCE_INVALID', 'DPoP proof nonce is not valid or has expired')
    }
  }

  let jkt: string
  try {
    jkt = await calculateJwkThumbprint(jwk, 'sha256')
  } catch (cause) {
    throw new DpopProofError('DPOP_BAD_KEY', 'DPoP proof jwk is not valid', { cause })
  }
  return { jkt, jti, iat, nonce: presentedNonce }
}

/**
 * The `ath` claim for an access token: base64url(SHA-256(ASCII token)) (RFC 9449 §4.2).
 * @example await hashAccessToken('eyJ…') // 'fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo'
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.2
 */
export async function hashAccessToken(accessToken: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(accessToken))
  return encodeBase64url(new Uint8Array(digest))
}

/**
 * True when a thumbprint is well formed: base64url of a SHA-256 digest (43 characters). Used to
 * validate a `dpop_jkt` request parameter before storing it (RFC 9449 §10).
 */
export function isDpopJkt(value: unknown): value is string {
  return typeof value === 'string' && /^[A-Za-z0-9_-]{43}$/.test(value)
}

// RFC 9449 §4.3 check 9: compare without query and fragment. URL parsing also normalises the
// scheme and host case and a default port, which RFC 3986 §6.2 syntax-based normalisation allows.
function sameTargetUri(presented: string, expected: string): boolean {
  const strip = (value: string): string | undefined => {
    if (!URL.canParse(value)) return undefined
    const u = new URL(value)
    return `${u.protocol}//${u.host}${u.pathname}`
  }
  const a = strip(presented)
  return a !== undefined && a === strip(expected)
}

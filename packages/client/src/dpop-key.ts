// The crypto half of DPoP: generating, importing and signing with the session's key. Loaded with
// `import()` only when a proof is needed (a refresh, a login, a DPoP-bound API call), so that
// `evergreen token` with a valid stored token never loads jose's signing code or touches WebCrypto
// (docs/architecture.md "The SDK", DPoP).
import { calculateJwkThumbprint } from 'jose/jwk/thumbprint'
import { exportJWK } from 'jose/key/export'
import { importJWK } from 'jose/key/import'
import { generateKeyPair } from 'jose/key/generate/keypair'
import { SignJWT } from 'jose/jwt/sign'
import { hashAccessToken } from '@evergreen/core'
import { CredentialError, StorageError } from './errors.js'
import type { DpopKeyRecord } from './session.js'

/** The one algorithm the SDK signs proofs with: ES256 is in every WebCrypto and every DPoP server's list. */
export const DPOP_ALG = 'ES256'

/** A stored key made usable: the private half as a non-extractable CryptoKey, the public half as a JWK. */
export interface DpopKey {
  privateKey: CryptoKey
  /** `kty`, `crv`, `x`, `y` only: what goes into every proof's `jwk` header. */
  publicJwk: { kty: string; crv: string; x: string; y: string }
  /** RFC 7638 SHA-256 thumbprint, base64url: the server's `cnf.jkt`. */
  jkt: string
}

/**
 * Generates a fresh P-256 key for a new session and returns it in its stored form. The key must
 * outlive this process (a CLI's next run refreshes with it), so its private half is exported once,
 * here, into the session record; everywhere else it is imported non-extractable.
 *
 * @example const record = await generateDpopKey({ boundAtIssuance: true })
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.2
 */
export async function generateDpopKey(options: { boundAtIssuance: boolean }): Promise<DpopKeyRecord> {
  const { privateKey } = await generateKeyPair(DPOP_ALG, { extractable: true })
  const jwk = await exportJWK(privateKey)
  if (jwk.kty !== 'EC' || typeof jwk.crv !== 'string' || typeof jwk.x !== 'string' || typeof jwk.y !== 'string' || typeof jwk.d !== 'string') {
    throw new TypeError('WebCrypto exported an unexpected ES256 key')
  }
  const publicJwk = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }
  return { alg: DPOP_ALG, jwk: { ...publicJwk, d: jwk.d }, jkt: await calculateJwkThumbprint(publicJwk, 'sha256'), bound_at_issuance: options.boundAtIssuance }
}

/**
 * The stored form of a key that came inside a login credential (`dpop_key`, from a `--bind-key`
 * delegation): the token service bound the credential's session to it at issuance. Imported once
 * here, so a key that is not a P-256 private key is refused before anything is stored or sent.
 *
 * @throws CredentialError `CREDENTIAL_MALFORMED`
 */
export async function dpopKeyFromCredential(jwk: { kty: string; crv: string; x: string; y: string; d: string }): Promise<DpopKeyRecord> {
  const publicJwk = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }
  try {
    const key = await importJWK({ ...publicJwk, d: jwk.d, alg: DPOP_ALG }, DPOP_ALG, { extractable: false })
    if (!(key instanceof CryptoKey)) throw new Error('not an asymmetric key')
    return { alg: DPOP_ALG, jwk: { ...publicJwk, d: jwk.d }, jkt: await calculateJwkThumbprint(publicJwk, 'sha256'), bound_at_issuance: true }
  } catch (err) {
    throw new CredentialError('CREDENTIAL_MALFORMED', 'the DPoP key in this login credential is damaged', { cause: err })
  }
}

/**
 * Imports a stored key: the CryptoKey is non-extractable, so code that gets hold of it (a debug
 * hook, a dependency) can sign but cannot copy the key out of this process. The thumbprint is
 * recomputed and must equal the stored one: a damaged record is `STORAGE_CORRUPT`, never a
 * different key that the server would refuse.
 *
 * @throws StorageError `STORAGE_CORRUPT`
 */
export async function importDpopKey(record: DpopKeyRecord): Promise<DpopKey> {
  const { kty, crv, x, y } = record.jwk
  const publicJwk = { kty, crv, x, y }
  try {
    const jkt = await calculateJwkThumbprint(publicJwk, 'sha256')
    if (jkt !== record.jkt) throw new Error('the stored thumbprint does not match the stored key')
    const privateKey = await importJWK({ ...record.jwk, alg: DPOP_ALG }, DPOP_ALG, { extractable: false })
    if (!(privateKey instanceof CryptoKey)) throw new Error('not an asymmetric key')
    return { privateKey, publicJwk, jkt }
  } catch (err) {
    throw new StorageError('STORAGE_CORRUPT', 'the DPoP key stored with the session is damaged', { cause: err, remedy: 'clear_session' })
  }
}

/** The claims of one proof (RFC 9449 §4.2). `iat` is epoch seconds. */
export interface DpopProofClaims {
  htm: string
  htu: string
  iat: number
  jti: string
  nonce?: string | undefined
  /** The access token the proof accompanies (RFC 9449 §7): the proof carries its SHA-256 as `ath`. */
  accessToken?: string | undefined
}

/**
 * Signs one DPoP proof: header `typ: dpop+jwt`, `alg: ES256`, the public `jwk`; claims `htm`, `htu`
 * (without query and fragment, §4.2), `iat`, `jti`, and `nonce` / `ath` when given.
 *
 * @example const proof = await createDpopProof(key, { htm: 'POST', htu: as.token_endpoint, iat, jti })
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.2
 */
export async function createDpopProof(key: DpopKey, claims: DpopProofClaims): Promise<string> {
  const payload: Record<string, unknown> = { htm: claims.htm, htu: stripQueryAndFragment(claims.htu), iat: claims.iat, jti: claims.jti }
  if (claims.nonce !== undefined) payload.nonce = claims.nonce
  if (claims.accessToken !== undefined) payload.ath = await hashAccessToken(claims.accessToken)
  return new SignJWT(payload).setProtectedHeader({ alg: DPOP_ALG, typ: 'dpop+jwt', jwk: key.publicJwk }).sign(key.privateKey)
}

function stripQueryAndFragment(url: string): string {
  const u = new URL(url)
  u.search = ''
  u.hash = ''
  return u.href
}

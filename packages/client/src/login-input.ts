import { decodeCredential, isWellFormedRefreshToken, type CredentialDpopKey } from '@evergreen/core'
// Decode only (see session.ts): this module is on the start-up path of every CLI command.
import { decodeJwt } from 'jose/jwt/decode'
import type { JWTPayload } from 'jose'
import { CredentialError } from './errors.js'

/** A pasted login input, recognised offline: nothing is sent anywhere to classify it. */
export type LoginInput =
  /**
   * An `egc1_` envelope: issuer, client id and refresh token together, and the private DPoP key
   * its session is bound to when it carries one (a `--bind-key` delegation).
   */
  | { kind: 'credential'; issuer: string; client_id: string; refresh_token: string; dpop_key?: CredentialDpopKey }
  /** A bare `egr_` refresh token, checksum verified; the issuer and client id come from elsewhere. */
  | { kind: 'refresh_token'; refresh_token: string }
  /** A raw JWT access token: stored access-only, it cannot be renewed. */
  | { kind: 'access_token'; access_token: string; claims: JWTPayload & { exp: number } }

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

/**
 * Recognises what was pasted: an `egc1_` login credential, a bare `egr_` refresh token or a JWT
 * access token. Surrounding whitespace is ignored.
 *
 * @throws CredentialError `CREDENTIAL_UNRECOGNIZED`, `CREDENTIAL_MALFORMED` (a damaged paste, or a
 *   JWT without readable claims or `exp`) or `CREDENTIAL_UNSUPPORTED_VERSION` (remedy `update_client`)
 * @example const input = parseLoginInput(text); if (input.kind === 'access_token') warnNotRenewable()
 */
export function parseLoginInput(text: string): LoginInput {
  const input = text.trim()
  if (/^egc\d+_/.test(input)) {
    const parsed = decodeCredential(input)
    if (!parsed.ok) {
      throw parsed.error === 'unsupported_version'
        ? new CredentialError('CREDENTIAL_UNSUPPORTED_VERSION', 'this login credential is from a newer version of Evergreen', { remedy: 'update_client' })
        : new CredentialError('CREDENTIAL_MALFORMED', 'this login credential is damaged (was it cut short when pasted?)')
    }
    const { iss, client_id, refresh_token, dpop_key } = parsed.value
    return { kind: 'credential', issuer: iss, client_id, refresh_token, ...(dpop_key === undefined ? {} : { dpop_key }) }
  }
  if (input.startsWith('egr_')) {
    if (!isWellFormedRefreshToken(input)) {
      throw new CredentialError('CREDENTIAL_MALFORMED', 'this refresh token fails its checksum (was it cut short when pasted?)')
    }
    return { kind: 'refresh_token', refresh_token: input }
  }
  if (JWT_SHAPE.test(input)) {
    let claims: JWTPayload
    try {
      claims = decodeJwt(input)
    } catch {
      throw new CredentialError('CREDENTIAL_MALFORMED', 'this looks like a JWT but its claims cannot be read')
    }
    if (typeof claims.exp !== 'number') throw new CredentialError('CREDENTIAL_MALFORMED', 'this access token has no expiry (exp) claim')
    return { kind: 'access_token', access_token: input, claims: claims as JWTPayload & { exp: number } }
  }
  throw new CredentialError('CREDENTIAL_UNRECOGNIZED', 'not a login credential: expected an egc1_ credential, an egr_ refresh token or a JWT access token')
}

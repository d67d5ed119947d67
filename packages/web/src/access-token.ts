import { errors, jwtVerify, type JWTPayload } from 'jose'
import type { WebConfig } from './config.js'
import type { Provider } from './provider.js'

/** The claims of a verified access token that the middleware relies on. */
export interface AccessClaims extends JWTPayload {
  sub: string
  exp: number
  iat: number
  sid?: string
  scope?: string
  client_id?: string
}

/** The result of checking an access token locally. */
export type AccessCheck =
  | { ok: true; claims: AccessClaims }
  /** `invalid`: bad signature, wrong iss/aud/typ, garbage. `unavailable`: the JWKS could not be fetched. */
  | { ok: false; reason: 'expired' | 'invalid' | 'unavailable' }

/** Verified tokens remembered, so a valid cookie costs a map lookup rather than a signature check. */
const CACHE_MAX = 10_000

/**
 * Verifies access tokens locally with jose against the service's JWKS: signature, `iss`, `aud`
 * (the configured audience), `exp` with a small leeway, and `typ: at+jwt` (RFC 9068 §4), which
 * keeps an ID token — same issuer, same `aud` — from passing for an access token.
 *
 * A token's signature never changes, so a verified token is cached until it expires; every hit
 * still re-checks `exp` against the injected clock. The cache is bounded and keyed on the whole
 * token, so a forged token can only miss it.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-4
 */
export function createAccessTokenVerifier(config: WebConfig, provider: Provider): (token: string) => Promise<AccessCheck> {
  const cache = new Map<string, AccessClaims>()
  return async function verifyAccessToken(token) {
    const now = config.now()
    const cached = cache.get(token)
    if (cached) {
      if (cached.exp + config.clockTolerance > now) return { ok: true, claims: cached }
      cache.delete(token)
      return { ok: false, reason: 'expired' }
    }
    if (token.length > 4096 || token.split('.').length !== 3) return { ok: false, reason: 'invalid' }
    try {
      const as = await provider.metadata()
      const { payload } = await jwtVerify(token, await provider.jwks(), {
        issuer: as.issuer,
        audience: config.audience,
        typ: 'at+jwt',
        currentDate: new Date(now * 1000),
        clockTolerance: config.clockTolerance,
        requiredClaims: ['sub', 'exp', 'iat'],
      })
      if (typeof payload.sub !== 'string' || typeof payload.exp !== 'number' || typeof payload.iat !== 'number') return { ok: false, reason: 'invalid' }
      if (payload.sid !== undefined && typeof payload.sid !== 'string') return { ok: false, reason: 'invalid' }
      const claims = payload as AccessClaims
      if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!)
      cache.set(token, claims)
      return { ok: true, claims }
    } catch (err) {
      if (err instanceof errors.JWTExpired) return { ok: false, reason: 'expired' }
      if (err instanceof errors.JOSEError && !(err instanceof errors.JWKSTimeout)) return { ok: false, reason: 'invalid' }
      // Discovery or the JWKS could not be fetched: not the token's fault.
      return { ok: false, reason: 'unavailable' }
    }
  }
}

import { decodeProtectedHeader, errors, jwtVerify } from 'jose'
import type { WebConfig } from './config.js'
import type { Provider } from './provider.js'

/** A validated logout token: whose session(s) to end. */
export interface LogoutClaims {
  sid: string | undefined
  sub: string | undefined
  iat: number
}

/** The result of validating a logout token; `description` is safe to send back. */
export type LogoutTokenCheck = { ok: true; claims: LogoutClaims } | { ok: false; description: string; unavailable?: boolean }

const EVENT = 'http://schemas.openid.net/event/backchannel-logout'
/** How old a logout token may be. The OP sends it as the session ends; two minutes covers retries and clock skew. */
export const LOGOUT_TOKEN_MAX_AGE = 120

/**
 * Validates a Logout Token as OIDC Back-Channel Logout 1.0 §2.6 requires: signature against the
 * service's JWKS (jose refuses `alg: none`), `iss`, `aud` = our client id, `iat` neither in the
 * future beyond the leeway nor older than {@link LOGOUT_TOKEN_MAX_AGE}, `exp` when present, `typ`
 * `logout+jwt` when present, the back-channel-logout member in `events`, `sid` and/or `sub`, no
 * `nonce` (so an ID token cannot be replayed as a logout token), and a `jti` not seen before.
 *
 * @see https://openid.net/specs/openid-connect-backchannel-1_0.html#Validation
 */
export async function validateLogoutToken(config: WebConfig, provider: Provider, token: string): Promise<LogoutTokenCheck> {
  if (token.length > 8192 || token.split('.').length !== 3) return { ok: false, description: 'logout_token is not a signed JWT' }
  let header: ReturnType<typeof decodeProtectedHeader>
  try {
    header = decodeProtectedHeader(token)
  } catch {
    return { ok: false, description: 'logout_token is not a signed JWT' }
  }
  if (header.typ !== undefined && !/^(application\/)?logout\+jwt$/i.test(String(header.typ))) return { ok: false, description: 'typ must be logout+jwt' }
  const now = config.now()
  let payload
  try {
    const as = await provider.metadata()
    ;({ payload } = await jwtVerify(token, await provider.jwks(), {
      issuer: as.issuer,
      audience: config.clientId,
      currentDate: new Date(now * 1000),
      clockTolerance: config.clockTolerance,
      maxTokenAge: LOGOUT_TOKEN_MAX_AGE,
      requiredClaims: ['iat', 'jti', 'events'],
    }))
  } catch (err) {
    if (err instanceof errors.JOSEError && !(err instanceof errors.JWKSTimeout)) return { ok: false, description: 'logout_token failed validation' }
    return { ok: false, description: 'cannot fetch the signing keys now', unavailable: true }
  }
  if (typeof payload.iat !== 'number' || payload.iat > now + config.clockTolerance) return { ok: false, description: 'iat is in the future' }
  const events = payload.events
  if (typeof events !== 'object' || events === null || Array.isArray(events) || typeof (events as Record<string, unknown>)[EVENT] !== 'object') {
    return { ok: false, description: 'events must contain the back-channel logout event' }
  }
  if ('nonce' in payload) return { ok: false, description: 'a logout token must not contain nonce' }
  const sid = typeof payload.sid === 'string' && payload.sid !== '' ? payload.sid : undefined
  const sub = typeof payload.sub === 'string' && payload.sub !== '' ? payload.sub : undefined
  if (!sid && !sub) return { ok: false, description: 'sid or sub is required' }
  if (typeof payload.jti !== 'string' || payload.jti === '' || payload.jti.length > 256) return { ok: false, description: 'jti is required' }
  const fresh = await config.revocationList.claimOnce(`jti:${payload.jti}`, LOGOUT_TOKEN_MAX_AGE + 2 * config.clockTolerance)
  if (!fresh) return { ok: false, description: 'logout_token was already used' }
  return { ok: true, claims: { sid, sub, iat: payload.iat } }
}

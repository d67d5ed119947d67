import type { TokenResponse } from '@evergreen/core'
import type { Deps } from '../deps.js'
import type { ClientRecord } from '../store/types.js'
import { signAccessToken, type AccessTokenSubject } from './access-token.js'
import { accessTokenTtl } from './lifetimes.js'

/** The refresh half of a token response: the token as issued and its idle lifetime from now. */
export interface IssuedRefreshToken {
  token: string
  expiresIn: number
}

/**
 * Builds the token response (RFC 6749 §5.1) every grant answers with: signs the access token for
 * the client's lifetime, never past the session's absolute end, and adds the refresh token and
 * Evergreen's `refresh_token_expires_in` when there is one. Issuance, rotation and
 * client_credentials all come through here, so the response has one shape.
 *
 * @param absoluteExpiresAt the session's hard end, or null (none, or no session)
 * @example tokenResponse(deps, client, { sub, client_id, scope, audience: null, sid }, session.absolute_expires_at, { token, expiresIn })
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1
 */
export function tokenResponse(
  deps: Pick<Deps, 'now' | 'random' | 'keys' | 'settings'>,
  client: ClientRecord,
  subject: AccessTokenSubject,
  absoluteExpiresAt: number | null,
  refresh?: IssuedRefreshToken,
): TokenResponse {
  const ttl = accessTokenTtl(deps.now(), client, deps.settings, absoluteExpiresAt)
  return {
    access_token: signAccessToken(deps, subject, ttl),
    // RFC 9449 §5: a bound access token is announced as such, so the client sends it as DPoP.
    token_type: subject.cnf === undefined ? 'Bearer' : 'DPoP',
    expires_in: ttl,
    ...(refresh ? { refresh_token: refresh.token, refresh_token_expires_in: refresh.expiresIn } : {}),
    scope: subject.scope,
  }
}

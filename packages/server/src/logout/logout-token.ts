import type { Deps } from '../deps.js'
import type { BackchannelLogoutRecord } from '../store/types.js'

/** The `events` member that makes a JWT a logout token (OIDC Back-Channel Logout 1.0 §2.4). */
export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout'

/** How long a logout token is valid: long enough for clock skew, short enough to be useless later. */
export const LOGOUT_TOKEN_TTL = 120

/**
 * Signs the logout token for one revoked session, with the key that signs ID tokens now. It names
 * the user (`sub`) and the session (`sid`, the same value as the access and ID tokens' `sid`), and
 * carries no `nonce`, which §2.4 forbids so a logout token can never pass for an ID token.
 *
 * @example const token = signLogoutToken(deps, { client_id: 'dash', user_id: 'usr_…', session_id: 'ses_…' })
 * @see https://openid.net/specs/openid-connect-backchannel-1_0.html#LogoutToken
 */
export function signLogoutToken(
  deps: Pick<Deps, 'now' | 'random' | 'keys' | 'settings'>,
  logout: Pick<BackchannelLogoutRecord, 'client_id' | 'user_id' | 'session_id'>,
): string {
  const iat = deps.now()
  const claims: Record<string, unknown> = {
    iss: deps.settings.issuer,
    aud: logout.client_id,
    iat,
    exp: iat + LOGOUT_TOKEN_TTL,
    jti: deps.random.id('lt'),
    sid: logout.session_id,
    events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
  }
  if (logout.user_id !== null) claims.sub = logout.user_id
  return deps.keys.signer().signLogoutToken(claims)
}

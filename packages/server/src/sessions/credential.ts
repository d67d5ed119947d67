import { encodeCredential } from '@evergreen/core'
import type { Deps } from '../deps.js'
import type { IssuedSession } from './issue.js'

/**
 * The `egc1_` login credential for a session just issued: its refresh token plus where to use
 * it, so `evergreen login --token <credential>` needs no other flag (never a raw access JWT).
 */
export function credentialFor(deps: Pick<Deps, 'settings'>, issued: IssuedSession): string {
  return encodeCredential({
    v: 1,
    iss: deps.settings.issuer,
    client_id: issued.session.client_id,
    refresh_token: issued.refreshToken,
    exp: issued.session.idle_expires_at,
  })
}

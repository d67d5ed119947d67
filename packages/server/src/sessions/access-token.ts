import type { Deps } from '../deps.js'

export interface AccessTokenSubject {
  /** The user's id, or the client id for client_credentials. */
  sub: string
  client_id: string
  scope: string
  audience: string | null
  /** The session id; absent for client_credentials, which has no session. */
  sid?: string
  /** RFC 8693 §4.1 actor claim for delegated tokens. */
  act?: Record<string, unknown>
}

/**
 * Signs an access token (RFC 9068 profile). One signature, no I/O: the key is already loaded.
 * `aud` is the requested audience, else the client id, so a dashboard can verify tokens meant
 * for itself.
 */
export function signAccessToken(deps: Pick<Deps, 'now' | 'random' | 'keys' | 'settings'>, subject: AccessTokenSubject, ttl: number): string {
  const iat = deps.now()
  const claims: Record<string, unknown> = {
    iss: deps.settings.issuer,
    sub: subject.sub,
    aud: subject.audience ?? subject.client_id,
    exp: iat + ttl,
    iat,
    jti: deps.random.id('at'),
    client_id: subject.client_id,
    scope: subject.scope,
  }
  if (subject.sid !== undefined) claims.sid = subject.sid
  if (subject.act !== undefined) claims.act = subject.act
  return deps.keys.signer().signAccessToken(claims)
}

import type { Deps } from '../deps.js'

export interface AccessTokenSubject {
  /** The user's id, or the client id for client_credentials. */
  sub: string
  client_id: string
  scope: string
  audience: string | null
  /** RFC 8707 resource: named in `aud` next to the audience. */
  resource?: string | null
  /** The session id; absent for client_credentials, which has no session. */
  sid?: string
  /** RFC 8693 §4.1 actor claim for delegated tokens. */
  act?: Record<string, unknown>
  /** RFC 9449 §6.1: the DPoP key the access token is bound to (`cnf.jkt`); absent for Bearer. */
  cnf?: { jkt: string }
}

/**
 * Signs an access token (RFC 9068 profile). One signature, no I/O: the key is already loaded.
 * `aud` is the requested audience and the resource (RFC 8707 §2: the resource is where the token
 * will be used, so it is an audience); with neither, the client id, so a dashboard can verify
 * tokens meant for itself. One value stays a string for verifiers that expect one.
 */
export function signAccessToken(deps: Pick<Deps, 'now' | 'random' | 'keys' | 'settings'>, subject: AccessTokenSubject, ttl: number): string {
  const iat = deps.now()
  const claims: Record<string, unknown> = {
    iss: deps.settings.issuer,
    sub: subject.sub,
    aud: audienceClaim(subject),
    exp: iat + ttl,
    iat,
    jti: deps.random.id('at'),
    client_id: subject.client_id,
    scope: subject.scope,
  }
  if (subject.sid !== undefined) claims.sid = subject.sid
  if (subject.act !== undefined) claims.act = subject.act
  if (subject.cnf !== undefined) claims.cnf = { jkt: subject.cnf.jkt }
  return deps.keys.signer().signAccessToken(claims)
}

function audienceClaim(subject: AccessTokenSubject): string | string[] {
  const aud = [subject.audience, subject.resource].filter((a): a is string => typeof a === 'string' && a !== '')
  const unique = [...new Set(aud)]
  if (unique.length === 0) return subject.client_id
  return unique.length === 1 ? unique[0]! : unique
}

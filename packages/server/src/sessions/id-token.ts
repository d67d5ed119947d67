import type { Deps } from '../deps.js'
import type { UserRecord } from '../store/types.js'

/**
 * An OpenID Connect ID token (OIDC Core §2): who signed in, for which client, and when. Claims
 * beyond `sub` follow the granted scopes (§5.4): `email` for the email scope, `name` for profile.
 */
export function signIdToken(
  deps: Pick<Deps, 'now' | 'keys' | 'settings'>,
  input: { user: UserRecord; clientId: string; scope: string; nonce: string | null; authTime: number; sid: string; ttl: number },
): string {
  const iat = deps.now()
  const scopes = new Set(input.scope.split(' '))
  const claims: Record<string, unknown> = {
    iss: deps.settings.issuer,
    sub: input.user.id,
    aud: input.clientId,
    exp: iat + input.ttl,
    iat,
    auth_time: input.authTime,
    sid: input.sid,
  }
  if (input.nonce !== null) claims.nonce = input.nonce
  if (scopes.has('email')) Object.assign(claims, { email: input.user.email })
  if (scopes.has('profile') && input.user.name) claims.name = input.user.name
  return deps.keys.signer().signIdToken(claims)
}

/** The userinfo claims (OIDC Core §5.3) a session's scope allows. */
export function userinfoClaims(user: UserRecord, scope: string): Record<string, unknown> {
  const scopes = new Set(scope.split(' '))
  const claims: Record<string, unknown> = { sub: user.id }
  if (scopes.has('email')) claims.email = user.email
  if (scopes.has('profile')) claims.name = user.name
  return claims
}

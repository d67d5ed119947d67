import { OAuthError, STANDARD_SCOPES } from '@evergreen/core'
import type { ClientRecord, SessionRecord } from '../store/types.js'

// A client registered without `allowed_scopes` may ask only for STANDARD_SCOPES. An empty list
// used to mean "anything", which let any client, the built-in `evergreen-cli` included, mint
// tokens with any scope a resource server might trust.

// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). No space, quote, backslash or
// control character: "openid\nadmin" must not reach a resource server as one token or as two.
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/

/** True when `value` is one RFC 6749 §3.3 scope-token. */
export function isScopeToken(value: string): boolean {
  return SCOPE_TOKEN.test(value)
}

/**
 * Parses a `scope` parameter: scope-tokens separated by single spaces (RFC 6749 §3.3). Absent or
 * empty means none asked. Duplicates collapse, order is kept.
 *
 * @throws OAuthError invalid_scope on anything else
 * @example parseScope('openid email') // ['openid', 'email']
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-3.3
 */
export function parseScope(raw: string | undefined): string[] {
  if (raw === undefined || raw === '') return []
  const tokens = raw.split(' ')
  if (!tokens.every(isScopeToken)) throw new OAuthError('invalid_scope', 'scope must be scope-tokens separated by single spaces (RFC 6749 §3.3)')
  return [...new Set(tokens)]
}

/** What `client` may hold now: its `allowed_scopes`, or the standard OIDC scopes when it lists none. */
export function allowedScopes(client: Pick<ClientRecord, 'allowed_scopes'>): readonly string[] {
  return client.allowed_scopes.length > 0 ? client.allowed_scopes : STANDARD_SCOPES
}

/**
 * The scope to grant at issuance: what was asked, if the client may have all of it; when nothing
 * was asked, the client's registered list (RFC 6749 §3.3 lets the server pick a default).
 *
 * @throws OAuthError invalid_scope
 * @example grantedScope('openid', client) // 'openid'
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-3.3
 */
export function grantedScope(requested: string | undefined, client: Pick<ClientRecord, 'allowed_scopes'>): string {
  const want = parseScope(requested)
  if (want.length === 0) return client.allowed_scopes.join(' ')
  const allowed = allowedScopes(client)
  const refused = want.filter((s) => !allowed.includes(s))
  if (refused.length > 0) throw new OAuthError('invalid_scope', `scope not allowed for this client: ${refused.join(' ')}`)
  return want.join(' ')
}

/**
 * `offline_access` (OIDC Core §11) asks for a refresh token, which only a client registered for
 * the `refresh_token` grant can use; asking for it without that grant is `invalid_scope` rather
 * than a consent to something the client cannot have. (A client that has the grant gets a
 * refresh token whether or not it asked: docs/architecture.md "Client registration".)
 *
 * @throws OAuthError invalid_scope
 * @example checkOfflineAccess('openid offline_access', { grant_types: ['authorization_code'] }) // throws
 * @see https://openid.net/specs/openid-connect-core-1_0.html#OfflineAccess
 */
export function checkOfflineAccess(scope: string, client: Pick<ClientRecord, 'grant_types'>): void {
  if (scope.split(' ').includes('offline_access') && !client.grant_types.includes('refresh_token')) {
    throw new OAuthError('invalid_scope', 'offline_access needs a client registered for the refresh_token grant')
  }
}

/**
 * A scope granted earlier, cut down to what the client may hold now. Applied on every refresh,
 * so narrowing a client's `allowed_scopes` takes effect at each session's next rotation rather
 * than when the session ends.
 *
 * @example currentScope('openid admin', { allowed_scopes: ['openid'] }) // 'openid'
 */
export function currentScope(granted: string, client: Pick<ClientRecord, 'allowed_scopes'>): string {
  const allowed = allowedScopes(client)
  return granted.split(' ').filter((s) => s !== '' && allowed.includes(s)).join(' ')
}

/**
 * What a session may hold at a refresh: {@link currentScope} for a person's own session; for a
 * delegated one, its scope cut down to what the agent's exchange policy allows now (the agent's
 * `allowed_scopes` are about what it may ask for itself, not what it may hold for a person).
 */
export function sessionScopeNow(
  session: Pick<SessionRecord, 'kind' | 'scope'>,
  client: Pick<ClientRecord, 'allowed_scopes' | 'token_exchange'>,
): string {
  if (session.kind !== 'delegated') return currentScope(session.scope, client)
  const policy = client.token_exchange
  if (policy === null) return ''
  if (policy.allowed_scopes.length === 0) return session.scope
  return session.scope.split(' ').filter((s) => s !== '' && policy.allowed_scopes.includes(s)).join(' ')
}

/**
 * The audience a token may carry: one the client registered in `allowed_audiences`, or, when it
 * registered none, only its own id. Null when none was asked (the token's `aud` is the client id).
 *
 * @throws OAuthError invalid_target (RFC 8707 §2)
 * @example grantedAudience('https://api.example', client) // 'https://api.example'
 * @see https://www.rfc-editor.org/rfc/rfc8707#section-2
 */
export function grantedAudience(requested: string | null | undefined, client: Pick<ClientRecord, 'client_id' | 'allowed_audiences'>): string | null {
  if (requested === undefined || requested === null) return null
  if (!audienceAllowed(requested, client)) throw new OAuthError('invalid_target', 'audience not allowed for this client')
  return requested
}

/** Whether `audience` is one the client may have now (see {@link grantedAudience}). */
export function audienceAllowed(audience: string, client: Pick<ClientRecord, 'client_id' | 'allowed_audiences'>): boolean {
  return client.allowed_audiences.length > 0 ? client.allowed_audiences.includes(audience) : audience === client.client_id
}

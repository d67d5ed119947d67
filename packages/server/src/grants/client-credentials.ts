import { OAuthError, type TokenResponse } from '@evergreen/core'
import type { Deps } from '../deps.js'
import { authenticateClient } from '../http/client-auth.js'
import { signAccessToken } from '../sessions/access-token.js'
import { accessTokenTtl } from '../sessions/lifetimes.js'
import type { GrantContext } from './types.js'

export const grantType = 'client_credentials'
export const parameters = ['scope', 'audience'] as const

/**
 * RFC 6749 §4.4: a confidential client acting for itself. No session and no refresh token
 * (§4.4.3: "A refresh token SHOULD NOT be included").
 */
export async function handle(ctx: GrantContext, deps: Deps): Promise<TokenResponse> {
  const client = await authenticateClient(deps.store, ctx.client)
  if (client.token_endpoint_auth_method === 'none') {
    throw new OAuthError('unauthorized_client', 'public clients may not use client_credentials')
  }
  if (!client.grant_types.includes(grantType)) {
    throw new OAuthError('unauthorized_client', 'client may not use the client_credentials grant')
  }
  const scope = grantedScope(ctx.form.get('scope'), client.allowed_scopes)
  const ttl = accessTokenTtl(deps.now(), client, deps.settings, null)
  return {
    access_token: signAccessToken(
      deps,
      { sub: client.client_id, client_id: client.client_id, scope, audience: ctx.form.get('audience') ?? null },
      ttl,
    ),
    token_type: 'Bearer',
    expires_in: ttl,
    scope,
  }
}

/**
 * The scope to grant: what was asked, if the client may have all of it; when nothing was asked,
 * everything the client may have (RFC 6749 §3.3 lets the server pick a default).
 */
export function grantedScope(requested: string | undefined, allowed: readonly string[]): string {
  const want = (requested ?? '').split(' ').filter(Boolean)
  if (allowed.length === 0) return want.join(' ')
  if (want.length === 0) return allowed.join(' ')
  const refused = want.filter((s) => !allowed.includes(s))
  if (refused.length > 0) throw new OAuthError('invalid_scope', `scope not allowed for this client: ${refused.join(' ')}`)
  return want.join(' ')
}

import { OAuthError, type TokenResponse } from '@evergreen/core'
import type { Deps } from '../deps.js'
import { grantedAudience, grantedScope } from '../oauth/scope.js'
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
  const client = ctx.client
  if (client.token_endpoint_auth_method === 'none') {
    throw new OAuthError('unauthorized_client', 'public clients may not use client_credentials')
  }
  const scope = grantedScope(ctx.form.get('scope'), client)
  const ttl = accessTokenTtl(deps.now(), client, deps.settings, null)
  return {
    access_token: signAccessToken(
      deps,
      { sub: client.client_id, client_id: client.client_id, scope, audience: grantedAudience(ctx.form.get('audience'), client) },
      ttl,
    ),
    token_type: 'Bearer',
    expires_in: ttl,
    scope,
  }
}

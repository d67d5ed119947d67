import { OAuthError, type TokenResponse } from '@evergreen/core'
import type { Deps } from '../deps.js'
import { grantedResource } from '../oauth/resource.js'
import { grantedAudience, grantedScope } from '../oauth/scope.js'
import { accessTokenCnf } from '../sessions/dpop-binding.js'
import { tokenResponse } from '../sessions/token-response.js'
import type { GrantContext } from './types.js'

export const grantType = 'client_credentials'
export const parameters = ['scope', 'audience', 'resource'] as const

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
  const audience = grantedAudience(ctx.form.get('audience'), client)
  const resource = grantedResource(ctx.form.get('resource'), client)
  // No session, so no absolute end and no refresh token (§4.4.3).
  const cnf = accessTokenCnf(client, ctx.dpop?.jkt)
  return tokenResponse(deps, client, { sub: client.client_id, client_id: client.client_id, scope, audience, resource, ...(cnf ? { cnf } : {}) }, null)
}

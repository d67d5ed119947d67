import { OAuthError, REFRESH_TOKEN_HEADER, type TokenResponse } from '@evergreen/core'
import type { Deps } from '../deps.js'
import { authenticateClient } from '../http/client-auth.js'
import { lookupRefreshToken, rotateRefreshToken } from '../sessions/rotate.js'
import type { GrantContext } from './types.js'

export const grantType = 'refresh_token'
export const parameters = ['refresh_token', 'scope'] as const

/**
 * RFC 6749 §6 refresh with rotation. The token may come in the body or in the
 * `Evergreen-Refresh-Token` header (which proxies can redact); both at once must agree.
 */
export async function handle(ctx: GrantContext, deps: Deps): Promise<TokenResponse> {
  const fromBody = ctx.form.get('refresh_token')
  const fromHeader = ctx.req.headers.get(REFRESH_TOKEN_HEADER) ?? undefined
  if (fromBody !== undefined && fromHeader !== undefined && fromBody !== fromHeader) {
    throw new OAuthError('invalid_request', 'refresh_token in the body and the Evergreen-Refresh-Token header differ')
  }
  const token = fromBody ?? fromHeader
  if (token === undefined) throw new OAuthError('invalid_request', 'refresh_token is required')

  const lookup = await lookupRefreshToken(deps, token)
  const client = await authenticateClient(deps.store, ctx.client, lookup.view?.client)
  if (!client.grant_types.includes(grantType)) {
    throw new OAuthError('unauthorized_client', 'client may not use the refresh_token grant')
  }
  try {
    const result = await rotateRefreshToken(
      deps,
      { refreshToken: token, clientId: client.client_id, scope: ctx.form.get('scope'), requester: ctx.requester },
      lookup,
    )
    deps.metrics.refreshes.inc({ outcome: result.outcome })
    return result.response
  } catch (err) {
    if (err instanceof OAuthError) deps.metrics.refreshes.inc({ outcome: err.reason ?? err.code })
    throw err
  }
}

import { OAuthError, REFRESH_TOKEN_HEADER, type TokenResponse } from '@evergreen/core'
import type { Deps } from '../deps.js'
import type { OAuthRequest } from '../http/oauth-endpoint.js'
import { lookupRefreshToken, rotateRefreshToken, type RefreshTokenLookup } from '../sessions/rotate.js'
import type { GrantContext, Prepared } from './types.js'

export const grantType = 'refresh_token'
export const parameters = ['refresh_token', 'scope', 'resource'] as const

interface Presented {
  token: string
  lookup: RefreshTokenLookup
}

/**
 * The one joined read of the hot path: token, session and client, before the client is
 * authenticated against the row it found. The token may come in the body or in the
 * `Evergreen-Refresh-Token` header (which proxies can redact); both at once must agree.
 */
export async function prepare(request: OAuthRequest, deps: Deps): Promise<Prepared<Presented>> {
  const fromBody = request.form.get('refresh_token')
  const fromHeader = request.req.headers.get(REFRESH_TOKEN_HEADER) ?? undefined
  if (fromBody !== undefined && fromHeader !== undefined && fromBody !== fromHeader) {
    throw new OAuthError('invalid_request', 'refresh_token in the body and the Evergreen-Refresh-Token header differ')
  }
  const token = fromBody ?? fromHeader
  if (token === undefined) throw new OAuthError('invalid_request', 'refresh_token is required')
  const lookup = await lookupRefreshToken(deps, token)
  return { client: lookup.view?.client, value: { token, lookup } }
}

/** RFC 6749 §6 refresh with rotation (docs/architecture.md "Refresh rotation"). */
export async function handle(ctx: GrantContext, deps: Deps, { token, lookup }: Presented): Promise<TokenResponse> {
  const client = ctx.client
  // RFC 8707 §2.2: a refresh may name the resource again, never another: the session is bound to
  // one, so narrowing it means keeping it.
  const resource = ctx.form.get('resource')
  if (lookup.view && resource !== undefined && resource !== lookup.view.session.resource) {
    throw new OAuthError('invalid_target', 'resource is not the one this session was issued for')
  }
  try {
    const result = await rotateRefreshToken(
      deps,
      { refreshToken: token, clientId: client.client_id, scope: ctx.form.get('scope'), requester: ctx.requester, dpopJkt: ctx.dpop?.jkt },
      lookup,
    )
    deps.metrics.refreshes.inc({ outcome: result.outcome })
    return result.response
  } catch (err) {
    if (err instanceof OAuthError) deps.metrics.refreshes.inc({ outcome: err.reason ?? err.code })
    throw err
  }
}

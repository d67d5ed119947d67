import { OAuthError, type TokenResponse } from '@evergreen/core'
import { hashSecret } from '../crypto/hash.js'
import type { Deps } from '../deps.js'
import { narrowedResource } from '../oauth/resource.js'
import { currentScope } from '../oauth/scope.js'
import { requireBoundKey } from '../sessions/dpop-binding.js'
import { prepareSession, sessionTokenResponse } from '../sessions/issue.js'
import type { GrantContext } from './types.js'

export const grantType = 'urn:ietf:params:oauth:grant-type:device_code'
export const parameters = ['device_code', 'resource'] as const

/**
 * RFC 8628 §3.4 polling. Answers authorization_pending, slow_down (and the interval grows by
 * 5 s, §3.5), access_denied, expired_token; an approved code becomes a session under the same
 * rotation rules as every other session, exactly once.
 */
export async function handle(ctx: GrantContext, deps: Deps): Promise<TokenResponse> {
  const client = ctx.client
  const deviceCode = ctx.form.get('device_code')
  if (deviceCode === undefined) throw new OAuthError('invalid_request', 'device_code is required')
  const hash = hashSecret(deviceCode)
  const now = deps.now()
  const existing = await deps.store.getDeviceCode(hash)
  if (!existing || existing.client_id !== client.client_id) throw new OAuthError('invalid_grant', 'device_code is not recognised')
  // Before the poll is recorded: a presenter without the bound key changes nothing.
  requireBoundKey(existing.dpop_jkt, ctx.dpop?.jkt, 'device_code')
  // RFC 8707 §2.2: the poll may narrow to the resource asked at device authorization, not widen.
  const resource = narrowedResource(ctx.form.get('resource'), existing.resource, client)
  const tooFast = existing.last_polled_at !== null && now - existing.last_polled_at < existing.interval
  const before = await deps.store.recordDevicePoll(hash, now, tooFast && existing.status === 'pending')
  if (!before) throw new OAuthError('invalid_grant', 'device_code is not recognised')
  if (before.expires_at <= now && before.status !== 'consumed') throw new OAuthError('expired_token', 'the device code expired; start again')
  switch (before.status) {
    case 'pending':
      if (tooFast) throw new OAuthError('slow_down', `polling too fast; wait ${before.interval + 5} seconds between requests`)
      throw new OAuthError('authorization_pending', 'waiting for the user to approve')
    case 'denied':
      // RFC 8628 §3.5 errors are token-endpoint errors (RFC 6749 §5.2): HTTP 400.
      throw new OAuthError('access_denied', 'the user denied the request', { status: 400 })
    case 'consumed':
      throw new OAuthError('invalid_grant', 'device_code was already used')
    case 'approved':
      break
  }
  const user = before.user_id === null ? undefined : await deps.store.getUser(before.user_id)
  if (!user || user.disabled_at !== null) throw new OAuthError('access_denied', 'the approving user is no longer active', { status: 400 })
  const prepared = prepareSession(deps, {
    user,
    client,
    kind: 'device',
    // The client may have been narrowed while the person was approving.
    scope: currentScope(before.scope, client),
    requestedTtl: before.requested_ttl,
    resource,
    requester: ctx.requester,
    oidc: { nonce: null, authTime: before.decided_at ?? now },
    dpopJkt: ctx.dpop?.jkt,
  })
  if (!(await deps.store.consumeDeviceCode(hash, prepared.session, prepared.token, prepared.audit))) {
    throw new OAuthError('invalid_grant', 'device_code was already used')
  }
  return sessionTokenResponse(deps, prepared).response
}

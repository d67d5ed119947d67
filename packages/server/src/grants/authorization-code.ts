import { OAuthError, type TokenResponse } from '@evergreen/core'
import { hashSecret } from '../crypto/hash.js'
import type { Deps } from '../deps.js'
import { verifyS256 } from '../oauth/pkce.js'
import { narrowedResource, precheckedResource } from '../oauth/resource.js'
import { currentScope } from '../oauth/scope.js'
import { issueSession } from '../sessions/issue.js'
import { requireBoundKey } from '../sessions/dpop-binding.js'
import { revokeSession } from '../sessions/revoke.js'
import type { GrantContext } from './types.js'

export const grantType = 'authorization_code'
export const parameters = ['code', 'redirect_uri', 'code_verifier', 'refresh_token_ttl', 'resource'] as const

/**
 * RFC 6749 §4.1.3 code exchange with PKCE (RFC 7636). The code is consumed by compare-and-set;
 * a second presentation is treated as an attack and revokes the session the first one produced
 * (§4.1.2: "SHOULD revoke … all tokens previously issued based on that authorization code").
 */
export async function handle(ctx: GrantContext, deps: Deps): Promise<TokenResponse> {
  const client = ctx.client
  const code = ctx.form.get('code')
  if (code === undefined) throw new OAuthError('invalid_request', 'code is required')
  // Form and client allowance are checked before the code is spent, so a malformed resource does
  // not burn it; naming one the person did not authorize does (below): that request tried to widen.
  const asked = ctx.form.get('resource')
  if (asked !== undefined) precheckedResource(asked, client)
  const now = deps.now()
  const hash = hashSecret(code)
  const result = await deps.store.consumeAuthorizationCode(hash, now)
  if (!result) throw new OAuthError('invalid_grant', 'authorization code is not recognised')
  const record = result.code
  if (record.client_id !== client.client_id) throw new OAuthError('invalid_grant', 'authorization code was issued to another client')
  // RFC 9449 §10: a code bound by `dpop_jkt` is redeemed only with that key. Before the reuse
  // check, so a replayed code without the key cannot revoke the owner's session.
  requireBoundKey(record.dpop_jkt, ctx.dpop?.jkt, 'authorization code')
  if (!result.consumed) {
    if (record.session_id) {
      // A code's session is a person's own sign-in, never delegated: no actors to name.
      const session = { id: record.session_id, user_id: record.user_id, client_id: client.client_id, act: null }
      await revokeSession(deps, session, 'code_reused', ctx.requester)
    }
    throw new OAuthError('invalid_grant', 'authorization code was already used')
  }
  if (record.expires_at <= now) throw new OAuthError('invalid_grant', 'authorization code expired')
  // RFC 6749 §4.1.3: redirect_uri must be identical to the one in the authorization request.
  if (ctx.form.get('redirect_uri') !== record.redirect_uri) throw new OAuthError('invalid_grant', 'redirect_uri does not match the authorization request')
  const verifier = ctx.form.get('code_verifier')
  if (record.code_challenge !== null) {
    if (verifier === undefined) throw new OAuthError('invalid_grant', 'code_verifier is required')
    if (!verifyS256(verifier, record.code_challenge)) throw new OAuthError('invalid_grant', 'code_verifier does not match the code_challenge')
  } else if (verifier !== undefined) {
    // RFC 9700 §2.1.1: a verifier without a challenge is a downgrade attempt.
    throw new OAuthError('invalid_grant', 'code_verifier given but no code_challenge was sent')
  }
  // RFC 8707 §2.2: the token request may narrow what /authorize approved, never widen it.
  const resource = narrowedResource(asked, record.resource, client)
  const user = await deps.store.getUser(record.user_id)
  if (!user || user.disabled_at !== null) throw new OAuthError('invalid_grant', 'the user of this code is no longer active')
  const issued = await issueSession(deps, {
    user,
    client,
    kind: 'browser',
    // The client may have been narrowed since the code was issued.
    scope: currentScope(record.scope, client),
    requestedTtl: ctx.form.get('refresh_token_ttl'),
    resource,
    requester: ctx.requester,
    oidc: { nonce: record.nonce, authTime: record.auth_time },
    dpopJkt: ctx.dpop?.jkt,
  })
  await deps.store.setAuthorizationCodeSession(hash, issued.session.id)
  // A client not registered for the refresh_token grant could only be refused with this token,
  // so it does not get one (the session cannot be renewed; it lapses at its idle expiry).
  if (!client.grant_types.includes('refresh_token')) {
    const { refresh_token: _unusable, refresh_token_expires_in: _lifetime, ...accessOnly } = issued.response
    return accessOnly
  }
  return issued.response
}

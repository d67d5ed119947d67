import { isDpopJkt, OAuthError } from '@evergreen/core'
import { hashSecret } from '../crypto/hash.js'
import type { Deps } from '../deps.js'
import { grantType as DEVICE_GRANT } from '../grants/device-code.js'
import { authenticateClient } from '../http/client-auth.js'
import { checkDpopProof } from '../http/dpop-proof.js'
import { noStoreJson } from '../http/errors.js'
import { oauthEndpoint, type RequestHead } from '../http/oauth-endpoint.js'
import type { RateLimit } from '../http/rate-limit.js'
import { authorizedResources } from '../oauth/resource.js'
import { grantedScope } from '../oauth/scope.js'
import { formatUserCode, generateUserCode, userCodeDigest } from '../oauth/user-code.js'
import { resolveRefreshTtl } from '../sessions/lifetimes.js'
import { StoreConflictError } from '../store/types.js'

/** The endpoint's path under the issuer, as discovery publishes it (a proof's `htu`). */
export const DEVICE_AUTHORIZATION_PATH = '/oauth/device_authorization'
const EXPIRES_IN = 600
const INTERVAL = 5

/**
 * RFC 8628 §3.1–3.2 device authorization: hands the device a device_code to poll with and the
 * person a short user_code to type at `verification_uri` (or a link that carries it).
 */
export function deviceAuthorizationEndpoint(deps: Deps, rateLimit: RateLimit) {
  return oauthEndpoint(deps, rateLimit, 'deviceAuthorizationEndpoint', async ({ req, form, client: presented }) => {
    const client = await authenticateClient(deps.store, presented)
    if (!client.grant_types.includes(DEVICE_GRANT)) throw new OAuthError('unauthorized_client', 'client may not use the device flow')
    const scope = grantedScope(form.get('scope'), client)
    // RFC 8707 §2.1 at device authorization too, so what the person approves names the resource.
    // One value: this form, like the token endpoint's, refuses repeated parameters.
    const resource = authorizedResources([form.get('resource') ?? ''], client)
    const ttl = form.get('refresh_token_ttl')
    // Validated now by the same rule the session's issuance applies when the device polls:
    // a value that passed here and failed there (0, say) made every poll fail after the person
    // had already approved.
    if (ttl !== undefined) resolveRefreshTtl(ttl, client, deps.settings)
    const dpopJkt = await deviceDpopJkt(deps, req, form, client.require_dpop === true)
    const deviceCode = deps.random.secret('egd')
    const now = deps.now()
    for (let attempt = 0; ; attempt++) {
      const userCode = generateUserCode()
      try {
        await deps.store.createDeviceCode({
          hash: hashSecret(deviceCode),
          user_code: userCodeDigest(deps.pageKey, userCode),
          client_id: client.client_id,
          scope,
          requested_ttl: ttl === undefined ? null : Number(ttl),
          resource,
          created_at: now,
          expires_at: now + EXPIRES_IN,
          interval: INTERVAL,
          last_polled_at: null,
          status: 'pending',
          user_id: null,
          decided_at: null,
          session_id: null,
          dpop_jkt: dpopJkt,
        })
        const verificationUri = `${deps.settings.issuer}/device`
        return noStoreJson({
          device_code: deviceCode,
          user_code: formatUserCode(userCode),
          verification_uri: verificationUri,
          verification_uri_complete: `${verificationUri}?user_code=${formatUserCode(userCode)}`,
          expires_in: EXPIRES_IN,
          interval: INTERVAL,
        })
      } catch (err) {
        // A clash among 2.6e10 codes is rare; a second one means something else is wrong.
        if (!(err instanceof StoreConflictError) || attempt >= 2) throw err
      }
    }
  })
}

/**
 * The key the device code is bound to: a DPoP proof sent with the device authorization request,
 * or its `dpop_jkt` parameter (as RFC 9449 §10 defines for /authorize); both must agree. The poll
 * that redeems the code must then prove that key (grants/device-code.ts).
 */
async function deviceDpopJkt(deps: Deps, req: RequestHead, form: Map<string, string>, required: boolean): Promise<string | null> {
  const param = form.get('dpop_jkt')
  if (param !== undefined && !isDpopJkt(param)) throw new OAuthError('invalid_request', 'dpop_jkt must be a base64url SHA-256 JWK thumbprint')
  const proof = await checkDpopProof(deps, req, { method: 'POST', path: DEVICE_AUTHORIZATION_PATH, nonce: true })
  if (proof && param !== undefined && proof.jkt !== param) throw new OAuthError('invalid_dpop_proof', 'dpop_jkt does not match the DPoP proof key')
  const jkt = proof?.jkt ?? param ?? null
  if (jkt === null && required) throw new OAuthError('invalid_dpop_proof', 'this client must send a DPoP proof or dpop_jkt')
  return jkt
}

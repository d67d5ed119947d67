import { CLIENT_ASSERTION_ALGS, DPOP_SIGNING_ALGS, MAX_REFRESH_TOKEN_TTL_SECONDS, REFRESH_TOKEN_HEADER, STANDARD_SCOPES, TOKEN_ENDPOINT_AUTH_METHODS } from '@evergreen/core'
import type { Deps } from '../deps.js'
import { SERVED_GRANT_TYPES } from '../grants/registry.js'
import { PROMPT_VALUES } from '../oauth/prompt.js'
import { REVOCATION_PATH } from './revocation.js'

/**
 * Authorization-server metadata (RFC 8414), served at both well-known paths. It lists only what
 * exists: the grants from the registry, the auth methods the token endpoint implements, and the
 * algorithms of the keys we sign with.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-2
 */
export function serverMetadata(deps: Pick<Deps, 'settings' | 'keys'>): Record<string, unknown> {
  const iss = deps.settings.issuer
  const algs = [...new Set(deps.keys.list().map((k) => k.alg))]
  return {
    issuer: iss,
    authorization_endpoint: `${iss}/authorize`,
    token_endpoint: `${iss}/oauth/token`,
    device_authorization_endpoint: `${iss}/oauth/device_authorization`,
    userinfo_endpoint: `${iss}/userinfo`,
    // DPoP proofs at revocation name exactly this URL as `htu`.
    revocation_endpoint: `${iss}${REVOCATION_PATH}`,
    introspection_endpoint: `${iss}/oauth/introspect`,
    end_session_endpoint: `${iss}/oauth/end-session`,
    jwks_uri: `${iss}/.well-known/jwks.json`,
    // RFC 7591 §3: advertised only when served (EVERGREEN_DYNAMIC_REGISTRATION).
    ...(deps.settings.dynamicRegistration ? { registration_endpoint: `${iss}/oauth/register` } : {}),
    // An https URL as client_id names a Client ID Metadata Document (EVERGREEN_CLIENT_METADATA_DOCUMENTS).
    client_id_metadata_document_supported: deps.settings.clientMetadataDocuments,
    grant_types_supported: SERVED_GRANT_TYPES,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    code_challenge_methods_supported: ['S256'],
    // Defined by OIDC "Initiating User Registration" (prompt=create), which is not among ours.
    prompt_values_supported: [...PROMPT_VALUES],
    authorization_response_iss_parameter_supported: true,
    token_endpoint_auth_methods_supported: TOKEN_ENDPOINT_AUTH_METHODS,
    token_endpoint_auth_signing_alg_values_supported: CLIENT_ASSERTION_ALGS,
    revocation_endpoint_auth_methods_supported: TOKEN_ENDPOINT_AUTH_METHODS,
    revocation_endpoint_auth_signing_alg_values_supported: CLIENT_ASSERTION_ALGS,
    // Introspection answers only confidential clients: it reveals other clients' tokens' state.
    introspection_endpoint_auth_methods_supported: TOKEN_ENDPOINT_AUTH_METHODS.filter((m) => m !== 'none'),
    introspection_endpoint_auth_signing_alg_values_supported: CLIENT_ASSERTION_ALGS,
    // RFC 9449 §5.1: the proof algorithms the token endpoint (and userinfo) accept.
    dpop_signing_alg_values_supported: DPOP_SIGNING_ALGS,
    scopes_supported: STANDARD_SCOPES,
    access_token_signing_alg_values_supported: algs,
    id_token_signing_alg_values_supported: algs,
    subject_types_supported: ['public'],
    // OIDC Back-Channel Logout §2.1: logout tokens carry `sid` as well as `sub`.
    backchannel_logout_supported: true,
    backchannel_logout_session_supported: true,
    claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'jti', 'client_id', 'scope', 'sid', 'email', 'name'],
    // Evergreen extensions, namespaced so generic clients ignore them.
    evergreen_refresh_token_header: REFRESH_TOKEN_HEADER,
    evergreen_refresh_token_ttl_max: MAX_REFRESH_TOKEN_TTL_SECONDS,
  }
}

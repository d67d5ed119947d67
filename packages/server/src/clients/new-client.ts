import type { ClientRecord } from '../store/types.js'

/** What every new client names; everything else starts where an untuned client starts. */
export type NewClient = Pick<ClientRecord, 'client_id' | 'name' | 'grant_types' | 'token_endpoint_auth_method' | 'created_at'> & Partial<ClientRecord>

/**
 * A client record with the defaults filled in: no secret, no redirect or logout URIs, no extra
 * scopes or audiences, the service's lifetimes, third party, no exchange policy, no DPoP
 * requirement, registered by an operator. The one place those defaults live, for every code path
 * that makes a client without the admin API's validation (the built-in CLI client, dynamic
 * registration, metadata-document clients).
 */
export function newClientRecord(init: NewClient): ClientRecord {
  return {
    secret_hash: null,
    previous_secret_hash: null,
    previous_secret_expires_at: null,
    redirect_uris: [],
    post_logout_redirect_uris: [],
    backchannel_logout_uri: null,
    jwks: null,
    jwks_uri: null,
    allowed_scopes: [],
    allowed_audiences: [],
    access_token_ttl: null,
    refresh_token_ttl: null,
    refresh_token_ttl_max: null,
    session_max_lifetime: null,
    first_party: false,
    default_resource: null,
    token_exchange: null,
    require_dpop: false,
    dpop_bound_access_tokens: false,
    registration: null,
    last_used_at: null,
    expires_at: null,
    updated_at: init.created_at,
    ...init,
  }
}

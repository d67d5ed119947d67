import type { TokenResponse } from '@evergreen/core'
// What the admin API returns (packages/server/src/admin/views.ts), field names as on the wire.
// Declared here rather than imported so a client-only install never needs @evergreen/server.

export interface UserView {
  id: string
  email: string
  name: string | null
  has_password: boolean
  created_at: number
  disabled_at: number | null
}

export interface ClientView {
  client_id: string
  name: string
  redirect_uris: string[]
  post_logout_redirect_uris: string[]
  backchannel_logout_uri: string | null
  grant_types: string[]
  token_endpoint_auth_method: 'none' | 'client_secret_basic' | 'client_secret_post'
  allowed_scopes: string[]
  allowed_audiences: string[]
  access_token_ttl: number | null
  refresh_token_ttl: number | null
  refresh_token_ttl_max: number | null
  session_max_lifetime: number | null
  first_party: boolean
  created_at: number
  updated_at: number
  /** Only in the response that created the client: shown once, only its hash is kept. */
  client_secret?: string
}

export interface SessionView {
  id: string
  user_id: string | null
  client_id: string
  kind: string
  scope: string
  audience: string | null
  created_at: number
  last_refreshed_at: number | null
  idle_expires_at: number
  absolute_expires_at: number | null
  refresh_ttl: number
  generation: number
  revoked_at: number | null
  revoked_reason: string | null
  parent_id: string | null
  name: string | null
  user_agent: string | null
  ip: string | null
  active: boolean
}

export interface AuditEventView {
  id: string
  type: string
  at: number
  session_id: string | null
  user_id: string | null
  client_id: string | null
  ip: string | null
  user_agent: string | null
  data: Record<string, unknown>
}

export interface KeyView {
  kid: string
  alg: 'ES256' | 'RS256'
  status: 'published' | 'active' | 'retired' | 'revoked'
  created_at: number
  activates_at: number
  retired_at: number | null
  expires_at: number | null
}

/** `POST /admin/v1/tokens`: a token response plus the session and the portable credential. */
export interface MintedSession extends TokenResponse {
  session_id: string
  credential: string
}

import type { ClientView, KeyView, LoginSessionView, SessionView, UserView } from '@evergreen/core'
import { loginSessionId } from '../sessions/login-session-id.js'
import type { ClientRecord, LoginSessionRecord, SessionRecord, SigningKeyRecord, UserRecord } from '../store/types.js'

// What the admin API shows of each record: never a hash of a password, secret or token.

export function userView(u: UserRecord): UserView {
  return { id: u.id, email: u.email, name: u.name, has_password: u.password_hash !== null, created_at: u.created_at, disabled_at: u.disabled_at }
}

export function clientView(c: ClientRecord): ClientView {
  const { secret_hash: _omit, previous_secret_hash: _previous, ...rest } = c
  return {
    ...rest, jwks: c.jwks ?? null, jwks_uri: c.jwks_uri ?? null, previous_secret_expires_at: c.previous_secret_expires_at ?? null,
    // Marks clients no operator created: `dynamic` (RFC 7591) or `metadata_document`.
    registration: c.registration ?? 'admin', last_used_at: c.last_used_at ?? null, expires_at: c.expires_at ?? null,
    require_dpop: c.require_dpop ?? false,
    dpop_bound_access_tokens: c.dpop_bound_access_tokens ?? false,
  }
}

export function sessionView(s: SessionRecord, now: number): SessionView {
  const active = s.revoked_at === null && s.idle_expires_at > now && (s.absolute_expires_at === null || s.absolute_expires_at > now)
  return { ...s, act: s.act === null ? null : (JSON.parse(s.act) as Record<string, unknown>), active }
}

/** A browser sign-in, by its public id: never the cookie hash, which is the lookup key. */
export function loginSessionView(l: LoginSessionRecord): LoginSessionView {
  return {
    id: loginSessionId(l),
    user_id: l.user_id,
    method: l.method,
    created_at: l.created_at,
    expires_at: l.expires_at,
    ip: l.ip,
    user_agent: l.user_agent,
  }
}

export function keyView(k: SigningKeyRecord, now: number): KeyView {
  const status: KeyView['status'] =
    k.activates_at > now ? 'published' : k.retired_at !== null && k.retired_at <= now ? 'retired' : 'active'
  return {
    kid: k.kid,
    alg: k.alg,
    status,
    created_at: k.created_at,
    activates_at: k.activates_at,
    retired_at: k.retired_at,
    expires_at: k.expires_at,
  }
}

import type { SessionAccount, SessionStatus } from '@evergreen/client'
import { formatInstant, formatSpan } from './time-format.js'

/** `ada@example.com (usr_…)`, or the subject alone; `unknown account` when the token names none. */
export function describeAccount(account: SessionAccount | undefined): string {
  if (!account) return 'unknown account'
  return account.email ? `${account.email} (${account.sub})` : account.sub
}

/**
 * The JSON shape login, refresh and status print for a session: wire-style names, instants as
 * ISO 8601, seconds left as numbers. Never a token.
 */
export function sessionJson(s: SessionStatus, now: number): Record<string, unknown> {
  const out: Record<string, unknown> = { issuer: s.issuer ?? null, profile: s.profile, client_id: s.client_id ?? null, account: s.account ?? null }
  if (s.renewable !== undefined) out.renewable = s.renewable
  if (s.token_type !== undefined) out.token_type = s.token_type
  // Whether the token service bound the session to a DPoP key at issuance, and the key the SDK
  // proves on every renewal (its RFC 7638 thumbprint; also for a pasted credential, which the
  // server did not bind).
  if (s.client_id !== undefined) {
    out.key_bound = s.dpop_jkt !== undefined && s.dpop_bound_at_issuance === true
    out.dpop_jkt = s.dpop_jkt ?? null
  }
  if (s.scope !== undefined) out.scope = s.scope
  if (s.access_token_expires_at !== undefined) {
    out.access_token_expires_at = formatInstant(s.access_token_expires_at)
    out.access_token_expires_in = Math.round((s.access_token_expires_at - now) / 1000)
  }
  if (s.refresh_token_expires_at !== undefined) {
    out.refresh_token_expires_at = formatInstant(s.refresh_token_expires_at)
    out.refresh_token_expires_in = Math.round((s.refresh_token_expires_at - now) / 1000)
  }
  return out
}

/** One line on how long the session lasts: renewing, or access-only with its end. */
export function describeLifetime(s: SessionStatus, now: number): string {
  if (s.renewable === false) {
    return s.access_token_expires_at !== undefined ? `It cannot be renewed and stops working at ${formatInstant(s.access_token_expires_at)}.` : 'It cannot be renewed.'
  }
  if (s.refresh_token_expires_at === undefined) return 'It renews itself while in use.'
  return `It renews itself while in use, and ends after ${formatSpan(s.refresh_token_expires_at - now)} without use.`
}

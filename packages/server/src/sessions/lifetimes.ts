import { MAX_REFRESH_TOKEN_TTL_SECONDS, OAuthError } from '@evergreen/core'
import type { Settings } from '../settings.js'
import type { ClientRecord, SessionRecord } from '../store/types.js'

/**
 * The refresh TTL of a new session (docs/architecture.md "Lifetimes"): from the request, else the client's
 * default, else the server's; capped at the client's maximum and at 90 days whatever is asked.
 * Fixed here, at issuance, and carried through every rotation.
 *
 * @throws OAuthError invalid_request when `requested` is not a positive whole number of seconds
 */
export function resolveRefreshTtl(requested: string | number | undefined, client: ClientRecord, settings: Settings): number {
  let ttl = client.refresh_token_ttl ?? settings.refreshTokenTtl
  if (requested !== undefined && requested !== '') {
    const n = typeof requested === 'number' ? requested : /^\d{1,12}$/.test(requested) ? Number(requested) : NaN
    if (!Number.isSafeInteger(n) || n <= 0) {
      throw new OAuthError('invalid_request', 'refresh_token_ttl must be a positive whole number of seconds')
    }
    ttl = n
  }
  return Math.min(ttl, client.refresh_token_ttl_max ?? MAX_REFRESH_TOKEN_TTL_SECONDS, MAX_REFRESH_TOKEN_TTL_SECONDS)
}

/** When the session ends whatever happens, or null for silent indefinite renewal. */
export function absoluteExpiry(createdAt: number, client: ClientRecord): number | null {
  return client.session_max_lifetime ? createdAt + client.session_max_lifetime : null
}

/** The idle expiry after a rotation at `now`: slides by the session's own TTL, never past the absolute end. */
export function slideIdleExpiry(now: number, session: Pick<SessionRecord, 'refresh_ttl' | 'absolute_expires_at'>): number {
  const idle = now + session.refresh_ttl
  return session.absolute_expires_at === null ? idle : Math.min(idle, session.absolute_expires_at)
}

/** Access-token lifetime for a client, never outliving an absolute session end. */
export function accessTokenTtl(now: number, client: ClientRecord, settings: Settings, absoluteExpiresAt: number | null): number {
  const ttl = client.access_token_ttl ?? settings.accessTokenTtl
  return absoluteExpiresAt === null ? ttl : Math.max(0, Math.min(ttl, absoluteExpiresAt - now))
}

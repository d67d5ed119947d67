import type { Deps } from '../deps.js'
import type { ClientRecord, SessionRecord } from '../store/types.js'

/** Why a validly signed access token no longer counts; logged, never sent. */
export type AccessTokenRefusal = 'revoked_jti' | 'client_gone' | 'session_gone' | 'session_ended' | 'subject_mismatch'

export type AccessTokenState =
  | { live: true; client: ClientRecord; session: SessionRecord | undefined }
  | { live: false; reason: AccessTokenRefusal }

/**
 * What the store says about an access token whose signature, issuer, typ and expiry already
 * passed. The JWT alone cannot know that its client was deleted, its session revoked, or (for a
 * session-less `client_credentials` token) that it was revoked by `jti` (RFC 7009): every
 * server-side check of an access token — introspection, userinfo — goes through here.
 *
 * @param payload the verified claims
 * @example
 * const state = await accessTokenState(deps, payload)
 * if (!state.live) return { active: false }
 * @see https://www.rfc-editor.org/rfc/rfc7662#section-2.2
 */
export async function accessTokenState(deps: Pick<Deps, 'store' | 'now'>, payload: Record<string, unknown>): Promise<AccessTokenState> {
  const now = deps.now()
  if (typeof payload.jti === 'string' && (await deps.store.isAccessTokenDenied(payload.jti))) return { live: false, reason: 'revoked_jti' }
  // getClient answers only for clients that are not deleted.
  const client = typeof payload.client_id === 'string' ? await deps.store.getClient(payload.client_id) : undefined
  if (!client) return { live: false, reason: 'client_gone' }
  if (typeof payload.sid !== 'string') {
    // Without a session the token speaks for the client itself (client_credentials).
    return payload.sub === client.client_id ? { live: true, client, session: undefined } : { live: false, reason: 'subject_mismatch' }
  }
  const session = await deps.store.getSession(payload.sid)
  if (!session) return { live: false, reason: 'session_gone' }
  if (!sessionLive(session, now)) return { live: false, reason: 'session_ended' }
  // A token naming one session but another subject or client was not issued by us as such.
  if (session.client_id !== client.client_id || payload.sub !== (session.user_id ?? session.client_id)) {
    return { live: false, reason: 'subject_mismatch' }
  }
  return { live: true, client, session }
}

/** Not revoked and not past its hard end (the idle expiry governs the refresh token, not this). */
export function sessionLive(session: SessionRecord, now: number): boolean {
  return session.revoked_at === null && (session.absolute_expires_at === null || session.absolute_expires_at > now)
}

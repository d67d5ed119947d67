import { sessionAuditEvent, type AuditedSession, type Requester } from '../audit.js'
import type { Deps } from '../deps.js'

/**
 * Why a session was revoked, as `revoked_reason` and the `session.revoked` event's `data.reason`
 * record it. Stable: whoever reads the audit log switches on these.
 */
export const SESSION_REVOCATION_REASONS = [
  'revoked_by_admin',
  'revoked_by_client',
  'revoked_by_user',
  'reuse_detected',
  'code_reused',
  /** The agent's token-exchange policy no longer covers the delegated session (oauth/delegation.ts). */
  'exchange_policy_withdrawn',
] as const

/** One of {@link SESSION_REVOCATION_REASONS}. */
export type SessionRevocationReason = (typeof SESSION_REVOCATION_REASONS)[number]

/**
 * Revokes a session and its delegated descendants, queues their back-channel logouts and writes
 * the `session.revoked` audit event, all in one store call (docs/architecture.md "The session
 * model"). Every path that ends a session — the admin API, `/oauth/revoke`, `/settings/sessions`,
 * refresh-token reuse, authorization-code replay — comes through here, so the event always says
 * who, what and why the same way.
 *
 * @param session the session to end: its id, and the user, client and actors the event names
 * @returns how many sessions changed (0 when it was already revoked)
 * @example await revokeSession(deps, session, 'revoked_by_admin', requesterOf(c, deps.settings))
 */
export function revokeSession(
  deps: Pick<Deps, 'store' | 'now' | 'random'>,
  session: AuditedSession,
  reason: SessionRevocationReason,
  requester: Requester,
): Promise<number> {
  return deps.store.revokeSession(session.id, deps.now(), reason, sessionAuditEvent(deps, 'session.revoked', session, { requester, data: { reason } }))
}

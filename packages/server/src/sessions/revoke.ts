import { sessionAuditEvent, type AuditedSession, type Requester } from '../audit.js'
import type { Deps } from '../deps.js'
import type { CascadeAudit } from '../store/types.js'

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
  /**
   * The reason on the `session.revoked` event of a delegated session that went with its parent
   * (every path above, and client deletion and user disable): `data.parent_id` names the parent.
   * Its `revoked_reason` column keeps the revocation's own reason.
   */
  'parent_revoked',
] as const

/** One of {@link SESSION_REVOCATION_REASONS}. */
export type SessionRevocationReason = (typeof SESSION_REVOCATION_REASONS)[number]

const PARENT_REVOKED: SessionRevocationReason = 'parent_revoked'

/**
 * The `session.revoked` event of each delegated session a revocation takes with its parent:
 * reason `parent_revoked`, `parent_id`, and (through {@link sessionAuditEvent}) `sub`/`act`. The
 * store writes them in the revocation's transaction (docs/architecture.md "Audit events").
 *
 * @example await deps.store.deleteClient(id, deps.now(), event, revokedWithParent(deps, requester))
 */
export function revokedWithParent(deps: Pick<Deps, 'now' | 'random'>, requester: Requester | null): CascadeAudit {
  return (session) => sessionAuditEvent(deps, 'session.revoked', session, {
    ...(requester ? { requester } : {}),
    data: { reason: PARENT_REVOKED, parent_id: session.parent_id },
  })
}

/**
 * Revokes a session and its delegated descendants, queues their back-channel logouts and writes
 * the `session.revoked` audit events (the session's, and one per descendant, see
 * {@link revokedWithParent}), all in one store call (docs/architecture.md "The session
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
  const event = sessionAuditEvent(deps, 'session.revoked', session, { requester, data: { reason } })
  return deps.store.revokeSession(session.id, deps.now(), reason, event, revokedWithParent(deps, requester))
}

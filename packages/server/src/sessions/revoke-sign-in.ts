import { auditEvent, type Requester } from '../audit.js'
import type { Deps } from '../deps.js'
import type { LoginSessionRecord } from '../store/types.js'
import { loginSessionId } from './login-session-id.js'

/**
 * Why a browser sign-in was revoked, as the `login_session.revoked` event's `data.reason` records
 * it. Stable: whoever reads the audit log switches on these.
 */
export const SIGN_IN_REVOCATION_REASONS = ['revoked_by_admin', 'revoked_by_user'] as const

/** One of {@link SIGN_IN_REVOCATION_REASONS}. */
export type SignInRevocationReason = (typeof SIGN_IN_REVOCATION_REASONS)[number]

/** Which of a user's browser sign-ins to end: one, or every live one but `except` (a hash; null: none spared). */
export type SignInTarget = { one: LoginSessionRecord } | { allBut: string | null }

/**
 * Ends browser sign-ins (login sessions) of one user and writes the `login_session.revoked` audit
 * event in the same store call: `data.reason`, and `data.scope` — `one` (with the sign-in's public
 * `login_session_id`), `all`, or `all_others` (every one but the browser asking). The admin API
 * and `/settings/sessions` both come through here, as every session revocation goes through
 * `revokeSession` (sessions/revoke.ts). Signing out (`/logout`, end-session) is not a revocation
 * by someone else and writes `logout.succeeded` instead (pages/browser-session.ts).
 *
 * @returns how many sign-ins changed (0 when already ended: no event then)
 * @example await revokeSignIns(deps, user.id, { allBut: null }, 'revoked_by_admin', who(c))
 */
export async function revokeSignIns(
  deps: Pick<Deps, 'store' | 'now' | 'random'>,
  userId: string,
  target: SignInTarget,
  reason: SignInRevocationReason,
  requester: Requester,
): Promise<number> {
  const now = deps.now()
  if ('one' in target) {
    const event = auditEvent(deps, 'login_session.revoked', {
      user_id: userId,
      ...requester,
      data: { reason, scope: 'one', login_session_id: loginSessionId(target.one) },
    })
    return (await deps.store.revokeLoginSession(target.one.hash, now, event)) ? 1 : 0
  }
  const scope = target.allBut === null ? 'all' : 'all_others'
  return deps.store.revokeLoginSessions(userId, now, target.allBut, auditEvent(deps, 'login_session.revoked', {
    user_id: userId,
    ...requester,
    data: { reason, scope },
  }))
}

import type { Requester } from '../audit.js'
import type { Deps } from '../deps.js'
import { delegationWithdrawn } from '../oauth/delegation.js'
import type { ClientRecord, SessionRecord } from '../store/types.js'
import { sessionLive } from './access-token-state.js'
import { revokeSession } from './revoke.js'

/**
 * {@link delegationWithdrawn} for a stored session: reads the client of the session it hangs from
 * (a delegated session only, so a person's refresh pays no extra read).
 *
 * @example const why = await withdrawnDelegation(deps, view.session, view.client)
 */
export async function withdrawnDelegation(
  deps: Pick<Deps, 'store'>,
  session: SessionRecord,
  client: Pick<ClientRecord, 'allowed_scopes' | 'token_exchange'>,
): Promise<string | undefined> {
  if (session.kind !== 'delegated') return undefined
  const parent = session.parent_id === null ? undefined : await deps.store.getSession(session.parent_id)
  return delegationWithdrawn(session, client, parent?.client_id)
}

/**
 * Ends every live delegated session of `client` that its token-exchange policy no longer covers,
 * with their descendants: run when an admin changes or removes the policy, so the sessions stop at
 * once — introspection, `/settings/sessions` and back-channel logout all see it — and do not wait
 * for the agent's next refresh (which refuses them too, in case this pass missed one).
 *
 * @returns how many sessions were revoked
 * @example await revokeWithdrawnDelegations(deps, updatedClient, who(c))
 */
export async function revokeWithdrawnDelegations(deps: Deps, client: ClientRecord, requester: Requester): Promise<number> {
  const now = deps.now()
  const withdrawn: SessionRecord[] = []
  let cursor: string | undefined
  do {
    const page = await deps.store.listSessions({ client_id: client.client_id, active_at: now, limit: 100, cursor })
    for (const s of page.items) {
      if (sessionLive(s, now) && (await withdrawnDelegation(deps, s, client)) !== undefined) withdrawn.push(s)
    }
    cursor = page.next_cursor ?? undefined
  } while (cursor !== undefined)
  let revoked = 0
  // Collected first, revoked after: revoking while paging would move rows out of the active list.
  for (const s of withdrawn) revoked += await revokeSession(deps, s, 'exchange_policy_withdrawn', requester)
  return revoked
}

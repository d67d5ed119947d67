import type { ClientRecord, SessionRecord } from '../store/types.js'
import { sessionScopeNow } from './scope.js'

/**
 * Why an agent may no longer hold a delegated session under its client's current token-exchange
 * policy, or undefined while the policy still covers it (docs/architecture.md "The session
 * model"). The policy is the agent's authority to act for people, so a session it no longer
 * covers ends rather than living on with less:
 *
 * - no policy at all, or the person's client dropped from `subject_clients`: the agent may no
 *   longer act for that person at all;
 * - the session's resource or audience no longer listed: its tokens are bound to a target the
 *   agent may no longer reach, and a session never trades its resource for another;
 * - none of its scope still allowed: a session with an empty scope would be a live credential
 *   that authorises nothing the person gave.
 *
 * A narrower `allowed_scopes` that still leaves some of the session's scope is not a withdrawal:
 * each refresh re-intersects ({@link sessionScopeNow}). The returned text is public: it goes into
 * the refresh's `error_description`.
 *
 * @param parentClientId the client of the session it was delegated from, when that still exists
 * @example delegationWithdrawn(session, { ...agent, token_exchange: null }, 'app') // 'the agent no longer has a token-exchange policy'
 * @see https://www.rfc-editor.org/rfc/rfc8693#section-5
 */
export function delegationWithdrawn(
  session: Pick<SessionRecord, 'kind' | 'scope' | 'audience' | 'resource'>,
  client: Pick<ClientRecord, 'allowed_scopes' | 'token_exchange'>,
  parentClientId: string | undefined,
): string | undefined {
  if (session.kind !== 'delegated') return undefined
  const policy = client.token_exchange
  if (policy === null) return 'the agent no longer has a token-exchange policy'
  if (parentClientId !== undefined && !policy.subject_clients.includes(parentClientId)) {
    return "the agent's token-exchange policy no longer lists the person's client"
  }
  if (session.resource !== null && !policy.allowed_resources.includes(session.resource)) {
    return "the agent's token-exchange policy no longer lists this session's resource"
  }
  if (session.audience !== null && !policy.allowed_audiences.includes(session.audience)) {
    return "the agent's token-exchange policy no longer lists this session's audience"
  }
  if (session.scope !== '' && sessionScopeNow(session, client) === '') {
    return "the agent's token-exchange policy no longer allows any of this session's scope"
  }
  return undefined
}

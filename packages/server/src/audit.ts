import type { Deps } from './deps.js'
import type { AuditEvent, AuditEventType } from './store/types.js'

/** Who made a request, as audit events and sessions record it. */
export interface Requester {
  ip: string | null
  user_agent: string | null
}

/** Builds an audit event stamped with the injected clock and a fresh id. */
export function auditEvent(
  deps: Pick<Deps, 'now' | 'random'>,
  type: AuditEventType,
  fields: Partial<Omit<AuditEvent, 'id' | 'type' | 'at'>> = {},
): AuditEvent {
  return {
    id: deps.random.id('evt'),
    type,
    at: deps.now(),
    session_id: fields.session_id ?? null,
    user_id: fields.user_id ?? null,
    client_id: fields.client_id ?? null,
    ip: fields.ip ?? null,
    user_agent: fields.user_agent ?? null,
    data: fields.data ?? {},
  }
}

import type { Deps } from './deps.js'
import type { AuditEvent, AuditEventType, SessionRecord } from './store/types.js'

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

/** What an event about a session names: the session, its person, its client and its actors. */
export type AuditedSession = Pick<SessionRecord, 'id' | 'user_id' | 'client_id' | 'act'>

/**
 * Builds an audit event about a session: its id, its user and its client, and — for a delegated
 * session — `data.sub` (the person) and `data.act` (the RFC 8693 actor chain, newest actor
 * outermost). Every event about a session (creation, rotation, replay, superseded or reused
 * token, failure, revocation) is built here, so none can name the person and forget who was
 * acting for them (docs/architecture.md "Audit events").
 *
 * @param session the session the event is about
 * @param fields `client_id` when the presenter is not the session's client (a refused refresh)
 * @example sessionAuditEvent(deps, 'refresh.succeeded', session, { requester, data: { generation: 2 } })
 * @see https://www.rfc-editor.org/rfc/rfc8693#section-4.1
 */
export function sessionAuditEvent(
  deps: Pick<Deps, 'now' | 'random'>,
  type: AuditEventType,
  session: AuditedSession,
  fields: { requester?: Requester; client_id?: string; data?: Record<string, unknown> } = {},
): AuditEvent {
  const actors = session.act === null ? {} : { sub: session.user_id, act: JSON.parse(session.act) as unknown }
  return auditEvent(deps, type, {
    session_id: session.id,
    user_id: session.user_id,
    client_id: fields.client_id ?? session.client_id,
    ...fields.requester,
    data: { ...fields.data, ...actors },
  })
}

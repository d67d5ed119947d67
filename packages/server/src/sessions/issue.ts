import type { TokenResponse } from '@evergreen/core'
import { sessionAuditEvent, type Requester } from '../audit.js'
import { hashSecret } from '../crypto/hash.js'
import type { Deps } from '../deps.js'
import type { AuditEvent, ClientRecord, RefreshTokenRecord, SessionKind, SessionRecord, UserRecord } from '../store/types.js'
import { accessTokenCnf, sessionDpopJkt } from './dpop-binding.js'
import { signIdToken } from './id-token.js'
import { absoluteExpiry, resolveRefreshTtl } from './lifetimes.js'
import { tokenResponse } from './token-response.js'

export interface NewSession {
  user: UserRecord
  client: ClientRecord
  kind: SessionKind
  scope: string
  audience?: string | null
  /** Raw `refresh_token_ttl` from the request, validated and capped here. */
  requestedTtl?: string | number | null | undefined
  name?: string | null
  parentId?: string | null
  /** RFC 8707 resource; the access tokens' `aud` when set. */
  resource?: string | null
  /** RFC 8693 `act` claim of a delegated session. */
  act?: Record<string, unknown>
  /** Ceiling on the refresh TTL beyond the client's (an exchange policy's, the parent's remaining life). */
  maxRefreshTtl?: number
  /** The session's absolute end when inherited (a delegated session never outlives its parent). */
  absoluteExpiresAt?: number | null
  requester: Requester
  /** When `openid` is in scope: the ID token's nonce and auth_time. */
  oidc?: { nonce: string | null; authTime: number }
  /** Thumbprint of the request's verified DPoP proof key, if any (sessions/dpop-binding.ts decides what it binds). */
  dpopJkt?: string | undefined
  /**
   * A key the request named for the new session rather than proved (token exchange's `dpop_jkt`:
   * the agent's key, which the exchanging request does not hold). Binds the session whatever the
   * client's authentication (an explicit request, unlike a proof), and stands in for `dpopJkt` for
   * the first access token's `cnf` (docs/architecture.md "DPoP binding", token exchange).
   */
  namedDpopJkt?: string | undefined
}

/** A session ready to be written: the rows, and the one copy of the refresh token in memory. */
export interface PreparedSession {
  session: SessionRecord
  token: RefreshTokenRecord
  audit: AuditEvent
  refreshToken: string
  input: NewSession
}

export interface IssuedSession {
  session: SessionRecord
  refreshToken: string
  response: TokenResponse
}

/** Builds a session, its first refresh token (hash only) and its audit event; writes nothing. */
export function prepareSession(deps: Deps, input: NewSession): PreparedSession {
  const now = deps.now()
  const refreshTtl = Math.min(resolveRefreshTtl(input.requestedTtl ?? undefined, input.client, deps.settings), input.maxRefreshTtl ?? Infinity)
  const own = absoluteExpiry(now, input.client)
  const inherited = input.absoluteExpiresAt ?? null
  const absolute = own === null ? inherited : inherited === null ? own : Math.min(own, inherited)
  const idle = absolute === null ? now + refreshTtl : Math.min(now + refreshTtl, absolute)
  const session: SessionRecord = {
    id: deps.random.id('ses'),
    user_id: input.user.id,
    client_id: input.client.client_id,
    kind: input.kind,
    scope: input.scope,
    audience: input.audience ?? null,
    created_at: now,
    last_refreshed_at: null,
    idle_expires_at: idle,
    absolute_expires_at: absolute,
    refresh_ttl: refreshTtl,
    generation: 0,
    revoked_at: null,
    revoked_reason: null,
    parent_id: input.parentId ?? null,
    resource: input.resource ?? null,
    act: input.act === undefined ? null : JSON.stringify(input.act),
    name: input.name ?? null,
    user_agent: input.requester.user_agent,
    ip: input.requester.ip,
    auth_time: input.oidc?.authTime ?? null,
    dpop_jkt: input.namedDpopJkt ?? sessionDpopJkt(input.client, input.dpopJkt),
  }
  const refreshToken = deps.random.refreshToken()
  return {
    session,
    refreshToken,
    input,
    token: {
      hash: hashSecret(refreshToken),
      session_id: session.id,
      generation: 0,
      created_at: now,
      expires_at: idle,
      spent_at: null,
      successor_sealed: null,
      spent_ip: null,
      spent_user_agent: null,
    },
    audit: sessionAuditEvent(deps, 'session.created', session, {
      requester: input.requester,
      data: {
        kind: session.kind, refresh_ttl: refreshTtl, scope: session.scope, parent_id: session.parent_id,
        ...(session.resource === null ? {} : { resource: session.resource }),
        ...(session.dpop_jkt == null ? {} : { dpop_jkt: session.dpop_jkt }),
      },
    }),
  }
}

/** The token response for a session that has been written: signs the access (and ID) token. */
export function sessionTokenResponse(deps: Deps, prepared: PreparedSession): IssuedSession {
  const { session, input } = prepared
  const response = tokenResponse(
    deps,
    input.client,
    {
      sub: input.user.id, client_id: session.client_id, scope: session.scope, audience: session.audience, resource: session.resource,
      sid: session.id, ...(input.act === undefined ? {} : { act: input.act }),
      ...optionalCnf(accessTokenCnf(input.client, input.namedDpopJkt ?? input.dpopJkt)),
    },
    session.absolute_expires_at,
    { token: prepared.refreshToken, expiresIn: session.idle_expires_at - deps.now() },
  )
  if (input.oidc && session.scope.split(' ').includes('openid')) {
    response.id_token = signIdToken(deps, {
      user: input.user,
      clientId: session.client_id,
      scope: session.scope,
      nonce: input.oidc.nonce,
      authTime: input.oidc.authTime,
      sid: session.id,
      ttl: response.expires_in,
    })
  }
  return { session, refreshToken: prepared.refreshToken, response }
}

/**
 * Starts a session: one row for the session, one for its first refresh token (hash only), one
 * audit event, in one transaction; then signs the first access token.
 */
export async function issueSession(deps: Deps, input: NewSession): Promise<IssuedSession> {
  const prepared = prepareSession(deps, input)
  await deps.store.createSession(prepared.session, prepared.token, prepared.audit)
  return sessionTokenResponse(deps, prepared)
}

function optionalCnf(cnf: { jkt: string } | undefined): { cnf?: { jkt: string } } {
  return cnf === undefined ? {} : { cnf }
}

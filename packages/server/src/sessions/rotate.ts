import { isWellFormedRefreshToken, OAuthError, type RefreshFailureReason, type TokenResponse } from '@evergreen/core'
import { sessionAuditEvent, type Requester } from '../audit.js'
import { hashSecret } from '../crypto/hash.js'
import type { Deps } from '../deps.js'
import type { AuditEvent, ClientRecord, RefreshTokenView } from '../store/types.js'
import { audienceAllowed, parseScope, sessionScopeNow } from '../oauth/scope.js'
import { accessTokenCnf } from './dpop-binding.js'
import { slideIdleExpiry } from './lifetimes.js'
import { deriveSuccessor, recoverSuccessor } from './successor.js'
import { withdrawnDelegation } from './delegation.js'
import { revokeSession } from './revoke.js'
import { tokenResponse } from './token-response.js'

export interface RefreshRequest {
  refreshToken: string
  /** The client that presented the token, already authenticated. */
  clientId: string
  /** Optional narrower scope (RFC 6749 §6). */
  scope?: string | undefined
  requester: Requester
  /** Thumbprint of the request's verified DPoP proof key (jti already recorded); absent without a proof. */
  dpopJkt?: string | undefined
}

/** The hot-path read, done by the grant before client authentication so both share one query. */
export interface RefreshTokenLookup {
  /** null when the token fails its format or checksum: no query is made for garbage. */
  hash: string | null
  view: RefreshTokenView | undefined
}

/** Looks a presented refresh token up: token, session and client in one read. */
export async function lookupRefreshToken(deps: Pick<Deps, 'store'>, token: string): Promise<RefreshTokenLookup> {
  if (!isWellFormedRefreshToken(token)) return { hash: null, view: undefined }
  const hash = hashSecret(token)
  return { hash, view: await deps.store.findRefreshToken(hash) }
}

export interface RefreshResult {
  response: TokenResponse
  sessionId: string
  outcome: 'rotated' | 'grace_replay'
}

/**
 * Refresh-token rotation, the heart of the service (docs/architecture.md "Refresh rotation"):
 *
 * 1. a fresh token is spent and a successor issued, atomically (one read, one transaction);
 * 2. a spent token presented again within the grace window returns the *same* successor, as
 *    long as that successor is still unspent; an older token in its window is `superseded`;
 * 3. a spent token presented after the window revokes the session as stolen;
 * 4. across nodes, the compare-and-set on "spent" lets exactly one caller win; a loser re-reads
 *    and takes the grace path, so parallel callers all get the winner's successor.
 *
 * @throws OAuthError invalid_grant with a stable `reason`, or invalid_scope
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.14.2
 */
export async function rotateRefreshToken(deps: Deps, req: RefreshRequest, lookup: RefreshTokenLookup): Promise<RefreshResult> {
  const { hash } = lookup
  if (hash === null) throw refused('malformed', 'refresh token is malformed')
  let view = lookup.view

  // Two tries: the second only runs after losing the compare-and-set to a concurrent rotation.
  for (let attempt = 0; attempt < 2; attempt++) {
    if (!view) throw refused('not_found', 'refresh token is not recognised')
    const { token, session, client } = view
    const now = deps.now()

    if (session.client_id !== req.clientId) {
      // Not revoked: a confused client is not a thief, and revoking would let anyone holding a
      // client id kill other people's sessions.
      throw await failed(deps, view, req, 'client_mismatch', 'refresh token was issued to another client')
    }
    // RFC 9449 §5: a bound session refreshes only with a proof of its key — the grace replay too.
    // Checked before anything that could spend, replay or revoke (and before the revoked and
    // expiry checks, so a presenter without the key learns nothing about the session): a thief
    // holding the token but not the key must not be able to log the owner out by reuse detection.
    if (session.dpop_jkt != null && session.dpop_jkt !== req.dpopJkt) {
      if (req.dpopJkt === undefined) {
        throw new OAuthError('invalid_dpop_proof', 'this refresh token is bound to a DPoP key; send a DPoP proof made with it')
      }
      throw await failed(deps, view, req, 'dpop_key_mismatch', 'refresh token is bound to another DPoP key')
    }
    if (session.revoked_at !== null) throw await failed(deps, view, req, 'revoked', 'session has been revoked')
    if (session.absolute_expires_at !== null && session.absolute_expires_at <= now) {
      throw await failed(deps, view, req, 'expired_absolute', 'session reached its maximum lifetime')
    }

    // An agent whose exchange policy no longer covers this delegated session may not keep it:
    // ended here too, not only when the admin changed the policy, so no path misses one.
    const withdrawn = await withdrawnDelegation(deps, session, client)
    if (withdrawn !== undefined) {
      await revokeSession(deps, session, 'exchange_policy_withdrawn', req.requester)
      throw refused('revoked', `session has been revoked: ${withdrawn}`)
    }

    // Intersected with what the client may hold now, so narrowing a client reaches every live
    // session at its next rotation.
    const scope = narrowScope(sessionScopeNow(session, client), req.scope)
    const cnf = accessTokenCnf(client, req.dpopJkt)

    if (token.spent_at !== null) {
      const grace = deps.settings.refreshGraceSeconds
      if (grace > 0 && now - token.spent_at <= grace && token.successor_sealed !== null) {
        // The grace window covers one lost response: the presenter never saw the successor.
        // It hands out that successor only while it is still the session's current, unspent
        // token (generations advance by one per rotation, atomically with the spend). Once the
        // successor was spent too, whoever replays an older token is not the one holding the
        // session; returning the successor (or walking the chain to the live token)
        // would give any copy of a recently spent token the current one. `view` is one
        // consistent read, so the answer is as of a single moment.
        if (session.generation !== token.generation + 1) {
          await supersededRefused(deps, view, req)
          throw refused('superseded', 'refresh token was replaced by a newer one; use the latest refresh token')
        }
        const successor = recoverSuccessor(req.refreshToken, token.hash, token.successor_sealed)
        if (successor !== undefined) return graceReplay(deps, view, successor, scope, req, cnf)
      }
      await reuseDetected(deps, view, req)
      throw refused('reused', 'refresh token was already used; the session has been revoked')
    }
    if (token.expires_at <= now) throw await failed(deps, view, req, 'expired_idle', 'refresh token expired')

    const { token: successor, stored: successorStored } = deriveSuccessor(req.refreshToken, deps.random)
    const successorHash = hashSecret(successor)
    // A delegated session slides by no more than its policy allows now: a lowered
    // max_refresh_ttl reaches it at its next rotation.
    const policyTtl = session.kind === 'delegated' ? client.token_exchange?.max_refresh_ttl ?? null : null
    const idle = slideIdleExpiry(now, policyTtl === null ? session : { ...session, refresh_ttl: Math.min(session.refresh_ttl, policyTtl) })
    const rotated = await deps.store.rotateRefreshToken({
      spent_hash: token.hash,
      spent_at: now,
      spent_ip: req.requester.ip,
      spent_user_agent: req.requester.user_agent,
      successor_sealed: successorStored,
      successor: {
        hash: successorHash,
        session_id: session.id,
        generation: session.generation + 1,
        created_at: now,
        expires_at: idle,
        spent_at: null,
        successor_sealed: null,
        spent_ip: null,
        spent_user_agent: null,
      },
      session_id: session.id,
      expected_generation: session.generation,
      idle_expires_at: idle,
      audit: sessionAuditEvent(deps, 'refresh.succeeded', session, { requester: req.requester, data: { generation: session.generation + 1 } }),
    })
    if (rotated) {
      return {
        sessionId: session.id,
        outcome: 'rotated',
        response: rotatedResponse(deps, view, client, successor, idle - now, scope, cnf),
      }
    }
    view = await deps.store.findRefreshToken(hash)
  }
  // A token that lost two races in a row is being hammered; treat it like any unknown state.
  throw refused('not_found', 'refresh token is not recognised')
}

async function graceReplay(
  deps: Deps,
  view: RefreshTokenView,
  successor: string,
  scope: string,
  req: RefreshRequest,
  cnf: { jkt: string } | undefined,
): Promise<RefreshResult> {
  const now = deps.now()
  const { token } = view
  // A replay hands out a live token, so it leaves the same trail as a rotation: who asked, and
  // who spent the token first.
  await deps.store.appendAudit(spentTokenEvent(deps, 'refresh.replayed', view, req, { generation: token.generation }))
  deps.logger.debug({ session_id: view.session.id, ip: req.requester.ip }, 'refresh replayed within grace window')
  // The successor expires with the session's current idle expiry (set by the rotation that made it).
  const refreshExpiresIn = Math.max(0, view.session.idle_expires_at - now)
  return {
    sessionId: view.session.id,
    outcome: 'grace_replay',
    response: rotatedResponse(deps, view, view.client, successor, refreshExpiresIn, scope, cnf),
  }
}

function rotatedResponse(
  deps: Deps,
  view: RefreshTokenView,
  client: ClientRecord,
  refreshToken: string,
  refreshExpiresIn: number,
  scope: string,
  cnf: { jkt: string } | undefined,
): TokenResponse {
  const { session } = view
  const subject = {
    sub: session.user_id ?? session.client_id,
    client_id: session.client_id,
    scope,
    // An audience the client may no longer name falls back to the client itself. A delegated
    // session's audience was checked against the exchange policy, which is checked again here.
    audience: session.audience !== null && (session.kind === 'delegated'
      ? client.token_exchange?.allowed_audiences.includes(session.audience) === true
      : audienceAllowed(session.audience, client)) ? session.audience : null,
    // Fixed at issuance and never widened: a refresh keeps the resource it was issued for.
    resource: session.resource,
    sid: session.id,
    ...(session.act === null ? {} : { act: JSON.parse(session.act) as Record<string, unknown> }),
    ...(cnf === undefined ? {} : { cnf }),
  }
  return tokenResponse(deps, client, subject, session.absolute_expires_at, { token: refreshToken, expiresIn: refreshExpiresIn })
}

/** RFC 6749 §6: a refresh may ask for less than the session holds, never more. */
function narrowScope(granted: string, requested: string | undefined): string {
  if (requested === undefined) return granted
  const have = new Set(granted.split(' ').filter(Boolean))
  const want = parseScope(requested)
  const extra = want.filter((s) => !have.has(s))
  if (extra.length > 0) throw new OAuthError('invalid_scope', 'requested scope exceeds the scope of the session')
  return want.join(' ')
}

/**
 * An older copy of the session's token, presented inside its grace window after its successor
 * was spent too. Lagging copies are normal (two processes sharing a credential), so the session
 * lives on; the presenter is recorded because a thief with a copy looks exactly like this.
 */
async function supersededRefused(deps: Deps, view: RefreshTokenView, req: RefreshRequest): Promise<void> {
  const { session, token } = view
  await deps.store.appendAudit(
    spentTokenEvent(deps, 'refresh.superseded', view, req, { generation: token.generation, current_generation: session.generation }),
  )
}

/**
 * The audit event for a spent token presented again (replayed, superseded, reused): who presents
 * it now, and who spent it first (from the token row), so the two can be told apart afterwards.
 */
function spentTokenEvent(
  deps: Deps,
  type: 'refresh.replayed' | 'refresh.superseded' | 'refresh.reused',
  view: RefreshTokenView,
  req: RefreshRequest,
  data: Record<string, unknown>,
): AuditEvent {
  const { session, token } = view
  return sessionAuditEvent(deps, type, session, {
    requester: req.requester,
    data: { ...data, first_presented: { at: token.spent_at, ip: token.spent_ip, user_agent: token.spent_user_agent } },
  })
}

async function reuseDetected(deps: Deps, view: RefreshTokenView, req: RefreshRequest): Promise<void> {
  const { session, token } = view
  const now = deps.now()
  // Both presenters go into the event: the first spend (from the token row) and this one.
  const detail = {
    generation: token.generation,
    current_generation: session.generation,
    reused: { at: now, ip: req.requester.ip, user_agent: req.requester.user_agent },
  }
  const event = spentTokenEvent(deps, 'refresh.reused', view, req, detail)
  await deps.store.appendAudit(event)
  await revokeSession(deps, session, 'reuse_detected', req.requester)
  deps.logger.warn({ session_id: session.id, ...event.data }, 'refresh token reuse detected; session revoked')
}

async function failed(
  deps: Deps,
  view: RefreshTokenView,
  req: RefreshRequest,
  reason: RefreshFailureReason,
  description: string,
): Promise<OAuthError> {
  await deps.store.appendAudit(
    sessionAuditEvent(deps, 'refresh.failed', view.session, { client_id: req.clientId, requester: req.requester, data: { reason } }),
  )
  return refused(reason, description)
}

function refused(reason: RefreshFailureReason, description: string): OAuthError {
  return new OAuthError('invalid_grant', description, { reason })
}

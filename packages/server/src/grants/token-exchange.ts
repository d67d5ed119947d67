import { GRANT_TYPES, isDpopJkt, isWellFormedRefreshToken, OAuthError, type TokenResponse } from '@evergreen/core'
import { hashSecret } from '../crypto/hash.js'
import type { Deps } from '../deps.js'
import { isResourceUri } from '../oauth/resource.js'
import { parseScope, sessionScopeNow } from '../oauth/scope.js'
import { accessTokenState, sessionLive } from '../sessions/access-token-state.js'
import { boundJkt } from '../sessions/dpop-binding.js'
import { issueSession } from '../sessions/issue.js'
import type { ClientRecord, SessionRecord, TokenExchangePolicy, UserRecord } from '../store/types.js'
import type { GrantContext } from './types.js'

export const grantType = GRANT_TYPES.tokenExchange
export const parameters = [
  'subject_token', 'subject_token_type', 'actor_token', 'actor_token_type', 'requested_token_type',
  'scope', 'audience', 'resource', 'refresh_token_ttl', 'session_name', 'dpop_jkt',
] as const

/** The longest `session_name`, as the admin API bounds a session's name. */
const MAX_SESSION_NAME = 200

/** RFC 8693 §3 token type identifiers Evergreen accepts and issues. */
export const TOKEN_TYPES = {
  accessToken: 'urn:ietf:params:oauth:token-type:access_token',
  refreshToken: 'urn:ietf:params:oauth:token-type:refresh_token',
} as const

/** The session a subject token stands for, with what it may hold now. */
interface Subject {
  session: SessionRecord
  client: ClientRecord
  user: UserRecord
  scope: string
}

/**
 * RFC 8693 token exchange, delegation only: a client (the agent) presents a person's access or
 * refresh token and gets a delegated session, a child of the person's, whose tokens carry an
 * `act` claim naming the agent (and, for a token that was itself delegated, the earlier actors
 * nested under it, newest outermost). There is no impersonation: every token issued here has
 * `act`, so a delegated token can never be exchanged into one without it.
 *
 * DPoP (RFC 9449): a bound subject token is taken only with a proof of its key, and that proof
 * binds nothing new; the delegated session is bound to the key `dpop_jkt` names, if any.
 *
 * The result never exceeds the subject: scope is a subset of the subject's (invalid_scope),
 * audience and resource are the subject's own or what it may reach, within the agent's policy
 * (invalid_target), and the session ends no later than its parent's absolute end.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8693#section-2
 */
export async function handle(ctx: GrantContext, deps: Deps): Promise<TokenResponse> {
  const client = ctx.client
  const policy = client.token_exchange
  // RFC 6749 §5.2: the client is authenticated but not authorised for this use of the grant.
  if (policy === null) throw new OAuthError('unauthorized_client', 'client has no token-exchange policy')
  const requested = ctx.form.get('requested_token_type') ?? TOKEN_TYPES.refreshToken
  if (requested !== TOKEN_TYPES.refreshToken && requested !== TOKEN_TYPES.accessToken) {
    throw new OAuthError('invalid_request', 'requested_token_type must be the access_token or refresh_token token type')
  }
  const subject = await readSubject(ctx, deps, policy)
  const actor = await readActor(ctx, deps, client)
  const parentAct = subject.session.act === null ? undefined : (JSON.parse(subject.session.act) as Record<string, unknown>)
  const act = parentAct === undefined ? actor : { ...actor, act: parentAct }

  const scope = exchangedScope(ctx.form.get('scope'), subject.scope, policy)
  const audience = exchangedTarget(ctx.form.get('audience'), subject, policy.allowed_audiences, 'audience')
  const resourceParam = ctx.form.get('resource')
  if (resourceParam !== undefined && !isResourceUri(resourceParam)) {
    throw new OAuthError('invalid_target', 'resource must be an absolute URI without a fragment (RFC 8707 §2)')
  }
  const resource = exchangedTarget(resourceParam, subject, policy.allowed_resources, 'resource')

  // An Evergreen extension, like refresh_token_ttl: the label the person sees on
  // /settings/sessions for this agent (`evergreen delegate --name`).
  const name = ctx.form.get('session_name')
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  if (name !== undefined && (name.length > MAX_SESSION_NAME || /[\u0000-\u001f\u007f]/.test(name))) {
    throw new OAuthError('invalid_request', `session_name must be at most ${MAX_SESSION_NAME} printable characters`)
  }

  // RFC 9449 §10's `dpop_jkt`, here for the delegated session: the agent's key, named by whoever
  // exchanges (the person's machine does not hold it). The request's own DPoP proof only proved the
  // subject token's key (readSubject) and never binds the child: bound to the person's key, the
  // agent could never refresh it. No `dpop_jkt`: an unbound delegated session.
  const namedJkt = ctx.form.get('dpop_jkt')
  if (namedJkt !== undefined && !isDpopJkt(namedJkt)) throw new OAuthError('invalid_request', 'dpop_jkt must be a base64url SHA-256 JWK thumbprint')

  const now = deps.now()
  const parentEnd = subject.session.absolute_expires_at
  const issued = await issueSession(deps, {
    user: subject.user,
    client,
    kind: 'delegated',
    scope,
    audience,
    resource,
    act,
    parentId: subject.session.id,
    ...(name === undefined ? {} : { name }),
    requestedTtl: ctx.form.get('refresh_token_ttl'),
    // A delegated session's refresh TTL is capped by the policy too, and by what is left of the
    // parent: an idle window longer than the parent's life would only be cut at every rotation.
    maxRefreshTtl: Math.min(policy.max_refresh_ttl ?? Infinity, parentEnd === null ? Infinity : Math.max(1, parentEnd - now)),
    absoluteExpiresAt: parentEnd,
    requester: ctx.requester,
    namedDpopJkt: namedJkt,
  })
  const { refresh_token, refresh_token_expires_in, ...accessOnly } = issued.response
  // The access_token field always holds an access token (a JWT), so that is its issued type
  // (§2.2.1); the delegated session's refresh token comes beside it unless only access was asked.
  const response: TokenResponse = requested === TOKEN_TYPES.accessToken
    ? accessOnly
    : { ...accessOnly, ...(refresh_token === undefined ? {} : { refresh_token, refresh_token_expires_in }) }
  return { ...response, issued_token_type: TOKEN_TYPES.accessToken }
}

/**
 * The person's session behind `subject_token`. RFC 8693 §2.2.2: a subject token that is invalid
 * or unacceptable is invalid_request. Only live sessions of a person, started by a client the
 * policy names, may be subjects; a session-less client_credentials token speaks for no person.
 */
async function readSubject(ctx: GrantContext, deps: Deps, policy: TokenExchangePolicy): Promise<Subject> {
  const token = ctx.form.get('subject_token')
  const type = ctx.form.get('subject_token_type')
  if (token === undefined || type === undefined) throw new OAuthError('invalid_request', 'subject_token and subject_token_type are required')
  const now = deps.now()
  let session: SessionRecord | undefined
  let client: ClientRecord | undefined
  let tokenScope: string | undefined
  // The DPoP key the subject token is bound to (RFC 9449): its holder alone may exchange it.
  let boundKey: string | null | undefined
  if (type === TOKEN_TYPES.refreshToken) {
    const view = isWellFormedRefreshToken(token) ? await deps.store.findRefreshToken(hashSecret(token)) : undefined
    // Presenting a refresh token does not spend it: the person's session rotates on its own.
    if (view && view.token.spent_at === null && view.token.expires_at > now && view.session.generation === view.token.generation) {
      session = view.session
      client = view.client
      boundKey = view.session.dpop_jkt
    }
  } else if (type === TOKEN_TYPES.accessToken) {
    const payload = await verifiedAccessToken(deps, token)
    if (payload && typeof payload.sid === 'string') {
      const state = await accessTokenState(deps, payload)
      if (state.live && state.session) {
        session = state.session
        client = state.client
        // An access token may carry less than its session (a narrowed refresh): it is the ceiling.
        tokenScope = typeof payload.scope === 'string' ? payload.scope : ''
        // A Bearer access token of a bound session goes without a proof only from a client that
        // authenticated itself (a resource server exchanging the token it was sent). A public
        // client must prove the session's key, or a copied access token would buy an unbound,
        // renewing delegated session (docs/architecture.md "DPoP binding").
        boundKey = boundJkt(payload) ?? (ctx.client.token_endpoint_auth_method === 'none' ? state.session.dpop_jkt : null)
      }
    }
  } else {
    throw new OAuthError('invalid_request', 'subject_token_type must be the access_token or refresh_token token type')
  }
  if (!session || !client || !sessionLive(session, now) || session.user_id === null) {
    throw new OAuthError('invalid_request', 'subject_token is not an active token of a person')
  }
  // Otherwise a copy of a bound token would buy an unbound delegated session. Nothing is spent or
  // revoked either way (presenting a subject token never spends it).
  if (boundKey != null && boundKey !== ctx.dpop?.jkt) {
    if (ctx.dpop === undefined) throw new OAuthError('invalid_dpop_proof', 'subject_token is bound to a DPoP key; send a DPoP proof made with it')
    throw new OAuthError('invalid_request', 'subject_token is bound to another DPoP key')
  }
  if (!policy.subject_clients.includes(session.client_id)) {
    throw new OAuthError('invalid_request', 'this client may not take tokens of the subject token\'s client')
  }
  const user = await deps.store.getUser(session.user_id)
  if (!user || user.disabled_at !== null) throw new OAuthError('invalid_request', 'subject_token is not an active token of a person')
  const holds = new Set(sessionScopeNow(session, client).split(' ').filter(Boolean))
  const scope = (tokenScope ?? session.scope).split(' ').filter((s) => s !== '' && holds.has(s)).join(' ')
  return { session, client, user, scope }
}

/**
 * The actor: the agent's own access token when given (its `sub` and `client_id`), else the
 * exchanging client. The actor token must be the exchanging client's own, so no client can name
 * another as the one acting.
 */
async function readActor(ctx: GrantContext, deps: Deps, client: ClientRecord): Promise<Record<string, unknown>> {
  const token = ctx.form.get('actor_token')
  const type = ctx.form.get('actor_token_type')
  if (token === undefined) {
    // §2.1: actor_token_type "MUST NOT be included otherwise".
    if (type !== undefined) throw new OAuthError('invalid_request', 'actor_token_type given without actor_token')
    return { sub: client.client_id, client_id: client.client_id }
  }
  if (type !== TOKEN_TYPES.accessToken) throw new OAuthError('invalid_request', 'actor_token_type must be the access_token token type')
  const payload = await verifiedAccessToken(deps, token)
  const state = payload && (await accessTokenState(deps, payload))
  if (!payload || !state?.live) throw new OAuthError('invalid_request', 'actor_token is not an active access token')
  if (payload.client_id !== client.client_id) throw new OAuthError('invalid_request', 'actor_token was issued to another client')
  return { sub: payload.sub, client_id: client.client_id }
}

async function verifiedAccessToken(deps: Deps, token: string): Promise<Record<string, unknown> | undefined> {
  try {
    return (await deps.keys.verify(token, { issuer: deps.settings.issuer, typ: 'at+jwt' })).payload
  } catch {
    return undefined
  }
}

/** A subset of the subject's scope and of the policy's; nothing asked: all of that intersection. */
function exchangedScope(raw: string | undefined, subjectScope: string, policy: TokenExchangePolicy): string {
  const have = subjectScope.split(' ').filter(Boolean)
  const allowed = (s: string) => policy.allowed_scopes.length === 0 || policy.allowed_scopes.includes(s)
  const want = parseScope(raw)
  if (want.length === 0) return have.filter(allowed).join(' ')
  const refused = want.filter((s) => !have.includes(s) || !allowed(s))
  if (refused.length > 0) throw new OAuthError('invalid_scope', `scope exceeds the subject token or the exchange policy: ${refused.join(' ')}`)
  return want.join(' ')
}

/**
 * The audience or resource of the delegated session. Asked: it must be one the subject may reach
 * (its own audience or resource, or when it names neither, what its client may name) and one the
 * policy lists. Not asked: the subject's own, if the policy lists it, else none (the token is
 * then for the agent's client id alone).
 */
function exchangedTarget(requested: string | undefined, subject: Subject, allowedByPolicy: readonly string[], field: 'audience' | 'resource'): string | null {
  const own = subject.session[field]
  if (requested === undefined) return own !== null && allowedByPolicy.includes(own) ? own : null
  const { session, client } = subject
  const reachable = session.audience === null && session.resource === null
    ? client.allowed_audiences.includes(requested) || client.default_resource === requested
    : session.audience === requested || session.resource === requested
  if (!reachable || !allowedByPolicy.includes(requested)) {
    throw new OAuthError('invalid_target', `${field} is beyond the subject token or the exchange policy`)
  }
  return requested
}

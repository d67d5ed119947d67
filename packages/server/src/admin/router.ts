import {
  MAX_REFRESH_TOKEN_TTL_SECONDS, OAuthError, SIGNING_ALGS, TOKEN_ENDPOINT_AUTH_METHODS,
  type AuditEventView, type CreatedClientView, type MintedSession, type Page, type RevokedCount, type SigningAlg,
  type JwkSet, type RotatedSecretView, type TokenEndpointAuthMethod,
} from '@evergreen/core'
import { Hono, type Context } from 'hono'
import { hashPassword } from '../accounts/passwords.js'
import { auditEvent } from '../audit.js'
import { hashSecret, secretMatches } from '../crypto/hash.js'
import type { Deps } from '../deps.js'
import { jwksUriAllowed } from '../http/client-assertion.js'
import { errorResponse, noStoreJson } from '../http/errors.js'
import { HttpProblem, problemResponse } from '../http/problem.js'
import { readJsonObject } from '../http/form.js'
import type { AttemptLimit } from '../http/attempt-limit.js'
import { KeyRevocationError } from '../keys/keyring.js'
import { requesterOf } from '../http/requester.js'
import { grantedAudience, grantedScope, isScopeToken } from '../oauth/scope.js'
import { grantedResource, isResourceUri } from '../oauth/resource.js'
import { revokeWithdrawnDelegations } from '../sessions/delegation.js'
import { credentialFor } from '../sessions/credential.js'
import { loginSessionId } from '../sessions/login-session-id.js'
import { issueSession } from '../sessions/issue.js'
import { InvalidCursorError } from '../store/cursor.js'
import { StoreConflictError, type ClientPatch, type ClientRecord, type TokenExchangePolicy } from '../store/types.js'
import { SERVED_GRANT_TYPES } from '../grants/registry.js'
import {
  bad, email, limitParam, logoutUri, onlyFields, optionalBoolean, optionalSeconds, optionalString, optionalStringList,
  redirectUri, requiredString,
} from './validate.js'
import { clientView, keyView, loginSessionView, sessionView, userView } from './views.js'
import { revokedWithParent, revokeSession } from '../sessions/revoke.js'
import { revokeSignIns } from '../sessions/revoke-sign-in.js'

const CLIENT_FIELDS = [
  'name', 'redirect_uris', 'post_logout_redirect_uris', 'backchannel_logout_uri', 'grant_types', 'token_endpoint_auth_method', 'allowed_scopes', 'allowed_audiences', 'access_token_ttl',
  'refresh_token_ttl', 'refresh_token_ttl_max', 'session_max_lifetime', 'first_party', 'jwks', 'jwks_uri', 'default_resource', 'token_exchange',
  'require_dpop', 'dpop_bound_access_tokens',
] as const
const POLICY_FIELDS = ['subject_clients', 'allowed_scopes', 'allowed_audiences', 'allowed_resources', 'max_refresh_ttl'] as const
const TEN_YEARS = 315_360_000

/**
 * The operator API under `/admin/v1/`, authenticated by `Authorization: Bearer <admin key>`.
 * Lists return `{ items, next_cursor }`. A record that does not exist or a write that collides is
 * an RFC 9457 problem (404, 409); bad input, a wrong key and throttling are OAuth error JSON like
 * everywhere else.
 */
export function adminRouter(deps: Deps, failedAuthLimit: AttemptLimit): Hono {
  const app = new Hono()
  const body = (c: Context) => readJsonObject(c.req.raw, deps.settings.maxBodyBytes)
  const who = (c: Context) => requesterOf(c, deps.settings)

  app.onError((err) => {
    if (err instanceof HttpProblem) return problemResponse(err)
    if (err instanceof StoreConflictError) return problemResponse(new HttpProblem('CONFLICT', err.message))
    if (err instanceof InvalidCursorError) return errorResponse(bad('cursor is not valid'))
    return errorResponse(err, deps.logger)
  })

  app.use('*', async function rejectNul(c, next) {
    // Path parameters and query values reach SQL as text; NUL is refused there by PostgreSQL.
    if (/%00/.test(c.req.url)) throw bad('the URL must not contain NUL characters')
    await next()
  })

  app.use('*', async function adminAuth(c, next) {
    const address = who(c).ip ?? 'unknown'
    // Once an address has spent its budget, every answer is 429 and the key is not even
    // compared: answering 429 only to wrong keys would tell a throttled guesser when it was right.
    const spent = await failedAuthLimit.spent(address)
    if (spent.spent) throw tooManyAttempts(spent.retryAfter)
    const header = c.req.header('authorization') ?? ''
    const m = /^Bearer\s+(\S+)$/i.exec(header)
    if (!m || !secretMatches(m[1]!, deps.adminKeyHash)) {
      // Only failures count against the budget, so a busy provisioning system is never throttled.
      // The count is atomic, so of concurrent wrong keys only the budget's worth get a 401.
      const attempt = await failedAuthLimit.take(address)
      if (!attempt.ok) throw tooManyAttempts(attempt.retryAfter)
      throw new OAuthError('invalid_token', 'admin key missing or wrong', {
        status: 401,
        headers: { 'www-authenticate': 'Bearer realm="evergreen-admin"' },
      })
    }
    await next()
    c.res.headers.set('cache-control', 'no-store')
  })

  // ---- users
  app.post('/users', async (c) => {
    const b = await body(c)
    onlyFields(b, ['email', 'password', 'name'])
    const address = email(requiredString(b, 'email', 254))
    const password = optionalString(b, 'password', 1024)
    if (password !== undefined && password.length < 8) throw bad('password must be at least 8 characters')
    const user = {
      id: deps.random.id('usr'),
      email: address,
      name: optionalString(b, 'name', 200) ?? null,
      password_hash: password === undefined ? null : await hashPassword(password),
      created_at: deps.now(),
      disabled_at: null,
    }
    await deps.store.createUser(user, auditEvent(deps, 'user.created', { user_id: user.id, ...who(c) }))
    return c.json(userView(user), 201)
  })
  app.get('/users', async (c) => {
    const page = await deps.store.listUsers({ limit: limitParam(c.req.query('limit')), cursor: c.req.query('cursor') })
    return c.json({ items: page.items.map(userView), next_cursor: page.next_cursor })
  })
  app.get('/users/:id', async (c) => {
    const user = await findUser(deps, c.req.param('id'))
    return c.json(userView(user))
  })
  app.post('/users/:id/disable', async (c) => {
    const user = await findUser(deps, c.req.param('id'))
    await deps.store.disableUser(user.id, deps.now(), auditEvent(deps, 'user.disabled', { user_id: user.id, ...who(c) }), revokedWithParent(deps, who(c)))
    return c.json(userView((await deps.store.getUser(user.id))!))
  })

  // ---- browser sign-ins (the service's own pages)
  const liveSignIns = async (userId: string) => deps.store.listLoginSessions(userId, deps.now())
  app.get('/users/:id/login-sessions', async (c) => {
    const user = await findUser(deps, c.req.param('id'))
    return c.json({ items: (await liveSignIns(user.id)).map(loginSessionView), next_cursor: null })
  })
  app.delete('/users/:id/login-sessions/:loginId', async (c) => {
    const user = await findUser(deps, c.req.param('id'))
    const loginId = c.req.param('loginId')
    const target = (await liveSignIns(user.id)).find((l) => loginSessionId(l) === loginId)
    if (!target) throw notFound('login session')
    const revoked = await revokeSignIns(deps, user.id, { one: target }, 'revoked_by_admin', who(c))
    return c.json({ revoked } satisfies RevokedCount)
  })
  app.delete('/users/:id/login-sessions', async (c) => {
    const user = await findUser(deps, c.req.param('id'))
    const revoked = await revokeSignIns(deps, user.id, { allBut: null }, 'revoked_by_admin', who(c))
    return c.json({ revoked } satisfies RevokedCount)
  })

  // ---- clients
  app.post('/clients', async (c) => {
    const b = await body(c)
    onlyFields(b, ['client_id', ...CLIENT_FIELDS])
    const fields = clientFields(b, true, deps.settings.issuer)
    const method = fields.token_endpoint_auth_method ?? 'client_secret_basic'
    // private_key_jwt clients prove themselves with keys; a secret would be a second, weaker way in.
    const secret = method === 'none' || method === 'private_key_jwt' ? undefined : deps.random.secret('egs')
    const now = deps.now()
    const client: ClientRecord = {
      client_id: clientIdField(b) ?? deps.random.id('cli'),
      name: fields.name!,
      secret_hash: secret === undefined ? null : hashSecret(secret),
      redirect_uris: fields.redirect_uris ?? [],
      post_logout_redirect_uris: fields.post_logout_redirect_uris ?? [],
      backchannel_logout_uri: fields.backchannel_logout_uri ?? null,
      grant_types: fields.grant_types ?? ['refresh_token'],
      token_endpoint_auth_method: method,
      jwks: fields.jwks ?? null,
      jwks_uri: fields.jwks_uri ?? null,
      previous_secret_hash: null,
      previous_secret_expires_at: null,
      allowed_scopes: fields.allowed_scopes ?? [],
      allowed_audiences: fields.allowed_audiences ?? [],
      access_token_ttl: fields.access_token_ttl ?? null,
      refresh_token_ttl: fields.refresh_token_ttl ?? null,
      refresh_token_ttl_max: fields.refresh_token_ttl_max ?? null,
      session_max_lifetime: fields.session_max_lifetime ?? null,
      first_party: fields.first_party ?? false,
      default_resource: fields.default_resource ?? null,
      token_exchange: fields.token_exchange ?? null,
      require_dpop: fields.require_dpop ?? false,
      dpop_bound_access_tokens: fields.dpop_bound_access_tokens ?? false,
      created_at: now,
      updated_at: now,
    }
    checkClient(client)
    await deps.store.createClient(client, auditEvent(deps, 'client.created', { client_id: client.client_id, ...who(c) }))
    // The secret is shown here once; only its hash is kept.
    return noStoreJson({ ...clientView(client), ...(secret ? { client_secret: secret } : {}) } satisfies CreatedClientView, 201)
  })
  app.get('/clients', async (c) => {
    const page = await deps.store.listClients({ limit: limitParam(c.req.query('limit')), cursor: c.req.query('cursor') })
    return c.json({ items: page.items.map(clientView), next_cursor: page.next_cursor })
  })
  app.get('/clients/:id', async (c) => c.json(clientView(await findClient(deps, c.req.param('id')))))
  app.patch('/clients/:id', async (c) => {
    const existing = await findClient(deps, c.req.param('id'))
    const b = await body(c)
    onlyFields(b, CLIENT_FIELDS)
    const patch: ClientPatch = { ...clientFields(b, false, deps.settings.issuer), updated_at: deps.now() }
    if (patch.token_endpoint_auth_method && patch.token_endpoint_auth_method !== existing.token_endpoint_auth_method) {
      throw bad('token_endpoint_auth_method cannot change; create a new client')
    }
    checkClient({ ...existing, ...patch })
    const updated = await deps.store.updateClient(existing.client_id, patch, auditEvent(deps, 'client.updated', {
      client_id: existing.client_id,
      ...who(c),
      data: { fields: Object.keys(b) },
    }))
    if (!updated) throw notFound('client')
    // Removing or narrowing an agent's policy ends the delegated sessions it no longer covers.
    if ('token_exchange' in b) await revokeWithdrawnDelegations(deps, updated, who(c))
    return c.json(clientView(updated))
  })
  // A new secret, shown once; the one it replaces keeps working until now + overlap, so every
  // holder can switch before it stops. A rotation during an overlap ends the older overlap: only
  // two secrets are ever valid at once.
  app.post('/clients/:id/secret', async (c) => {
    const existing = await findClient(deps, c.req.param('id'))
    const b = await body(c)
    onlyFields(b, ['overlap'])
    const overlap = optionalSeconds(b, 'overlap', MAX_SECRET_OVERLAP_SECONDS) ?? 0
    if (existing.token_endpoint_auth_method !== 'client_secret_basic' && existing.token_endpoint_auth_method !== 'client_secret_post') {
      throw bad('only clients that authenticate with a secret have one to rotate')
    }
    const now = deps.now()
    const secret = deps.random.secret('egs')
    const expiresAt = overlap > 0 && existing.secret_hash ? now + overlap : null
    const updated = await deps.store.updateClient(
      existing.client_id,
      {
        secret_hash: hashSecret(secret),
        previous_secret_hash: expiresAt === null ? null : existing.secret_hash,
        previous_secret_expires_at: expiresAt,
        updated_at: now,
      },
      auditEvent(deps, 'client.secret_rotated', { client_id: existing.client_id, ...who(c), data: { overlap_seconds: overlap, previous_secret_expires_at: expiresAt } }),
    )
    if (!updated) throw notFound('client')
    return noStoreJson({ client_id: updated.client_id, client_secret: secret, previous_secret_expires_at: expiresAt } satisfies RotatedSecretView)
  })
  app.delete('/clients/:id', async (c) => {
    const id = c.req.param('id')
    const deleted = await deps.store.deleteClient(id, deps.now(), auditEvent(deps, 'client.deleted', { client_id: id, ...who(c) }), revokedWithParent(deps, who(c)))
    if (!deleted) throw notFound('client')
    return c.body(null, 204)
  })

  // ---- operator sessions (seed: 90-day operator sessions minted by a provisioning system)
  app.post('/tokens', async (c) => {
    const b = await body(c)
    onlyFields(b, ['user', 'client_id', 'scope', 'audience', 'resource', 'refresh_token_ttl', 'name'])
    const user = await findUser(deps, requiredString(b, 'user', 254))
    if (user.disabled_at !== null) throw bad('user is disabled')
    const client = await findClient(deps, requiredString(b, 'client_id', 128))
    if (!client.grant_types.includes('refresh_token')) throw bad('client does not allow the refresh_token grant')
    const ttl = b.refresh_token_ttl
    if (ttl !== undefined && (typeof ttl !== 'number' || !Number.isSafeInteger(ttl) || ttl <= 0)) {
      throw bad('refresh_token_ttl must be a positive whole number of seconds')
    }
    const issued = await issueSession(deps, {
      user,
      client,
      kind: 'operator',
      scope: grantedScope(optionalString(b, 'scope', 2048), client),
      audience: grantedAudience(optionalString(b, 'audience', 512), client),
      resource: grantedResource(optionalString(b, 'resource', 512), client),
      requestedTtl: ttl as number | undefined,
      name: optionalString(b, 'name', 200) ?? null,
      requester: who(c),
    })
    const credential = credentialFor(deps, issued)
    return noStoreJson({ ...issued.response, session_id: issued.session.id, credential } satisfies MintedSession, 201)
  })

  // ---- sessions
  app.get('/sessions', async (c) => {
    const userParam = c.req.query('user')
    const user = userParam === undefined ? undefined : await findUser(deps, userParam)
    const active = c.req.query('active')
    if (active !== undefined && active !== 'true' && active !== 'false') throw bad('active must be true or false')
    const page = await deps.store.listSessions({
      limit: limitParam(c.req.query('limit')),
      cursor: c.req.query('cursor'),
      user_id: user?.id,
      client_id: c.req.query('client_id'),
      active_at: active === 'true' ? deps.now() : undefined,
    })
    const now = deps.now()
    return c.json({ items: page.items.map((s) => sessionView(s, now)), next_cursor: page.next_cursor })
  })
  app.get('/sessions/:id', async (c) => {
    const session = await deps.store.getSession(c.req.param('id'))
    if (!session) throw notFound('session')
    return c.json(sessionView(session, deps.now()))
  })
  // The delegation chain downwards; upwards is the session's own parent_id.
  app.get('/sessions/:id/children', async (c) => {
    const session = await deps.store.getSession(c.req.param('id'))
    if (!session) throw notFound('session')
    const page = await deps.store.listSessions({ limit: limitParam(c.req.query('limit')), cursor: c.req.query('cursor'), parent_id: session.id })
    const now = deps.now()
    return c.json({ items: page.items.map((s) => sessionView(s, now)), next_cursor: page.next_cursor })
  })
  app.delete('/sessions/:id', async (c) => {
    const session = await deps.store.getSession(c.req.param('id'))
    if (!session) throw notFound('session')
    const revoked = await revokeSession(deps, session, 'revoked_by_admin', who(c))
    return c.json({ revoked } satisfies RevokedCount)
  })

  // ---- audit
  app.get('/audit', async (c) => {
    const userParam = c.req.query('user')
    const user = userParam === undefined ? undefined : await findUser(deps, userParam)
    const page = await deps.store.listAudit({
      limit: limitParam(c.req.query('limit')),
      cursor: c.req.query('cursor'),
      session_id: c.req.query('session'),
      user_id: user?.id,
      type: c.req.query('type'),
    })
    return c.json(page satisfies Page<AuditEventView>)
  })

  // ---- keys
  app.get('/keys', async (c) => {
    await deps.keys.reload()
    const now = deps.now()
    return c.json({ items: deps.keys.list().map((k) => keyView(k, now)), next_cursor: null })
  })
  app.post('/keys/rotate', async (c) => {
    const b = c.req.header('content-type') ? await body(c) : {}
    onlyFields(b, ['activate_after', 'alg'])
    const activateAfter = b.activate_after === undefined ? 600 : b.activate_after
    if (typeof activateAfter !== 'number' || !Number.isSafeInteger(activateAfter) || activateAfter < 0 || activateAfter > 86_400) {
      throw bad('activate_after must be a whole number of seconds from 0 to 86400')
    }
    const alg = b.alg
    if (alg !== undefined && !SIGNING_ALGS.includes(alg as SigningAlg)) throw bad(`alg must be ${SIGNING_ALGS.join(' or ')}`)
    const key = await deps.keys.rotate({ activateAfter, ...(alg ? { alg: alg as SigningAlg } : {}) })
    await deps.store.appendAudit(auditEvent(deps, 'key.rotated', { ...who(c), data: { kid: key.kid, alg: key.alg, activates_at: key.activates_at } }))
    return c.json(keyView(key, deps.now()), 201)
  })

  app.post('/keys/:kid/revoke', async (c) => {
    let key
    try {
      key = await deps.keys.revoke(c.req.param('kid'))
    } catch (err) {
      if (err instanceof KeyRevocationError) {
        throw err.code === 'KEY_NOT_FOUND' ? notFound('signing key') : new HttpProblem('CONFLICT', err.message)
      }
      throw err
    }
    await deps.store.appendAudit(auditEvent(deps, 'key.revoked', { ...who(c), data: { kid: key.kid, alg: key.alg } }))
    return c.json({ ...keyView(key, deps.now()), status: 'revoked' })
  })

  return app
}

function clientFields(b: Record<string, unknown>, creating: boolean, issuer: string): Partial<ClientRecord> {
  const out: Partial<ClientRecord> = {}
  const name = creating ? requiredString(b, 'name', 200) : optionalString(b, 'name', 200)
  if (name !== undefined) out.name = name
  const uris = optionalStringList(b, 'redirect_uris')
  if (uris !== undefined) out.redirect_uris = uris.map(redirectUri)
  const logoutUris = optionalStringList(b, 'post_logout_redirect_uris')
  if (logoutUris !== undefined) out.post_logout_redirect_uris = logoutUris.map((u) => logoutUri(u, 'post_logout_redirect_uri', issuer))
  // null clears it; a string replaces it.
  if (b.backchannel_logout_uri === null) out.backchannel_logout_uri = null
  const backchannel = optionalString(b, 'backchannel_logout_uri', 2048)
  if (backchannel !== undefined) out.backchannel_logout_uri = logoutUri(backchannel, 'backchannel_logout_uri', issuer)
  const grants = optionalStringList(b, 'grant_types', SERVED_GRANT_TYPES)
  if (grants !== undefined) out.grant_types = grants
  const method = b.token_endpoint_auth_method
  if (method !== undefined) {
    if (!isAuthMethod(method)) throw bad(`token_endpoint_auth_method must be one of ${TOKEN_ENDPOINT_AUTH_METHODS.join(', ')}`)
    out.token_endpoint_auth_method = method
  }
  if (b.jwks === null) out.jwks = null
  else if (b.jwks !== undefined) out.jwks = jwksField(b.jwks)
  if (b.jwks_uri === null) out.jwks_uri = null
  const jwksUri = optionalString(b, 'jwks_uri', 2048)
  if (jwksUri !== undefined) {
    if (!jwksUriAllowed(jwksUri, issuer)) throw bad('jwks_uri must be an https URL (http only on loopback while the issuer is http)')
    out.jwks_uri = jwksUri
  }
  const scopes = optionalStringList(b, 'allowed_scopes')
  if (scopes !== undefined) {
    if (!scopes.every(isScopeToken)) throw bad('allowed_scopes must be RFC 6749 scope-tokens (printable ASCII, no space, " or \\)')
    out.allowed_scopes = scopes
  }
  const audiences = optionalStringList(b, 'allowed_audiences')
  if (audiences !== undefined) {
    // The audience travels as a form value and a JWT claim: printable, no spaces, bounded.
    if (!audiences.every((a) => /^[\x21-\x7e]{1,512}$/.test(a))) throw bad('allowed_audiences must be printable strings without spaces, up to 512 characters')
    out.allowed_audiences = audiences
  }
  for (const [field, max] of [
    ['access_token_ttl', 86_400],
    ['refresh_token_ttl', MAX_REFRESH_TOKEN_TTL_SECONDS],
    ['refresh_token_ttl_max', MAX_REFRESH_TOKEN_TTL_SECONDS],
    ['session_max_lifetime', TEN_YEARS],
  ] as const) {
    const v = optionalSeconds(b, field, max)
    if (v !== undefined) out[field] = v
  }
  const firstParty = optionalBoolean(b, 'first_party')
  if (firstParty !== undefined) out.first_party = firstParty
  for (const flag of ['require_dpop', 'dpop_bound_access_tokens'] as const) {
    const value = optionalBoolean(b, flag)
    if (value !== undefined) out[flag] = value
  }
  // null clears it; a string replaces it.
  if (b.default_resource === null) out.default_resource = null
  const resource = optionalString(b, 'default_resource', 512)
  if (resource !== undefined) {
    if (!isResourceUri(resource)) throw bad('default_resource must be an absolute URI without a fragment (RFC 8707 §2)')
    out.default_resource = resource
  }
  if (b.token_exchange !== undefined) out.token_exchange = exchangePolicy(b.token_exchange)
  return out
}

/** `token_exchange`: null (may not exchange) or the whole policy object; absent lists mean empty. */
function exchangePolicy(value: unknown): TokenExchangePolicy | null {
  if (value === null) return null
  if (typeof value !== 'object' || Array.isArray(value)) throw bad('token_exchange must be an object or null')
  const p = value as Record<string, unknown>
  onlyFields(p, POLICY_FIELDS)
  const scopes = optionalStringList(p, 'allowed_scopes') ?? []
  if (!scopes.every(isScopeToken)) throw bad('token_exchange.allowed_scopes must be RFC 6749 scope-tokens')
  const audiences = optionalStringList(p, 'allowed_audiences') ?? []
  if (!audiences.every((a) => /^[\x21-\x7e]{1,512}$/.test(a))) throw bad('token_exchange.allowed_audiences must be printable strings without spaces')
  const resources = optionalStringList(p, 'allowed_resources') ?? []
  if (!resources.every(isResourceUri)) throw bad('token_exchange.allowed_resources must be absolute URIs without a fragment (RFC 8707 §2)')
  return {
    subject_clients: optionalStringList(p, 'subject_clients') ?? [],
    allowed_scopes: scopes,
    allowed_audiences: audiences,
    allowed_resources: resources,
    max_refresh_ttl: optionalSeconds(p, 'max_refresh_ttl', MAX_REFRESH_TOKEN_TTL_SECONDS) ?? null,
  }
}

// Client ids travel in Basic headers, URLs and cursors: keep them to a safe printable set.
function clientIdField(b: Record<string, unknown>): string | undefined {
  const id = optionalString(b, 'client_id', 128)
  if (id !== undefined && !/^[A-Za-z0-9._:-]+$/.test(id)) throw bad('client_id may contain only letters, digits and . _ : -')
  return id
}

/** Seven days: longer than any sane deploy takes, short enough that a leaked old secret dies. */
const MAX_SECRET_OVERLAP_SECONDS = 7 * 86_400

// Public keys only, and few: a private key here would be a registration mistake worth refusing,
// and the set is read on every assertion.
function jwksField(value: unknown): JwkSet {
  const keys = (value as { keys?: unknown } | null)?.keys
  if (typeof value !== 'object' || !Array.isArray(keys) || keys.length === 0 || keys.length > 10) {
    throw bad('jwks must be a JWK Set with 1 to 10 keys')
  }
  for (const k of keys) {
    if (typeof k !== 'object' || k === null || typeof (k as { kty?: unknown }).kty !== 'string') throw bad('jwks keys must be JWKs with kty')
    if ('d' in k || 'k' in k) throw bad('jwks must hold public keys only')
  }
  return { keys: keys as Record<string, unknown>[] }
}

function isAuthMethod(value: unknown): value is TokenEndpointAuthMethod {
  return TOKEN_ENDPOINT_AUTH_METHODS.includes(value as TokenEndpointAuthMethod)
}

function checkClient(c: ClientRecord): void {
  if (c.grant_types.length === 0) throw bad('grant_types must not be empty')
  if (c.grant_types.includes('authorization_code') && c.redirect_uris.length === 0) {
    throw bad('authorization_code clients need at least one redirect_uri')
  }
  if (c.grant_types.includes('client_credentials') && c.token_endpoint_auth_method === 'none') {
    throw bad('public clients cannot use client_credentials')
  }
  if (c.token_endpoint_auth_method === 'private_key_jwt' && !c.jwks === !c.jwks_uri) {
    throw bad('private_key_jwt clients need exactly one of jwks and jwks_uri')
  }
  if (c.token_endpoint_auth_method !== 'private_key_jwt' && (c.jwks || c.jwks_uri)) {
    throw bad('jwks and jwks_uri are for private_key_jwt clients')
  }
  if (c.refresh_token_ttl !== null && c.refresh_token_ttl_max !== null && c.refresh_token_ttl > c.refresh_token_ttl_max) {
    throw bad('refresh_token_ttl must not exceed refresh_token_ttl_max')
  }
}

async function findUser(deps: Deps, idOrEmail: string) {
  const user = idOrEmail.includes('@') ? await deps.store.getUserByEmail(idOrEmail) : await deps.store.getUser(idOrEmail)
  if (!user) throw notFound('user')
  return user
}

async function findClient(deps: Deps, clientId: string) {
  const client = await deps.store.getClient(clientId)
  if (!client) throw notFound('client')
  return client
}

function notFound(what: string): HttpProblem {
  return new HttpProblem('NOT_FOUND', `${what} not found`)
}

function tooManyAttempts(retryAfter: number): OAuthError {
  return new OAuthError('temporarily_unavailable', 'too many requests; slow down', { status: 429, headers: { 'retry-after': String(retryAfter) } })
}

import { encodeBase64url } from '@evergreen/core'
import * as oauth from 'oauth4webapi'
import type { AccessTokenClaims, VerifiedToken } from '@evergreen/resource'
import { createAccessTokenVerifier, type AccessClaims } from './access-token.js'
import { createApiTokenVerifier, presentsAccessToken, type ApiTokenVerifier } from './api-token.js'
import { validateLogoutToken } from './backchannel-logout.js'
import { resolveConfig, type DenialReason, type EvergreenWebOptions, type WebConfig } from './config.js'
import {
  accessName,
  considered,
  cookieScope,
  deleteCookie,
  parseCookieHeader,
  readCookies,
  reauthName,
  refreshName,
  setCookie,
  transactionName,
  type CookieScope,
  type RequestCookies,
} from './cookies.js'
import type { WebEvent } from './events.js'
import { createProvider, type TokenSet } from './provider.js'
import { createRefreshCoordinator } from './refresh-coordinator.js'
import { isApiRequest } from './request-kind.js'
import { backchannelJson, logoutConfirmPage, problemPage, redirect, retryPage, sessionExpiredJson, tokenCheckFailedJson, unavailableJson } from './responses.js'
import { safeReturnTo } from './return-to.js'
import { deriveSealKeys, mac, seal, timingSafeEqual, unseal, type SealKeys } from './seal.js'
import { parseSessionPayload, type SessionPayload } from './session-payload.js'

/** The signed-in person in a browser: the cookie session. */
export interface CookieSession {
  /** How the caller authenticated: with the dashboard's session cookies. */
  via: 'cookie'
  /** The user id (`sub`). */
  sub: string
  /** The session id at the token service (`sid`), when the tokens carry one. */
  sid: string | undefined
  /** `email` and `name` from the ID token, when the scopes granted them. */
  email: string | undefined
  name: string | undefined
  /** The access token, to call APIs on the person's behalf. Never log it. */
  accessToken: string
  /** The access token's verified claims. */
  claims: AccessClaims
  /** When the access token expires (epoch seconds). */
  accessTokenExpiresAt: number
  /** When the session idles out unless used (epoch seconds), when known. */
  sessionExpiresAt: number | undefined
  /** When the person signed in to this app (epoch seconds). */
  loginAt: number
  /** The CSRF token the logout form must send (field `csrf`). */
  csrfToken: string
}

/**
 * A program calling the dashboard's API with its own access token (`apiTokens`), verified by
 * `@evergreen/resource`. It has no cookies, so no CSRF token and no dashboard session expiry.
 */
export interface TokenSession {
  /** How the caller authenticated: a presented `Authorization: Bearer` or `DPoP` token. */
  via: 'token'
  /** The user id (`sub`): the person the token acts for, or the client itself for client credentials. */
  sub: string
  /** The session id at the token service (`sid`), when the token carries one. */
  sid: string | undefined
  /** `email`/`name` claims, when the token carries them (Evergreen's access tokens usually do not). */
  email: string | undefined
  name: string | undefined
  /** The presented access token. Never log it, never forward it: its audience is this API. */
  accessToken: string
  /** The access token's verified claims (`client_id`, `scope`, `act`, `cnf`…). */
  claims: AccessTokenClaims
  /** When the access token expires (epoch seconds). */
  accessTokenExpiresAt: number
  /** `DPoP` when the token is DPoP-bound and came with a valid proof of this request. */
  scheme: 'Bearer' | 'DPoP'
  /** The client the token was issued to. */
  clientId: string
  /** The token's scopes. */
  scopes: string[]
  /** The resource (`apiTokens.resource`) it was verified for. */
  resource: string
}

/** Who is calling, as a request handler sees them; `via` tells which way they authenticated. */
export type WebSession = CookieSession | TokenSession

/**
 * What the middleware decided for one request. `headers` holds the `Set-Cookie` lines (rotated
 * cookies, deletions) the app's response MUST carry, whatever it is — a page, a stream, a redirect.
 */
export type AuthResult =
  /** Signed in (cookies), or a presented token that checked out (`session.via`): serve the request. */
  | { type: 'session'; session: WebSession; headers: Headers }
  /** No usable session, for `reason`; serve a public page, or answer with {@link EvergreenWeb.loginRequired}. */
  | { type: 'anonymous'; reason: DenialReason; retryAfter: number | undefined; headers: Headers }
  /** An auth route (`/auth/...`) answered; send `response` as it is. */
  | { type: 'response'; response: Response }

/** The middleware core: Web-standard Request in, decision out. Adapters only convert. */
export interface EvergreenWeb {
  readonly config: WebConfig
  /** Routes `/auth/*` and authenticates everything else. Never throws. */
  handle(request: Request): Promise<AuthResult>
  /**
   * The answer to a request that needs a session and has none: 401/503 JSON for an API request,
   * a redirect to login or a retry page for a navigation; `onLoginRequired` may replace it.
   */
  loginRequired(request: Request, result: Extract<AuthResult, { type: 'anonymous' }>): Response
  /** `handle`, then `loginRequired` when there is no session: a session or a response to send. */
  require(request: Request): Promise<{ type: 'session'; session: WebSession; headers: Headers } | { type: 'response'; response: Response }>
}

const TX_SECONDS = 600
const MAX_TRANSACTIONS = 3
const DEFAULT_SESSION_SECONDS = 30 * 86_400
/** Browsers cap cookie lifetimes at 400 days (RFC 6265bis §5.6.1). */
const MAX_COOKIE_SECONDS = 400 * 86_400
const MAX_FORM_BYTES = 16 * 1024
/** How long a remote revocation makes the next sign-in ask for the password. */
const REAUTH_SECONDS = 86_400

interface Transaction {
  s: string
  n: string
  v: string
  r: string
  c: number
  /** 1 when the authorization request carried `prompt=login`. */
  p?: 1
}

/**
 * Creates the middleware core. Validates the options first and throws a {@link WebConfigError}
 * listing every problem.
 *
 * @example
 * const web = createEvergreenWeb({ issuer: 'https://auth.example.com', clientId: 'dash', clientSecret, sessionSecret })
 * const result = await web.handle(request)
 * @see https://openid.net/specs/openid-connect-core-1_0.html#CodeFlowAuth
 */
export function createEvergreenWeb(options: EvergreenWebOptions): EvergreenWeb {
  const config = resolveConfig(options)
  const provider = createProvider(config)
  const verifyAccess = createAccessTokenVerifier(config, provider)
  const apiTokens = createApiTokenVerifier(config)
  const refreshOnce = createRefreshCoordinator(config, provider)
  let keysPromise: Promise<SealKeys> | undefined
  const keys = () => (keysPromise ??= deriveSealKeys(config.sessionSecret))
  const payloadCache = new Map<string, SessionPayload>()
  const csrfCache = new Map<string, string>()
  const m = config.mountPath
  const issuerOrigin = config.issuer.origin

  const emit = (event: WebEvent) => {
    try {
      config.onEvent?.(event)
    } catch {
      // An audit hook must not break sign-in.
    }
  }
  const random = (n: number) => encodeBase64url(config.randomBytes(n))
  const iv = () => config.randomBytes(12)

  const originOf = (url: URL): URL => config.baseUrl ?? new URL(url.origin)

  async function openSession(value: string): Promise<SessionPayload | undefined> {
    const hit = payloadCache.get(value)
    if (hit) return hit
    const payload = parseSessionPayload(await unseal(await keys(), 'session', value))
    if (payload) {
      if (payloadCache.size >= 10_000) payloadCache.delete(payloadCache.keys().next().value!)
      payloadCache.set(value, payload)
    }
    return payload
  }

  async function csrfFor(identity: { sid: string | undefined; sub: string; loginAt: number }): Promise<string> {
    const key = `${identity.sid ?? ''}|${identity.sub}|${identity.loginAt}`
    let token = csrfCache.get(key)
    if (!token) {
      token = await mac(await keys(), `logout|${key}`)
      if (csrfCache.size >= 10_000) csrfCache.delete(csrfCache.keys().next().value!)
      csrfCache.set(key, token)
    }
    return token
  }

  /** Every session cookie in the request, as deletions. */
  const clearAll = (scope: CookieScope, c: RequestCookies, withTransactions = false) => [
    ...c.refresh.map((x) => deleteCookie(scope, x.name)),
    ...c.access.map((x) => deleteCookie(scope, x.name)),
    ...(withTransactions ? c.transactions.map((x) => deleteCookie(scope, x.name)) : []),
  ]

  const headersOf = (lines: readonly string[]) => {
    const h = new Headers()
    for (const l of lines) h.append('set-cookie', l)
    return h
  }

  /** The sealed session cookie and access cookie for a token set, under generation `gen`. */
  async function issueCookies(scope: CookieScope, gen: number, tokens: TokenSet, previous: SessionPayload | undefined, sub: string, loginAt: number): Promise<{ lines: string[]; payload: SessionPayload; value: string }> {
    const now = config.now()
    const idClaims = tokens.id_claims
    const sessionSeconds = tokens.refresh_token_expires_in
    const payload: SessionPayload = {
      v: 1,
      rt: tokens.refresh_token,
      it: tokens.id_token ?? previous?.it,
      sid: (typeof idClaims?.sid === 'string' ? idClaims.sid : undefined) ?? previous?.sid,
      sub,
      la: loginAt,
      ex: sessionSeconds === undefined ? previous?.ex : now + sessionSeconds,
      pr: idClaims
        ? { ...(typeof idClaims.email === 'string' ? { email: idClaims.email } : {}), ...(typeof idClaims.name === 'string' ? { name: idClaims.name } : {}) }
        : previous?.pr,
    }
    const value = await seal(await keys(), 'session', payload, iv())
    payloadCache.set(value, payload)
    const rtAge = Math.min(sessionSeconds ?? (payload.ex !== undefined ? payload.ex - now : DEFAULT_SESSION_SECONDS), MAX_COOKIE_SECONDS)
    return {
      payload,
      value,
      lines: [setCookie(scope, accessName(scope, gen), tokens.access_token, tokens.expires_in), setCookie(scope, refreshName(scope, gen), value, rtAge)],
    }
  }

  async function sessionOf(token: string, claims: AccessClaims, payload: SessionPayload | undefined): Promise<CookieSession> {
    const loginAt = payload?.la ?? claims.iat
    return {
      via: 'cookie',
      sub: claims.sub,
      sid: claims.sid ?? payload?.sid,
      email: payload?.pr?.email ?? (typeof claims.email === 'string' ? claims.email : undefined),
      name: payload?.pr?.name,
      accessToken: token,
      claims,
      accessTokenExpiresAt: claims.exp,
      sessionExpiresAt: payload?.ex,
      loginAt,
      csrfToken: await csrfFor({ sid: claims.sid ?? payload?.sid, sub: claims.sub, loginAt }),
    }
  }

  async function authenticate(request: Request, url: URL): Promise<AuthResult> {
    const scope = cookieScope(originOf(url), config.cookiePrefix)
    const c = readCookies(parseCookieHeader(request.headers.get('cookie')), scope)
    const out: string[] = []
    const anonymous = (reason: DenialReason, retryAfter?: number): AuthResult => ({ type: 'anonymous', reason, retryAfter, headers: headersOf(out) })
    if (c.refresh.length === 0 && c.access.length === 0) return anonymous('no_session')

    // The highest generation that opens wins; everything else is deleted (see cookies.ts).
    let gen: number | undefined
    let payload: SessionPayload | undefined
    for (const r of considered(c.refresh)) {
      payload = await openSession(r.value)
      if (payload) {
        gen = r.gen
        break
      }
    }
    for (const r of c.refresh) if (r.gen !== gen) out.push(deleteCookie(scope, r.name))
    const access = gen === undefined ? c.access[0] : c.access.find((a) => a.gen === gen)
    for (const a of c.access) if (a !== access) out.push(deleteCookie(scope, a.name))

    const now = config.now()
    let valid: { token: string; claims: AccessClaims } | undefined
    let accessUnavailable = false
    if (access) {
      const check = await verifyAccess(access.value)
      if (check.ok && (!payload || (check.claims.sub === payload.sub && (payload.sid === undefined || check.claims.sid === undefined || payload.sid === check.claims.sid)))) {
        valid = { token: access.value, claims: check.claims }
      } else {
        if (!check.ok && check.reason === 'unavailable') accessUnavailable = true
        // An expired one is left to the browser (its Max-Age ends with it): during an outage the
        // response must not touch the session cookies at all.
        else if (check.ok || check.reason === 'invalid') out.push(deleteCookie(scope, access.name))
      }
    }

    const identity = payload ? { sid: payload.sid, sub: payload.sub, loginAt: payload.la } : valid ? { sid: valid.claims.sid, sub: valid.claims.sub, loginAt: valid.claims.iat } : undefined
    if (identity && (config.revocationList.isRevoked(identity) || (valid && config.revocationList.isRevoked({ ...identity, sid: valid.claims.sid ?? identity.sid })))) {
      // The person (or an admin) ended this session at the service, but the browser is most
      // likely still signed in there: without the marker the next /auth/login would come straight
      // back with a new session, and "Revoke" would look like it did nothing.
      out.push(...clearAll(scope, c), setCookie(scope, reauthName(scope), '1', REAUTH_SECONDS))
      return anonymous('revoked')
    }

    if (valid && (!payload || valid.claims.exp - now > config.refreshBefore)) {
      return { type: 'session', session: await sessionOf(valid.token, valid.claims, payload), headers: headersOf(out) }
    }
    if (!payload || gen === undefined) {
      if (accessUnavailable) return anonymous('unavailable', 5)
      return anonymous('no_session')
    }

    const { outcome, shared } = await refreshOnce(payload.rt)
    if (outcome.ok) {
      const nextGen = Math.max(now, gen + 1)
      const issued = await issueCookies(scope, nextGen, outcome.tokens, payload, payload.sub, payload.la)
      // The old refresh token is spent now: the new pair goes out whatever happens next, or the
      // browser would present the spent one again after the grace window and the service would
      // revoke the session as reused.
      out.push(deleteCookie(scope, refreshName(scope, gen)), deleteCookie(scope, accessName(scope, gen)), ...issued.lines)
      const check = await verifyAccess(outcome.tokens.access_token)
      if (!check.ok) {
        // A token this app cannot accept (audience or issuer misconfigured, or the JWKS
        // unreachable): not the person's fault, so not a logout.
        if (!shared) emit({ type: 'refresh.failed', at: now, sid: payload.sid, reason: 'invalid_response' })
        return valid ? { type: 'session', session: await sessionOf(valid.token, valid.claims, payload), headers: headersOf(out) } : anonymous('unavailable', 5)
      }
      if (!shared) emit({ type: 'refresh.succeeded', at: now, sub: payload.sub, sid: issued.payload.sid })
      return { type: 'session', session: await sessionOf(outcome.tokens.access_token, check.claims, issued.payload), headers: headersOf(out) }
    }
    if (!shared) emit({ type: 'refresh.failed', at: now, sid: payload.sid, reason: outcome.failure })
    if (outcome.kind === 'refused') {
      out.push(...clearAll(scope, c))
      return anonymous('session_expired')
    }
    // Superseded or unavailable: the session is not over. A still-valid access token serves the
    // request; otherwise the client retries.
    if (valid) return { type: 'session', session: await sessionOf(valid.token, valid.claims, payload), headers: headersOf(out) }
    return outcome.kind === 'superseded' ? anonymous('superseded', 1) : anonymous('unavailable', outcome.retryAfter)
  }

  /**
   * A request presenting `Authorization: Bearer|DPoP` is decided by its token alone: cookies are
   * neither read nor touched, and a refusal is the resource helper's 401/403 with its challenge —
   * never a redirect to login, which a program cannot follow, and never a fallback to a cookie
   * the same request happens to carry (the caller would not learn its token failed).
   */
  async function authenticateToken(request: Request, verifier: ApiTokenVerifier): Promise<AuthResult> {
    try {
      const outcome = await verifier.verify(request)
      if (!outcome.ok) return { type: 'response', response: outcome.response }
      const { claims } = outcome.token
      const loginAt = typeof claims.auth_time === 'number' ? claims.auth_time : claims.iat
      // A session ended by back-channel logout ends for the programs holding its tokens too.
      if (config.revocationList.isRevoked({ sid: claims.sid, sub: claims.sub, loginAt })) {
        return { type: 'response', response: verifier.refuseRevoked(request) }
      }
      return { type: 'session', session: tokenSession(outcome.token), headers: new Headers() }
    } catch {
      // A replay cache or revocation list that threw: the token could not be checked.
      return { type: 'response', response: tokenCheckFailedJson(5) }
    }
  }

  // ---- routes -------------------------------------------------------------------------------

  async function login(request: Request, url: URL): Promise<Response> {
    const origin = originOf(url)
    const scope = cookieScope(origin, config.cookiePrefix)
    const c = readCookies(parseCookieHeader(request.headers.get('cookie')), scope)
    const returnTo = safeReturnTo(url.searchParams.get('return_to'), origin) ?? '/'
    let as: oauth.AuthorizationServer
    try {
      as = await provider.metadata()
    } catch {
      return retryPage(5, [], issuerOrigin)
    }
    // Discovery without an authorization endpoint cannot start a sign-in; like an outage, it is
    // the service's to fix, and the page retries.
    if (!as.authorization_endpoint) return retryPage(5, [], issuerOrigin)
    const now = config.now()
    const out: string[] = []
    // One cookie per login attempt, so two tabs signing in at once do not overwrite each other's
    // state; only the newest few are kept, and stale or unreadable ones are dropped.
    const keep: { name: string; c: number }[] = []
    const k = await keys()
    const readable = new Set(considered(c.transactions))
    for (const t of c.transactions) {
      const tx = readable.has(t) ? ((await unseal(k, 'login', t.value)) as Transaction | undefined) : undefined
      if (tx && typeof tx.c === 'number' && tx.c + TX_SECONDS > now) keep.push({ name: t.name, c: tx.c })
      else out.push(deleteCookie(scope, t.name))
    }
    keep.sort((a, b) => b.c - a.c)
    for (const old of keep.slice(MAX_TRANSACTIONS - 1)) out.push(deleteCookie(scope, old.name))

    const state = random(16)
    const nonce = random(16)
    const verifier = random(32)
    const tx: Transaction = { s: state, n: nonce, v: verifier, r: returnTo, c: now, ...(c.reauth ? { p: 1 as const } : {}) }
    out.push(setCookie(scope, transactionName(scope, state), await seal(k, 'login', tx, iv()), TX_SECONDS))

    const target = new URL(as.authorization_endpoint)
    target.searchParams.set('client_id', config.clientId)
    target.searchParams.set('redirect_uri', new URL(config.redirectPath, origin).href)
    target.searchParams.set('response_type', 'code')
    target.searchParams.set('scope', config.scope)
    target.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(verifier))
    target.searchParams.set('code_challenge_method', 'S256')
    target.searchParams.set('state', state)
    target.searchParams.set('nonce', nonce)
    // OIDC Core §3.1.2.1: the service asks for the password even with a live sign-in there.
    if (tx.p) target.searchParams.set('prompt', 'login')
    return redirect(target.href, out)
  }

  async function callback(request: Request, url: URL): Promise<Response> {
    const origin = originOf(url)
    const scope = cookieScope(origin, config.cookiePrefix)
    const c = readCookies(parseCookieHeader(request.headers.get('cookie')), scope)
    const state = url.searchParams.get('state') ?? ''
    const now = config.now()
    const retry = { href: `${m}/login`, text: 'Sign in again' }
    const entry = c.transactions.find((t) => t.id === state)
    const tx = entry ? ((await unseal(await keys(), 'login', entry.value)) as Transaction | undefined) : undefined
    if (!tx || tx.s !== state || typeof tx.c !== 'number' || tx.c + TX_SECONDS <= now) {
      return problemPage(400, 'This sign-in has expired', 'The sign-in took too long or was already completed. Please sign in again.', retry, entry ? [deleteCookie(scope, entry.name)] : [], issuerOrigin)
    }
    const loginAgain = { href: `${m}/login?return_to=${encodeURIComponent(tx.r)}`, text: 'Sign in again' }
    let tokens: TokenSet
    try {
      tokens = await provider.exchangeCode(url, { state: tx.s, nonce: tx.n, verifier: tx.v, redirectUri: new URL(config.redirectPath, origin).href })
    } catch (err) {
      const spent = [deleteCookie(scope, entry!.name)]
      if (err instanceof oauth.AuthorizationResponseError) {
        return problemPage(400, 'Sign-in was not completed', err.error === 'access_denied' ? 'Access was denied.' : 'The sign-in service did not sign you in.', loginAgain, spent, issuerOrigin)
      }
      const outcome = classifyExchange(err)
      if (outcome === 'unavailable') return problemPage(503, 'Sign-in service unavailable', 'The sign-in service is not answering right now. Please try again in a moment.', loginAgain, spent, issuerOrigin)
      return problemPage(400, 'Sign-in failed', 'The sign-in could not be completed. Please try again.', loginAgain, spent, issuerOrigin)
    }
    // OIDC Core §3.1.2.1: after prompt=login the RP checks auth_time, so a request stripped of
    // prompt=login on its way (a hand-edited URL) cannot pass as the re-authentication.
    const authTime = tokens.id_claims?.auth_time
    if (tx.p && (typeof authTime !== 'number' || authTime < tx.c - config.clockTolerance)) {
      return problemPage(400, 'Sign-in failed', 'The sign-in service did not ask for your password again. Please sign in again.', loginAgain, [deleteCookie(scope, entry!.name)], issuerOrigin)
    }
    const check = await verifyAccess(tokens.access_token)
    if (!check.ok) return problemPage(400, 'Sign-in failed', 'The sign-in service issued an access token this app cannot accept.', loginAgain, [deleteCookie(scope, entry!.name)], issuerOrigin)
    const highest = Math.max(0, ...c.refresh.map((r) => r.gen), ...c.access.map((a) => a.gen))
    const gen = Math.max(now, highest + 1)
    const issued = await issueCookies(scope, gen, tokens, undefined, check.claims.sub, now)
    // Only this attempt's transaction goes: another tab may be signing in right now with its own.
    const out = [...clearAll(scope, c), deleteCookie(scope, entry!.name), ...(c.reauth ? [deleteCookie(scope, reauthName(scope))] : []), ...issued.lines]
    emit({ type: 'login', at: now, sub: check.claims.sub, sid: issued.payload.sid })
    return redirect(tx.r, out)
  }

  /** Who the logout is for, from the cookies alone (no refresh). */
  async function currentIdentity(c: RequestCookies): Promise<{ payload: SessionPayload | undefined; identity: { sid: string | undefined; sub: string; loginAt: number } | undefined }> {
    for (const r of considered(c.refresh)) {
      const payload = await openSession(r.value)
      if (payload) return { payload, identity: { sid: payload.sid, sub: payload.sub, loginAt: payload.la } }
    }
    for (const a of considered(c.access)) {
      const check = await verifyAccess(a.value)
      if (check.ok) return { payload: undefined, identity: { sid: check.claims.sid, sub: check.claims.sub, loginAt: check.claims.iat } }
    }
    return { payload: undefined, identity: undefined }
  }

  async function logoutPage(request: Request, url: URL): Promise<Response> {
    const scope = cookieScope(originOf(url), config.cookiePrefix)
    const { identity } = await currentIdentity(readCookies(parseCookieHeader(request.headers.get('cookie')), scope))
    return logoutConfirmPage(`${m}/logout`, identity ? await csrfFor(identity) : '', issuerOrigin)
  }

  async function logout(request: Request, url: URL): Promise<Response> {
    const origin = originOf(url)
    const scope = cookieScope(origin, config.cookiePrefix)
    const back = { href: '/', text: 'Back' }
    // A cross-site page must not be able to sign people out: the browser's Origin (or, where it
    // is missing, Sec-Fetch-Site) must be this app, and the form must carry the session's token.
    const requestOrigin = request.headers.get('origin')
    const site = request.headers.get('sec-fetch-site')
    if ((requestOrigin !== null && requestOrigin !== origin.origin) || (requestOrigin === null && site !== null && site !== 'same-origin')) {
      return problemPage(403, 'Sign-out refused', 'The sign-out form did not come from this site.', back, [], issuerOrigin)
    }
    const form = await readForm(request)
    const c = readCookies(parseCookieHeader(request.headers.get('cookie')), scope)
    const { payload, identity } = await currentIdentity(c)
    if (identity) {
      const expected = await csrfFor(identity)
      const given = form?.get('csrf') ?? ''
      if (!timingSafeEqual(given, expected)) return problemPage(403, 'Sign-out refused', 'The sign-out form has expired. Please try again.', { href: `${m}/logout`, text: 'Sign out' }, [], issuerOrigin)
    }
    const now = config.now()
    const revoked = payload ? await provider.revoke(payload.rt) : false
    if (identity?.sid) await config.revocationList.revoke({ sid: identity.sid }, config.revocationTtlSeconds).catch(() => undefined)
    emit({ type: 'logout', at: now, sub: identity?.sub, sid: identity?.sid, revoked })
    const out = clearAll(scope, c, true)
    const afterLogout = new URL(config.postLogoutRedirectPath, origin).href
    let endSession: string | undefined
    try {
      endSession = (await provider.metadata()).end_session_endpoint
    } catch {
      endSession = undefined
    }
    if (!endSession) return redirect(config.postLogoutRedirectPath, out)
    // OIDC RP-Initiated Logout 1.0 §2: the ID token tells the service which session ends.
    const target = new URL(endSession)
    if (payload?.it) target.searchParams.set('id_token_hint', payload.it)
    target.searchParams.set('client_id', config.clientId)
    target.searchParams.set('post_logout_redirect_uri', afterLogout)
    target.searchParams.set('state', random(16))
    return redirect(target.href, out)
  }

  async function backchannelLogout(request: Request): Promise<Response> {
    try {
      return await receiveLogoutToken(request)
    } catch {
      // The revocation list's store (Redis) failed: the OP should retry, so not a 400.
      return backchannelJson(503, { error: 'temporarily_unavailable', error_description: 'cannot record the logout now' })
    }
  }

  async function receiveLogoutToken(request: Request): Promise<Response> {
    const form = await readForm(request)
    const token = form?.get('logout_token')
    if (!token) return backchannelJson(400, { error: 'invalid_request', error_description: 'logout_token is required' })
    const check = await validateLogoutToken(config, provider, token)
    if (!check.ok) {
      return check.unavailable
        ? backchannelJson(503, { error: 'temporarily_unavailable', error_description: check.description })
        : backchannelJson(400, { error: 'invalid_request', error_description: check.description })
    }
    const { sid, sub, iat } = check.claims
    await config.revocationList.revoke(sid ? { sid } : { sub: sub!, before: iat }, config.revocationTtlSeconds)
    emit({ type: 'backchannel_logout', at: config.now(), sub, sid })
    return backchannelJson(200, undefined)
  }

  async function route(request: Request, url: URL): Promise<Response | undefined> {
    const path = url.pathname
    if (path === config.redirectPath && request.method === 'GET') return callback(request, url)
    if (path !== m && !path.startsWith(`${m}/`)) return undefined
    const sub = path.slice(m.length)
    const allow = (methods: string) => new Response(null, { status: 405, headers: { allow: methods, 'cache-control': 'no-store' } })
    switch (sub) {
      case '/login':
        return request.method === 'GET' || request.method === 'HEAD' ? login(request, url) : allow('GET')
      case '/callback':
        return allow('GET')
      case '/logout':
        if (request.method === 'POST') return logout(request, url)
        return request.method === 'GET' || request.method === 'HEAD' ? logoutPage(request, url) : allow('GET, POST')
      case '/backchannel-logout':
        return request.method === 'POST' ? backchannelLogout(request) : allow('POST')
      default:
        return new Response('Not Found', { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' } })
    }
  }

  function loginRequired(request: Request, result: Extract<AuthResult, { type: 'anonymous' }>): Response {
    const lines = result.headers.getSetCookie()
    let url: URL
    try {
      url = new URL(request.url)
    } catch {
      url = new URL('http://invalid/')
    }
    const origin = originOf(url)
    const api = isApiRequest(request, url.pathname, config.apiPaths)
    let returnTo: string | undefined
    if (!api && request.method === 'GET') returnTo = safeReturnTo(`${url.pathname}${url.search}`, origin)
    else {
      const referer = request.headers.get('referer')
      if (referer && URL.canParse(referer) && new URL(referer).origin === origin.origin) {
        const r = new URL(referer)
        returnTo = safeReturnTo(`${r.pathname}${r.search}`, origin)
      }
    }
    const loginUrl = `${m}/login?return_to=${encodeURIComponent(returnTo ?? '/')}`
    const custom = config.onLoginRequired?.(request, { reason: result.reason, api, loginUrl, ...(result.retryAfter !== undefined ? { retryAfter: result.retryAfter } : {}) })
    if (custom instanceof Response) return withCookies(custom, lines)
    if (result.reason === 'unavailable' || result.reason === 'superseded') {
      const wait = result.retryAfter ?? 1
      return api ? unavailableJson(wait, lines) : retryPage(wait, lines, issuerOrigin)
    }
    return api ? sessionExpiredJson(loginUrl, lines) : redirect(loginUrl, lines)
  }

  async function handle(request: Request): Promise<AuthResult> {
    let url: URL
    try {
      url = new URL(request.url)
    } catch {
      return { type: 'anonymous', reason: 'no_session', retryAfter: undefined, headers: new Headers() }
    }
    try {
      const response = await route(request, url)
      if (response) return { type: 'response', response }
    } catch {
      // Whatever an auth route met — hostile input, a library bug — it is a failed request, never a 500.
      return { type: 'response', response: problemPage(400, 'Request failed', 'This request could not be completed.', { href: '/', text: 'Home' }, [], issuerOrigin) }
    }
    if (apiTokens) {
      const metadata = apiTokens.metadataResponse(request)
      if (metadata) return { type: 'response', response: metadata }
      if (presentsAccessToken(request)) return authenticateToken(request, apiTokens)
    }
    try {
      return await authenticate(request, url)
    } catch {
      return { type: 'anonymous', reason: 'no_session', retryAfter: undefined, headers: new Headers() }
    }
  }

  return {
    config,
    handle,
    loginRequired,
    async require(request) {
      const result = await handle(request)
      if (result.type === 'anonymous') return { type: 'response', response: loginRequired(request, result) }
      return result
    },
  }
}

function tokenSession(token: VerifiedToken): TokenSession {
  const { claims } = token
  return {
    via: 'token',
    sub: token.subject,
    sid: typeof claims.sid === 'string' ? claims.sid : undefined,
    email: typeof claims.email === 'string' ? claims.email : undefined,
    name: typeof claims.name === 'string' ? claims.name : undefined,
    accessToken: token.token,
    claims,
    accessTokenExpiresAt: claims.exp,
    scheme: token.scheme,
    clientId: token.clientId,
    scopes: token.scopes,
    resource: token.resource,
  }
}

/** Whether a failed code exchange was the service's absence (retry) or a refusal (start over). */
function classifyExchange(err: unknown): 'unavailable' | 'refused' {
  if (err instanceof oauth.ResponseBodyError) return err.status >= 500 || err.status === 429 || err.error === 'temporarily_unavailable' ? 'unavailable' : 'refused'
  if (err instanceof oauth.OperationProcessingError) {
    const cause = err.cause
    return cause instanceof Response && (cause.status >= 500 || cause.status === 429) ? 'unavailable' : 'refused'
  }
  if (err instanceof oauth.WWWAuthenticateChallengeError) return 'refused'
  if (err instanceof Error && err.name.startsWith('JW')) return 'refused'
  return 'unavailable'
}

/** Reads an urlencoded form of at most 16 KB; undefined for anything else. */
async function readForm(request: Request): Promise<URLSearchParams | undefined> {
  const type = request.headers.get('content-type') ?? ''
  if (!type.toLowerCase().startsWith('application/x-www-form-urlencoded')) return undefined
  const length = Number(request.headers.get('content-length') ?? '0')
  if (length > MAX_FORM_BYTES) return undefined
  try {
    const text = await request.text()
    return text.length > MAX_FORM_BYTES ? undefined : new URLSearchParams(text)
  } catch {
    return undefined
  }
}

/**
 * Adds Set-Cookie lines to a response. A response from `Response.redirect()` or `fetch()` has
 * immutable headers; those are copied into a new Response around the same body (no buffering,
 * so a stream stays a stream).
 *
 * @example return withCookies(new Response('ok'), result.headers.getSetCookie())
 */
export function withCookies(response: Response, lines: readonly string[]): Response {
  if (lines.length === 0) return response
  try {
    for (const l of lines) response.headers.append('set-cookie', l)
    return response
  } catch {
    const copy = new Response(response.body, response)
    for (const l of lines) copy.headers.append('set-cookie', l)
    return copy
  }
}

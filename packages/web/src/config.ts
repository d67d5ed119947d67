import type { ReplayCache } from '@evergreen/resource'
import { WebConfigError, type ConfigProblem } from './errors.js'
import type { WebEvent } from './events.js'
import { createMemoryRevocationList, type RevocationList } from './revocation-list.js'
import { assessSessionSecret, MIN_SECRET_BYTES } from './session-secret.js'

/** Why the middleware decided a request has no usable session. */
export type DenialReason =
  /** No session cookie at all. */
  | 'no_session'
  /** The token service refused the refresh token (`invalid_grant`, `invalid_client`). */
  | 'session_expired'
  /** The session's `sid` (or its user) is on the revocation list. */
  | 'revoked'
  /** The token service could not be reached, answered 5xx/429 or `temporarily_unavailable`. */
  | 'unavailable'
  /** Another request rotated this refresh token first (`error_reason: superseded`); retry. */
  | 'superseded'

/** What a custom login-required handler learns about the request it answers. */
export interface LoginRequiredContext {
  reason: DenialReason
  /** True for API requests (JSON answers), false for navigations (pages and redirects). */
  api: boolean
  /** Where to send the person to sign in, `return_to` included; a path on the app's origin. */
  loginUrl: string
  /** Seconds a client should wait before retrying, for `unavailable` and `superseded`. */
  retryAfter?: number
}

/**
 * Options of {@link createEvergreenWeb}. Only `issuer`, `clientId` and `sessionSecret` are
 * required; everything else has a default that suits a dashboard on one origin.
 */
export interface EvergreenWebOptions {
  /** The token service's issuer URL (`https://`, or `http://` on loopback and `.test`/`.localhost`). */
  issuer: string
  /** The OAuth client id registered for this app. */
  clientId: string
  /** A confidential client's secret (sent with `client_secret_basic`); omit for a public client (PKCE only). */
  clientSecret?: string
  /**
   * Seals the refresh cookie and the login transaction, and keys the CSRF token: at least 32
   * bytes, and not an obvious pattern. `openssl rand -base64 32` makes a good one.
   */
  sessionSecret: string | Uint8Array
  /**
   * The app's public origin, e.g. `https://dash.example.com`. Default: the origin of each request's
   * URL (right unless a proxy rewrites it). Decides `Secure`/`__Host-` and the redirect URI.
   */
  baseUrl?: string
  /** Where the auth routes live. Default `/auth`: `/auth/login`, `/auth/callback`, `/auth/logout`, `/auth/backchannel-logout`. */
  mountPath?: string
  /** The redirect URI's path, registered at the token service. Default `<mountPath>/callback`. */
  redirectPath?: string
  /** Where the service sends the browser after logout (`post_logout_redirect_uri`), a path. Default `/`. */
  postLogoutRedirectPath?: string
  /** Scopes to request. Default `['openid']`; `openid` is always included. */
  scopes?: string[]
  /** The `aud` access tokens must carry. Default the client id (what Evergreen puts there when no audience is requested). */
  audience?: string
  /** Prefix of every cookie name, after `__Host-` on https. Default `evergreen.`. */
  cookiePrefix?: string
  /** Path prefixes that are APIs: denials there are JSON, never redirects. Default `['/api/']`. */
  apiPaths?: string[]
  /**
   * Also accept presented access tokens (`Authorization: Bearer` or `DPoP`) — CLIs, agents and
   * services calling the dashboard's API — verified by `@evergreen/resource` for `resource`.
   * Off by default: without it an Authorization header is ignored and only cookies count.
   */
  apiTokens?: ApiTokenOptions
  /** Where revoked sessions are listed. Default an in-memory list (one process). */
  revocationList?: RevocationList
  /** How long a revocation is remembered, in seconds. Default 30 days. */
  revocationTtlSeconds?: number
  /** Audit hook: login, refresh, logout, back-channel logout. Never given a token. Errors it throws are swallowed. */
  onEvent?: (event: WebEvent) => void
  /** Answers a request that needs a session and has none; return undefined for the default answer. */
  onLoginRequired?: (request: Request, context: LoginRequiredContext) => Response | undefined
  /** Clock skew tolerated on `exp`, `iat` and `nbf`, in seconds. Default 5. */
  clockToleranceSeconds?: number
  /** Refresh when the access token has fewer than this many seconds left. Default 30. */
  refreshBeforeExpirySeconds?: number
  /** After a refresh failed for lack of the service, wait this long before trying that session again. Default 5. */
  refreshCooldownSeconds?: number
  /** Injected `fetch`, used for discovery, JWKS, token, and revocation requests. */
  fetch?: typeof fetch
  /** Injected clock: epoch seconds. */
  now?: () => number
  /** Injected randomness: `n` random bytes. */
  randomBytes?: (n: number) => Uint8Array
}

/** {@link EvergreenWebOptions.apiTokens}: how presented access tokens are verified. */
export interface ApiTokenOptions {
  /**
   * The dashboard API's resource identifier (RFC 8707), e.g. `https://dash.example.com/api`:
   * tokens must carry it in `aud`, and DPoP proofs must name its origin. Register it as an
   * allowed audience of the clients that call the API.
   */
  resource: string
  /** Scopes every token-authenticated request must carry (403 `insufficient_scope` otherwise). */
  scopes?: readonly string[]
  /** Where DPoP proof `jti`s are remembered; in memory per process by default (see `@evergreen/resource`). */
  replayCache?: ReplayCache
}

/** The validated, defaulted configuration the middleware runs on. */
export interface WebConfig {
  issuer: URL
  clientId: string
  clientSecret: string | undefined
  sessionSecret: Uint8Array
  baseUrl: URL | undefined
  mountPath: string
  redirectPath: string
  postLogoutRedirectPath: string
  scope: string
  audience: string
  cookiePrefix: string
  apiPaths: string[]
  /** `apiTokens`, validated, with the issuer exactly as configured (the `iss` tokens carry). */
  apiTokens: (ApiTokenOptions & { issuer: string }) | undefined
  revocationList: RevocationList
  revocationTtlSeconds: number
  onEvent: ((event: WebEvent) => void) | undefined
  onLoginRequired: EvergreenWebOptions['onLoginRequired']
  clockTolerance: number
  refreshBefore: number
  refreshCooldown: number
  fetch: typeof fetch
  now: () => number
  randomBytes: (n: number) => Uint8Array
}

const COOKIE_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]*$/

function isLocalHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname) || hostname.endsWith('.localhost') || hostname.endsWith('.test')
}

function isCleanPath(p: unknown): p is string {
  return typeof p === 'string' && p.startsWith('/') && !p.startsWith('//') && !/[\s\\?#%]/.test(p) && !p.includes('..')
}

/**
 * Validates and defaults the options; throws one {@link WebConfigError} listing every problem.
 *
 * @example const config = resolveConfig({ issuer: 'https://auth.example.com', clientId: 'dash', sessionSecret })
 */
export function resolveConfig(options: EvergreenWebOptions): WebConfig {
  const problems: ConfigProblem[] = []
  const problem = (option: string, code: ConfigProblem['code'], message: string) => problems.push({ option, code, message })
  const o = (options ?? {}) as Partial<EvergreenWebOptions>

  let issuer: URL | undefined
  if (typeof o.issuer !== 'string' || o.issuer === '') problem('issuer', 'REQUIRED', 'the token service issuer URL is required')
  else if (!URL.canParse(o.issuer)) problem('issuer', 'INVALID_URL', 'not a URL')
  else {
    issuer = new URL(o.issuer)
    if (issuer.protocol !== 'https:' && !(issuer.protocol === 'http:' && isLocalHost(issuer.hostname))) {
      problem('issuer', 'INSECURE_URL', 'must be https:// (http:// only on localhost, 127.0.0.1, ::1, *.localhost or *.test)')
    } else if (issuer.search || issuer.hash) problem('issuer', 'INVALID_URL', 'must not have a query or fragment')
  }
  if (typeof o.clientId !== 'string' || o.clientId === '') problem('clientId', 'REQUIRED', 'the OAuth client id is required')
  if (o.clientSecret !== undefined && (typeof o.clientSecret !== 'string' || o.clientSecret === '')) {
    problem('clientSecret', 'INVALID_VALUE', 'must be a non-empty string, or omitted for a public client')
  }

  let sessionSecret: Uint8Array = new Uint8Array()
  if (o.sessionSecret === undefined || o.sessionSecret === '') problem('sessionSecret', 'REQUIRED', `a session secret of at least ${MIN_SECRET_BYTES} bytes is required`)
  else if (typeof o.sessionSecret !== 'string' && !(o.sessionSecret instanceof Uint8Array)) problem('sessionSecret', 'INVALID_VALUE', 'must be a string or a Uint8Array')
  else {
    sessionSecret = typeof o.sessionSecret === 'string' ? new TextEncoder().encode(o.sessionSecret) : o.sessionSecret
    const weakness = assessSessionSecret(sessionSecret)
    if (weakness === 'too_short') problem('sessionSecret', 'SECRET_TOO_SHORT', `must be at least ${MIN_SECRET_BYTES} bytes, got ${sessionSecret.length}`)
    else if (weakness) problem('sessionSecret', 'SECRET_WEAK', `looks weak (${weakness.replace('_', ' ')}); use random bytes, e.g. \`openssl rand -base64 32\``)
  }

  let baseUrl: URL | undefined
  if (o.baseUrl !== undefined) {
    if (typeof o.baseUrl !== 'string' || !URL.canParse(o.baseUrl)) problem('baseUrl', 'INVALID_URL', 'not a URL')
    else {
      baseUrl = new URL(o.baseUrl)
      if (baseUrl.protocol !== 'https:' && baseUrl.protocol !== 'http:') problem('baseUrl', 'INVALID_URL', 'must be http:// or https://')
      else if (baseUrl.pathname !== '/' || baseUrl.search || baseUrl.hash) problem('baseUrl', 'INVALID_URL', 'must be an origin only, e.g. https://dash.example.com')
    }
  }

  const mountPath = o.mountPath ?? '/auth'
  if (!isCleanPath(mountPath) || mountPath === '/' || mountPath.endsWith('/')) problem('mountPath', 'INVALID_PATH', 'must be a path like /auth (no trailing slash)')
  const redirectPath = o.redirectPath ?? `${mountPath}/callback`
  if (!isCleanPath(redirectPath)) problem('redirectPath', 'INVALID_PATH', 'must be a path starting with /')
  const postLogoutRedirectPath = o.postLogoutRedirectPath ?? '/'
  if (!isCleanPath(postLogoutRedirectPath)) problem('postLogoutRedirectPath', 'INVALID_PATH', 'must be a path starting with /')

  const scopes = o.scopes ?? ['openid']
  if (!Array.isArray(scopes) || scopes.some((s) => typeof s !== 'string' || !/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(s))) {
    problem('scopes', 'INVALID_VALUE', 'must be an array of scope tokens (RFC 6749 §3.3)')
  }
  const scope = [...new Set(['openid', ...(Array.isArray(scopes) ? scopes : [])])].join(' ')

  const audience = o.audience ?? o.clientId ?? ''
  if (o.audience !== undefined && (typeof audience !== 'string' || audience === '')) problem('audience', 'INVALID_VALUE', 'must be a non-empty string')

  const cookiePrefix = o.cookiePrefix ?? 'evergreen.'
  if (typeof cookiePrefix !== 'string' || !COOKIE_NAME.test(cookiePrefix) || cookiePrefix.length > 32 || /^__(host|secure)-/i.test(cookiePrefix)) {
    problem('cookiePrefix', 'INVALID_VALUE', 'must be at most 32 cookie-name characters; __Host- is added on https by itself')
  }

  const apiPaths = o.apiPaths ?? ['/api/']
  if (!Array.isArray(apiPaths) || apiPaths.some((p) => !isCleanPath(p))) problem('apiPaths', 'INVALID_PATH', 'must be an array of path prefixes starting with /')

  const apiTokens = o.apiTokens
  if (apiTokens !== undefined) {
    if (typeof apiTokens !== 'object' || apiTokens === null) problem('apiTokens', 'INVALID_VALUE', 'must be an object like { resource: "https://dash.example.com/api" }')
    else {
      const r = apiTokens.resource
      if (typeof r !== 'string' || !URL.canParse(r) || r.includes('#') || !/^https?:$/.test(new URL(r).protocol)) {
        problem('apiTokens.resource', 'INVALID_URL', 'must be the API\'s absolute http(s) URL without a fragment (RFC 8707 §2)')
      }
      const tokenScopes = apiTokens.scopes
      if (tokenScopes !== undefined && (!Array.isArray(tokenScopes) || tokenScopes.some((x) => typeof x !== 'string' || !/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(x)))) {
        problem('apiTokens.scopes', 'INVALID_VALUE', 'must be an array of scope tokens (RFC 6749 §3.3)')
      }
      const cache = apiTokens.replayCache
      if (cache !== undefined && (typeof cache !== 'object' || cache === null || typeof cache.use !== 'function')) problem('apiTokens.replayCache', 'INVALID_VALUE', 'must implement ReplayCache (use)')
    }
  }

  const seconds = (option: string, value: unknown, fallback: number, min: number, max: number): number => {
    if (value === undefined) return fallback
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
      problem(option, 'INVALID_VALUE', `must be a number of seconds from ${min} to ${max}`)
      return fallback
    }
    return value
  }
  const revocationTtlSeconds = seconds('revocationTtlSeconds', o.revocationTtlSeconds, 30 * 86_400, 60, 366 * 86_400)
  const clockTolerance = seconds('clockToleranceSeconds', o.clockToleranceSeconds, 5, 0, 300)
  const refreshBefore = seconds('refreshBeforeExpirySeconds', o.refreshBeforeExpirySeconds, 30, 0, 3600)
  const refreshCooldown = seconds('refreshCooldownSeconds', o.refreshCooldownSeconds, 5, 0, 300)

  for (const fn of ['onEvent', 'onLoginRequired', 'fetch', 'now', 'randomBytes'] as const) {
    if (o[fn] !== undefined && typeof o[fn] !== 'function') problem(fn, 'INVALID_VALUE', 'must be a function')
  }
  const list = o.revocationList
  if (list !== undefined && (typeof list !== 'object' || list === null || typeof list.isRevoked !== 'function' || typeof list.revoke !== 'function' || typeof list.claimOnce !== 'function')) {
    problem('revocationList', 'INVALID_VALUE', 'must implement RevocationList (isRevoked, revoke, claimOnce)')
  }

  if (problems.length > 0) throw new WebConfigError(problems)

  const now = o.now ?? (() => Math.floor(Date.now() / 1000))
  return {
    issuer: issuer!,
    clientId: o.clientId!,
    clientSecret: o.clientSecret,
    sessionSecret,
    baseUrl,
    mountPath,
    redirectPath,
    postLogoutRedirectPath,
    scope,
    audience,
    cookiePrefix,
    apiPaths,
    apiTokens: apiTokens ? { ...apiTokens, issuer: o.issuer! } : undefined,
    revocationList: list ?? createMemoryRevocationList({ now }),
    revocationTtlSeconds,
    onEvent: o.onEvent,
    onLoginRequired: o.onLoginRequired,
    clockTolerance,
    refreshBefore,
    refreshCooldown,
    fetch: o.fetch ?? ((input, init) => fetch(input, init)),
    now,
    randomBytes: o.randomBytes ?? ((n) => crypto.getRandomValues(new Uint8Array(n))),
  }
}

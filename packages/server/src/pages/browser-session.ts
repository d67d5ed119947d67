import type { Context } from 'hono'
import { getCookie, generateCookie } from 'hono/cookie'
import { createHmac, timingSafeEqual } from 'node:crypto'
import { auditEvent, type Requester } from '../audit.js'
import { hashSecret } from '../crypto/hash.js'
import type { Deps } from '../deps.js'
import { requesterOf } from '../http/requester.js'
import type { LoginSessionRecord, UserRecord } from '../store/types.js'

// The server's own browser session (for /login, /device, /settings) and its CSRF protection.
// Cookies are HttpOnly and SameSite=Lax; on an https issuer they are Secure and __Host- prefixed,
// which also pins them to this host and path /.

const SESSION_COOKIE = 'evergreen_session'
const CSRF_COOKIE = 'evergreen_csrf'

/** Whether this service's cookies must be Secure: true when its issuer is https. */
export function secure(deps: Deps): boolean {
  return deps.settings.issuer.startsWith('https://')
}

function cookieOptions(deps: Deps, maxAge: number) {
  const isSecure = secure(deps)
  return {
    path: '/',
    httpOnly: true,
    sameSite: 'Lax' as const,
    secure: isSecure,
    maxAge,
    ...(isSecure ? { prefix: 'host' as const } : {}),
  }
}

function readCookie(c: Context, deps: Deps, name: string): string | undefined {
  return secure(deps) ? getCookie(c, name, 'host') : getCookie(c, name)
}

export interface SignedIn {
  user: UserRecord
  login: LoginSessionRecord
}

/** The signed-in user of this browser, if any: cookie → hashed lookup → live user. */
export async function currentUser(c: Context, deps: Deps): Promise<SignedIn | undefined> {
  const value = readCookie(c, deps, SESSION_COOKIE)
  if (!value || value.length > 200) return undefined
  const login = await deps.store.getLoginSession(hashSecret(value))
  if (!login || login.revoked_at !== null || login.expires_at <= deps.now()) return undefined
  const user = await deps.store.getUser(login.user_id)
  if (!user || user.disabled_at !== null) return undefined
  return { user, login }
}

/** Starts a browser session for `user`; returns the Set-Cookie header value. */
export async function startBrowserSession(deps: Deps, user: UserRecord, requester: Requester, method: string): Promise<string> {
  const value = deps.random.secret('egb')
  const now = deps.now()
  await deps.store.createLoginSession(
    {
      hash: hashSecret(value),
      user_id: user.id,
      created_at: now,
      expires_at: now + deps.settings.loginSessionTtl,
      method,
      ip: requester.ip,
      user_agent: requester.user_agent,
      revoked_at: null,
    },
    auditEvent(deps, 'login.succeeded', { user_id: user.id, ...requester, data: { method } }),
  )
  return generateCookie(SESSION_COOKIE, value, cookieOptions(deps, deps.settings.loginSessionTtl))
}

/**
 * Ends this browser's session, with a `logout.succeeded` audit event saying how (`via`: the
 * /logout page or end-session) and for which client; returns the Set-Cookie header that clears it.
 */
export async function endBrowserSession(
  c: Context,
  deps: Deps,
  details: { via: 'logout_page' | 'end_session'; clientId?: string | undefined } = { via: 'logout_page' },
): Promise<string> {
  const value = readCookie(c, deps, SESSION_COOKIE)
  if (value && value.length <= 200) {
    const hash = hashSecret(value)
    const login = await deps.store.getLoginSession(hash)
    if (login) {
      await deps.store.revokeLoginSession(hash, deps.now(), auditEvent(deps, 'logout.succeeded', {
        user_id: login.user_id,
        client_id: details.clientId ?? null,
        ...requesterOf(c, deps.settings),
        data: { via: details.via },
      }))
    }
  }
  return generateCookie(SESSION_COOKIE, '', cookieOptions(deps, 0))
}

// CSRF tokens are bound to something this browser holds and a forger cannot set:
//
// - signed in: the sign-in session cookie. The token is an HMAC of it, so a token obtained
//   anywhere else (an attacker's own visit, a planted cookie) is useless against this session.
// - not signed in yet: a pre-login cookie the service issued. Each one has its own name
//   (`evergreen_csrf_<id>`), because two tabs opening /login in a fresh browser both get a new
//   one; under a single name the second would replace the first and the first form would fail.
//   The value is an HMAC of the id, so the service only ever vouches for cookies it issued.
const PRE_LOGIN_TTL = 24 * 60 * 60
const PRE_LOGIN_ID = /^[A-Za-z0-9_-]{16,64}$/

/**
 * The CSRF token for a page about to be rendered in this browser and, when a pre-login cookie
 * had to be created for it, the Set-Cookie header.
 */
export function csrfToken(c: Context, deps: Deps): { token: string; setCookie?: string } {
  const session = readCookie(c, deps, SESSION_COOKIE)
  if (session) return { token: `s.${mac(deps, 'session', session)}` }
  const existing = preLoginIds(c, deps)[0]
  if (existing) return { token: preLoginToken(deps, existing) }
  const id = deps.random.secret('csrf').slice(5, 29)
  return {
    token: preLoginToken(deps, id),
    setCookie: generateCookie(`${CSRF_COOKIE}_${id}`, mac(deps, 'pre-login-cookie', id), cookieOptions(deps, PRE_LOGIN_TTL)),
  }
}

/**
 * True when a form POST carries a CSRF token bound to this browser and comes from our own
 * origin. With `signedIn`, only a token bound to the sign-in session counts: a pre-login cookie
 * is the one thing a sibling host could plant, and it must not unlock a signed-in action.
 */
export function csrfValid(c: Context, deps: Deps, submitted: string | undefined, options: { signedIn?: boolean } = {}): boolean {
  if (!sameOrigin(c, deps)) return false
  if (!submitted || submitted.length > 200) return false
  const [kind, first, second] = submitted.split('.')
  if (kind === 's' && first !== undefined && second === undefined) {
    const session = readCookie(c, deps, SESSION_COOKIE)
    return session !== undefined && equal(first, mac(deps, 'session', session))
  }
  if (kind === 'p' && !options.signedIn && first !== undefined && second !== undefined && PRE_LOGIN_ID.test(first)) {
    return preLoginIds(c, deps).includes(first) && equal(submitted, preLoginToken(deps, first))
  }
  return false
}

/**
 * Browsers send Origin on POST; when present it must be ours (a second, independent check).
 * Chromium sends `Origin: null` on our own form posts because the pages are no-referrer, so
 * `null` is accepted only with Sec-Fetch-Site: same-origin, which no page can forge (a sandboxed
 * frame or a data: URL also says `null`, with `cross-site`).
 */
function sameOrigin(c: Context, deps: Deps): boolean {
  const origin = c.req.header('origin')
  if (origin === undefined) return true
  if (origin === 'null') return c.req.header('sec-fetch-site') === 'same-origin'
  return origin === new URL(deps.settings.issuer).origin
}

/** Ids of the valid pre-login cookies this browser sent (ones this service issued). */
function preLoginIds(c: Context, deps: Deps): string[] {
  const prefix = `${secure(deps) ? '__Host-' : ''}${CSRF_COOKIE}_`
  const ids: string[] = []
  for (const [name, value] of Object.entries(getCookie(c))) {
    if (!name.startsWith(prefix)) continue
    const id = name.slice(prefix.length)
    if (PRE_LOGIN_ID.test(id) && equal(value, mac(deps, 'pre-login-cookie', id))) ids.push(id)
  }
  return ids
}

function preLoginToken(deps: Deps, id: string): string {
  return `p.${id}.${mac(deps, 'pre-login', id)}`
}

function mac(deps: Deps, purpose: string, value: string): string {
  return createHmac('sha256', deps.pageKey).update(`evergreen/csrf/${purpose}\0${value}`).digest('base64url')
}

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

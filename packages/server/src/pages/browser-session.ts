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
        ...requesterOf(c, deps.settings.trustProxy),
        data: { via: details.via },
      }))
    }
  }
  return generateCookie(SESSION_COOKIE, '', cookieOptions(deps, 0))
}

/**
 * The CSRF token for this browser: an HMAC of a random per-browser cookie (double submit, bound
 * to a server key so a cookie planted by a sibling subdomain is useless without the key).
 * Returns the token and, when the cookie had to be created, the Set-Cookie header.
 */
export function csrfToken(c: Context, deps: Deps): { token: string; setCookie?: string } {
  const existing = readCookie(c, deps, CSRF_COOKIE)
  if (existing && /^[A-Za-z0-9_-]{20,100}$/.test(existing)) return { token: sign(deps, existing) }
  const value = deps.random.secret('csrf').slice(5)
  return { token: sign(deps, value), setCookie: generateCookie(CSRF_COOKIE, value, cookieOptions(deps, 60 * 60 * 24 * 30)) }
}

/** True when a form POST carries the CSRF token of this browser and comes from our own origin. */
export function csrfValid(c: Context, deps: Deps, submitted: string | undefined): boolean {
  const origin = c.req.header('origin')
  // Browsers send Origin on POST; when present it must be ours (a second, independent check).
  if (origin !== undefined && origin !== 'null' && origin !== new URL(deps.settings.issuer).origin) return false
  const cookie = readCookie(c, deps, CSRF_COOKIE)
  if (!cookie || !submitted) return false
  const expected = Buffer.from(sign(deps, cookie))
  const given = Buffer.from(submitted)
  return expected.length === given.length && timingSafeEqual(expected, given)
}

function sign(deps: Deps, value: string): string {
  return createHmac('sha256', deps.pageKey).update(value).digest('base64url')
}

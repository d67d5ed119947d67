/**
 * Cookie names, parsing and `Set-Cookie` lines.
 *
 * Session cookies come in pairs named by a GENERATION: `<prefix>at.<gen>` (the access token) and
 * `<prefix>rt.<gen>` (the sealed refresh token). Every refresh writes the next generation under
 * NEW names instead of overwriting one fixed name. Why: two requests racing a rotation can have
 * their responses arrive in either order, and with one fixed name the later-arriving, OLDER pair
 * would overwrite the newer one — leaving the browser holding a spent refresh token. With the
 * generation in the name, a late older Set-Cookie only adds a lower-numbered cookie; the
 * middleware always picks the highest generation present and deletes the lower ones on the
 * response, so an older pair can never win. A value inside one fixed name could not do that: the
 * browser keeps only the last write, and the newer value would already be gone.
 */

/** Session cookies and login transactions found in one request, for this app's prefix. */
export interface RequestCookies {
  /** Refresh cookies by generation, highest first. */
  refresh: { gen: number; name: string; value: string }[]
  /** Access cookies by generation, highest first. */
  access: { gen: number; name: string; value: string }[]
  /** Login-transaction cookies by id. */
  transactions: { id: string; name: string; value: string }[]
  /** Whether the re-authentication marker ({@link reauthName}) is present. */
  reauth: boolean
}

/** Cookie attributes: `Secure` and the `__Host-` prefix go together, on https only. */
export interface CookieScope {
  secure: boolean
  /** The full name prefix: `__Host-` + the configured prefix on https, the configured one otherwise. */
  prefix: string
}

/** Largest Cookie header read; browsers send at most ~8 KB per cookie and a few hundred cookies. */
const MAX_HEADER = 64 * 1024
/** Most session cookies of one kind considered; the rest are deleted unread. */
const MAX_PER_KIND = 8
const GEN = /^\d{1,15}$/
const TX_ID = /^[A-Za-z0-9_-]{16,43}$/

/** The cookie scope for an app origin. */
export function cookieScope(origin: URL, configuredPrefix: string): CookieScope {
  const secure = origin.protocol === 'https:'
  return { secure, prefix: `${secure ? '__Host-' : ''}${configuredPrefix}` }
}

/**
 * Parses a Cookie header leniently (RFC 6265 §5.4 is what browsers send; anything else is
 * skipped, never thrown on). The first of duplicate names wins, as browsers order the more
 * specific path first.
 */
export function parseCookieHeader(header: string | null): Map<string, string> {
  const out = new Map<string, string>()
  if (!header) return out
  const text = header.length > MAX_HEADER ? header.slice(0, MAX_HEADER) : header
  for (const part of text.split(';')) {
    const i = part.indexOf('=')
    if (i <= 0) continue
    const name = part.slice(0, i).trim()
    let value = part.slice(i + 1).trim()
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1)
    if (name && !out.has(name)) out.set(name, value)
  }
  return out
}

/** Picks this app's session and transaction cookies out of a parsed Cookie header. */
export function readCookies(cookies: Map<string, string>, scope: CookieScope): RequestCookies {
  const result: RequestCookies = { refresh: [], access: [], transactions: [], reauth: false }
  for (const [name, value] of cookies) {
    if (!name.startsWith(scope.prefix)) continue
    const rest = name.slice(scope.prefix.length)
    if (rest.startsWith('rt.') && GEN.test(rest.slice(3))) result.refresh.push({ gen: Number(rest.slice(3)), name, value })
    else if (rest.startsWith('at.') && GEN.test(rest.slice(3))) result.access.push({ gen: Number(rest.slice(3)), name, value })
    else if (rest.startsWith('tx.') && TX_ID.test(rest.slice(3))) result.transactions.push({ id: rest.slice(3), name, value })
    else if (rest === REAUTH) result.reauth = true
  }
  result.refresh.sort((a, b) => b.gen - a.gen)
  result.access.sort((a, b) => b.gen - a.gen)
  return result
}

/** Only the first {@link MAX_PER_KIND} of a kind are read; the rest are just deleted. */
export function considered<T>(list: T[]): T[] {
  return list.slice(0, MAX_PER_KIND)
}

/** The access cookie's name for a generation. */
export const accessName = (scope: CookieScope, gen: number) => `${scope.prefix}at.${gen}`
/** The refresh cookie's name for a generation. */
export const refreshName = (scope: CookieScope, gen: number) => `${scope.prefix}rt.${gen}`
/** A login transaction's cookie name. */
export const transactionName = (scope: CookieScope, id: string) => `${scope.prefix}tx.${id}`

const REAUTH = 'reauth'
/**
 * The re-authentication marker's name: set when a session ends because the token service revoked
 * it (back-channel logout), so the next sign-in asks for the password (`prompt=login`) instead of
 * passing silently through the person's still-live sign-in at the service. Its value means
 * nothing; its presence is the whole message.
 */
export const reauthName = (scope: CookieScope) => `${scope.prefix}${REAUTH}`

/**
 * A `Set-Cookie` line: HttpOnly (no script reads a token), SameSite=Lax (sent on top-level
 * navigations, which the login callback is, but not on cross-site subrequests), Path=/ (required
 * by `__Host-`), Secure on https.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6265#section-4.1
 */
export function setCookie(scope: CookieScope, name: string, value: string, maxAge: number): string {
  return `${name}=${value}; Max-Age=${Math.max(0, Math.floor(maxAge))}; Path=/; HttpOnly; SameSite=Lax${scope.secure ? '; Secure' : ''}`
}

/** A `Set-Cookie` line that deletes a cookie. */
export function deleteCookie(scope: CookieScope, name: string): string {
  return `${name}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax${scope.secure ? '; Secure' : ''}`
}

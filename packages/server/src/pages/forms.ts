import type { Context, MiddlewareHandler } from 'hono'
import { OAuthError } from '@evergreen/core'
import type { Deps } from '../deps.js'
import { readForm } from '../http/form.js'
import { csrfToken, csrfValid, currentUser, type SignedIn } from './browser-session.js'
import { errorPage, redirect } from './layout.js'

/**
 * Reads a page form POST and checks CSRF (`signedIn`: the token must be bound to the sign-in
 * session, for actions only a signed-in user may take). Returns the form, or a ready 4xx page: a bad form must
 * change nothing and never become a 500.
 */
export async function readPageForm(c: Context, deps: Deps, options: { signedIn?: boolean } = {}): Promise<Map<string, string> | Response> {
  let form: Map<string, string>
  try {
    form = await readForm(c.req.raw, deps.settings.maxBodyBytes)
  } catch (err) {
    const message = err instanceof OAuthError ? err.description : 'the form could not be read'
    return errorPage('Bad request', message, 400)
  }
  if (!csrfValid(c, deps, form.get('csrf'), options)) {
    return errorPage('Form expired', 'This form expired or did not come from this site. Go back, reload the page and try again.', 403)
  }
  return form
}

/** The context of a page only a signed-in user sees: `c.var.signedIn`, set by {@link signedInPage}. */
export interface SignedInEnv {
  Variables: { signedIn: SignedIn }
}

/** The context of a signed-in user's form POST: also `c.var.form`, set by {@link signedInForm}. */
export interface SignedInFormEnv {
  Variables: { signedIn: SignedIn; form: Map<string, string> }
}

/** A redirect to /login that comes back to this page afterwards. */
function signInFirst(c: Context): Response {
  const url = new URL(c.req.url)
  return redirect(`/login?return_to=${encodeURIComponent(url.pathname + url.search)}`)
}

/**
 * Middleware for a page only a signed-in user sees: sets `c.var.signedIn`, or answers with a
 * redirect to /login that comes back here. The router names it on each such route, so which
 * pages need a sign-in is read in one place (`pages/router.ts`).
 *
 * @example pages.get('/settings/sessions', signedInPage(deps), settings.sessions)
 */
export const signedInPage = (deps: Deps): MiddlewareHandler<SignedInEnv> =>
  async function signedInPage(c, next) {
    const signedIn = await currentUser(c, deps)
    if (!signedIn) return signInFirst(c)
    c.set('signedIn', signedIn)
    await next()
  }

/**
 * Middleware for a signed-in user's form POST: the CSRF-checked form first (a forged post
 * changes nothing and learns nothing), then the user; sets `c.var.form` and `c.var.signedIn`, or
 * answers with the 4xx page or the sign-in redirect.
 *
 * @example pages.post('/settings/sessions/revoke', signedInForm(deps), settings.revokeOne)
 */
export const signedInForm = (deps: Deps): MiddlewareHandler<SignedInFormEnv> =>
  async function signedInForm(c, next) {
    const form = await readPageForm(c, deps, { signedIn: true })
    if (form instanceof Response) return form
    const signedIn = await currentUser(c, deps)
    if (!signedIn) return signInFirst(c)
    c.set('form', form)
    c.set('signedIn', signedIn)
    await next()
  }

/** CSRF token for a page about to be rendered, plus a Set-Cookie to attach when it is new. */
export function pageCsrf(c: Context, deps: Deps): { token: string; withCookie(res: Response): Response } {
  const { token, setCookie } = csrfToken(c, deps)
  return {
    token,
    withCookie(res) {
      if (setCookie) res.headers.append('set-cookie', setCookie)
      return res
    },
  }
}

/**
 * Where to send the browser after sign-in: `value` resolved against the issuer with the WHATWG URL
 * parser (the one browsers use on a Location header), kept only when it stays on the issuer's
 * origin. Anything else — another origin, a scheme, a value the parser would read differently
 * from a browser — becomes `fallback`, never an error.
 *
 * @param value the caller-supplied `return_to`
 * @param issuer the service's issuer URL, whose origin the result must keep
 * @example safeReturnTo('/device?user_code=ABCD', 'https://id.example') // '/device?user_code=ABCD'
 * @example safeReturnTo('/\t/evil.example', 'https://id.example') // '/settings/sessions'
 * @see https://cheatsheetseries.owasp.org/cheatsheets/Unvalidated_Redirects_and_Forwards_Cheat_Sheet.html
 */
export function safeReturnTo(value: string | undefined, issuer: string, fallback = '/settings/sessions'): string {
  if (!value || value.length > 2048) return fallback
  // Browsers silently drop tab, CR and LF inside a URL and read `\` as `/`, so `/<tab>/evil`
  // becomes `//evil`. Refusing them outright means no value can mean one thing to us and
  // another to the browser; CR and LF would also make the Location header itself throw.
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  if (/[\u0000-\u001f\u007f\\]/.test(value)) return fallback
  let base: URL
  let target: URL
  try {
    base = new URL(issuer)
    target = new URL(value, base)
  } catch {
    return fallback
  }
  if (target.origin !== base.origin) return fallback
  // Re-serialised by the parser: dot segments resolved and non-ASCII percent-encoded, so the
  // header is plain ASCII. A path that still starts with `//` would be a protocol-relative URL.
  const path = target.pathname + target.search + target.hash
  if (path.startsWith('//')) return fallback
  return path
}

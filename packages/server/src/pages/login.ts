import type { Context } from 'hono'
import { emailKey } from '../accounts/email.js'
import { verifyPassword } from '../accounts/passwords.js'
import { auditEvent } from '../audit.js'
import type { Deps } from '../deps.js'
import { createAttemptLimit, type AttemptLimit } from '../http/attempt-limit.js'
import { requesterOf } from '../http/requester.js'
import { authorizeTargets, reauthenticationPending } from './authorize.js'
import { currentUser, endBrowserSession, startBrowserSession } from './browser-session.js'
import { pageCsrf, readPageForm, safeReturnTo } from './forms.js'
import { html } from './html.js'
import { page, redirect } from './layout.js'

const WINDOW_SECONDS = 15 * 60

/** The password-attempt budgets: shared by /login and every page that asks for the password again. */
export interface LoginLimits {
  perAccount: AttemptLimit
  perAddress: AttemptLimit
  perAccountFromCleanAddress: AttemptLimit
}

/**
 * The password limits, shared by /login and the re-authentication on /settings/cli so a guesser
 * gets one budget across both. Closed while the shared backend is down: passwords are chosen by
 * people and guessable, and per-node counting would multiply the guesses an attacker gets by the
 * number of nodes. A sign-in page that says "try again shortly" costs less than a guessed password.
 */
export function createLoginLimits(deps: Deps): LoginLimits {
  const limit = (points: number, name: string) => createAttemptLimit({ points, durationSeconds: WINDOW_SECONDS, name, whenDown: 'closed' }, deps.limits, deps)
  return {
    perAccount: limit(deps.settings.rateLimitLogin, 'login-account'),
    perAddress: limit(deps.settings.rateLimitLogin * 5, 'login-ip'),
    // When an account's limit is spent, anyone could have spent it: a hard lock would let a
    // stranger keep the owner out indefinitely. Addresses with no recent failures still get
    // through, at half the rate, so the owner on their usual network can sign in while the
    // guesser's address stays refused. (A guesser with many fresh addresses can spend this budget
    // too; the per-address limit and the audit trail are the answer to that.)
    perAccountFromCleanAddress: limit(Math.max(1, Math.floor(deps.settings.rateLimitLogin / 2)), 'login-account-clean'),
  }
}

/**
 * /login and /logout. Failed attempts are slowed per account and per address; an account whose
 * limit is spent stays open, at a lower rate, to addresses with no recent failures.
 */
export function loginPages(deps: Deps, options: { upstreamName?: string | undefined; limits?: LoginLimits } = {}) {
  const { perAccount, perAddress, perAccountFromCleanAddress } = options.limits ?? createLoginLimits(deps)

  const form = async (c: Context, values: { email?: string; returnTo: string; error?: string; status?: number; retryAfter?: number; again?: { clientName: string } | undefined }) => {
    const csrf = pageCsrf(c, deps)
    const body = html`<h1>Sign in</h1>
${values.again ? html`<p id="reauth">Sign in again to continue to <strong>${values.again.clientName}</strong>.</p>` : ''}
${values.error ? html`<p class="error" role="alert" id="login-error">${values.error}</p>` : ''}
<form method="post" action="/login">
  <input type="hidden" name="csrf" value="${csrf.token}">
  <input type="hidden" name="return_to" value="${values.returnTo}">
  <label for="email">Email</label>
  <input id="email" name="email" type="email" autocomplete="username" required value="${values.email ?? ''}" ${values.email ? '' : html`autofocus`}>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required ${values.email ? html`autofocus` : ''} ${values.error ? html`aria-invalid="true" aria-describedby="login-error"` : ''}>
  <button class="primary" type="submit">Sign in</button>
</form>
${options.upstreamName
  ? html`<p>or</p><p><a class="button" href="/login/upstream?return_to=${encodeURIComponent(values.returnTo)}">Sign in with ${options.upstreamName}</a></p>`
  : ''}`
    const res = csrf.withCookie(page(body, { title: 'Sign in', status: values.status ?? 200, formTargets: await authorizeTargets(deps, values.returnTo) }))
    if (values.retryAfter !== undefined) res.headers.set('retry-after', String(values.retryAfter))
    return res
  }

  const pendingFor = async (c: Context, returnTo: string) => {
    const signedIn = await currentUser(c, deps)
    return signedIn ? reauthenticationPending(deps, returnTo, signedIn) : undefined
  }

  return {
    async show(c: Context): Promise<Response> {
      const returnTo = safeReturnTo(c.req.query('return_to'), deps.settings.issuer)
      const signedIn = await currentUser(c, deps)
      if (!signedIn) return form(c, { returnTo })
      // An application asked for a fresh sign-in (prompt=login, max_age): the form, not a bounce.
      const again = await reauthenticationPending(deps, returnTo, signedIn)
      if (!again) return redirect(returnTo)
      return form(c, { returnTo, email: signedIn.user.email, again })
    },

    async submit(c: Context): Promise<Response> {
      const parsed = await readPageForm(c, deps)
      if (parsed instanceof Response) return parsed
      const email = (parsed.get('email') ?? '').trim().slice(0, 254)
      const password = parsed.get('password') ?? ''
      const returnTo = safeReturnTo(parsed.get('return_to'), deps.settings.issuer)
      const requester = requesterOf(c, deps.settings)
      const accountKey = emailKey(email)
      const addressKey = requester.ip ?? 'unknown'
      // Counted before the password is checked: checking first and counting the failure after
      // let every concurrent guess read "under the limit" and reach argon2 (25 at once against
      // a limit of 10 were all verified).
      const address = await perAddress.take(addressKey)
      let account = await perAccount.take(accountKey)
      // `consumed === 1`: this attempt is the only one counted for the address in the window, so
      // it has no recent failures (successes give their point back).
      const clean = address.ok && address.consumed === 1
      const overAccountLimit = !account.ok
      if (!account.ok && clean) account = await perAccountFromCleanAddress.take(accountKey)
      if ((!account.ok && account.unavailable) || (!address.ok && address.unavailable)) {
        if (account.ok) await perAccount.refund(accountKey)
        if (address.ok) await perAddress.refund(addressKey)
        return form(c, { email, returnTo, status: 503, retryAfter: 30, error: 'Sign-in is briefly unavailable. Try again in a moment.' })
      }
      if (!account.ok || !address.ok) {
        // The budget that still had room was not spent on a check that never ran.
        if (account.ok) await perAccount.refund(accountKey)
        if (address.ok) await perAddress.refund(addressKey)
        const retryAfter = Math.max(account.ok ? 0 : account.retryAfter, address.ok ? 0 : address.retryAfter)
        const wait = Math.ceil(retryAfter / 60)
        // One audit row per throttled key and window, not one per refused request: a flood
        // must not become a flood of rows.
        if ((!account.ok && account.firstRefusal) || (!address.ok && address.firstRefusal)) {
          await deps.store.appendAudit(auditEvent(deps, 'login.failed', { ...requester, data: { reason: 'throttled' } }))
        }
        return form(c, { email, returnTo, status: 429, retryAfter, again: await pendingFor(c, returnTo), error: `Too many failed attempts. Try again in ${wait} minute${wait === 1 ? '' : 's'}.` })
      }
      const user = email ? await deps.store.getUserByEmail(email) : undefined
      // verifyPassword does the work even without a user, so timing does not reveal accounts.
      const ok = (await verifyPassword(password, user?.password_hash ?? null)) && user !== undefined && user.disabled_at === null
      if (!ok || !user) {
        await deps.store.appendAudit(auditEvent(deps, 'login.failed', { user_id: user?.id ?? null, ...requester, data: { reason: 'bad_credentials' } }))
        return form(c, { email, returnTo, status: 401, error: 'That email and password do not match an account.', again: await pendingFor(c, returnTo) })
      }
      // The owner proving themselves resets the account's count, except while it is over its
      // limit: then someone else spent it, and a reset would hand them a fresh budget each time
      // the owner signs in.
      if (!overAccountLimit) await perAccount.reset(accountKey)
      await perAddress.refund(addressKey)
      const cookie = await startBrowserSession(deps, user, requester, 'password')
      const headers = new Headers()
      headers.append('set-cookie', cookie)
      return redirect(returnTo, headers)
    },

    async confirmLogout(c: Context): Promise<Response> {
      const csrf = pageCsrf(c, deps)
      const signedIn = await currentUser(c, deps)
      const body = html`<h1>Sign out</h1><form method="post" action="/logout"><input type="hidden" name="csrf" value="${csrf.token}"><button class="primary" type="submit">Sign out of Evergreen</button></form>`
      return csrf.withCookie(page(body, { title: 'Sign out', user: signedIn?.user, csrf: csrf.token }))
    },

    async logout(c: Context): Promise<Response> {
      const parsed = await readPageForm(c, deps)
      if (parsed instanceof Response) return parsed
      const headers = new Headers()
      headers.append('set-cookie', await endBrowserSession(c, deps))
      return redirect('/login', headers)
    },
  }
}

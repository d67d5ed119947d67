import type { Context } from 'hono'
import { emailKey } from '../accounts/email.js'
import { verifyPassword } from '../accounts/passwords.js'
import { auditEvent } from '../audit.js'
import type { Deps } from '../deps.js'
import { requesterOf } from '../http/requester.js'
import { credentialFor } from '../sessions/credential.js'
import { issueSession } from '../sessions/issue.js'
import type { SessionRecord } from '../store/types.js'
import { loginSessionId } from '../sessions/login-session-id.js'
import type { SignedIn } from './browser-session.js'
import { pageCsrf, type SignedInEnv, type SignedInFormEnv } from './forms.js'
import type { LoginLimits } from './login.js'
import { html } from './html.js'
import { errorPage, page, redirect } from './layout.js'
import { revokeSession } from '../sessions/revoke.js'
import { revokeSignIns } from '../sessions/revoke-sign-in.js'

const KIND_LABELS: Record<SessionRecord['kind'], string> = {
  browser: 'Browser sign-in',
  device: 'Device',
  cli_credential: 'CLI credential',
  delegated: 'Delegated (agent)',
  operator: 'Operator-minted',
  service: 'Service',
}

/** The lifetimes /settings/cli offers: 24 h default, up to the 90-day maximum. */
export const CLI_LIFETIMES: readonly { seconds: number; label: string }[] = [
  { seconds: 86_400, label: '24 hours' },
  { seconds: 604_800, label: '7 days' },
  { seconds: 2_592_000, label: '30 days' },
  { seconds: 7_776_000, label: '90 days' },
]

/** The product name at the start of a user agent ("curl/8.5", "Mozilla/5.0 (X11…)" → "Mozilla/5.0"), full text on hover. */
function shortAgent(agent: string | null): string {
  if (!agent) return '—'
  const first = agent.split(' ')[0]!
  return first.length > 40 ? first.slice(0, 40) + '…' : first
}

/**
 * Sessions in delegation order: each person's session followed by the agents acting under it,
 * depth-first, with how deep each sits and how many descendants revoking it takes along.
 */
function delegationTree(sessions: SessionRecord[]): { session: SessionRecord; depth: number; descendants: number }[] {
  const ids = new Set(sessions.map((s) => s.id))
  const children = new Map<string, SessionRecord[]>()
  for (const s of sessions) {
    if (s.parent_id !== null && ids.has(s.parent_id)) children.set(s.parent_id, [...(children.get(s.parent_id) ?? []), s])
  }
  const count = (id: string): number => (children.get(id) ?? []).reduce((n, c) => n + 1 + count(c.id), 0)
  const out: { session: SessionRecord; depth: number; descendants: number }[] = []
  const walk = (s: SessionRecord, depth: number) => {
    out.push({ session: s, depth, descendants: count(s.id) })
    for (const c of children.get(s.id) ?? []) walk(c, depth + 1)
  }
  for (const s of sessions) if (s.parent_id === null || !ids.has(s.parent_id)) walk(s, 0)
  return out
}

/** /settings/sessions (list and revoke my sessions) and /settings/cli (mint a CLI credential). */
export function settingsPages(deps: Deps, limits: LoginLimits) {
  const when = (t: number | null) => (t === null ? '—' : new Date(t * 1000).toISOString().replace('T', ' ').slice(0, 16))

  const activeSessions = async (userId: string): Promise<SessionRecord[]> => {
    const out: SessionRecord[] = []
    let cursor: string | undefined
    do {
      const page = await deps.store.listSessions({ user_id: userId, active_at: deps.now(), limit: 200, cursor })
      out.push(...page.items)
      cursor = page.next_cursor ?? undefined
    } while (cursor && out.length < 1000)
    return out.reverse()
  }

  /**
   * Whether this sign-in must give its password again before minting: a stolen sign-in cookie
   * must not quietly turn into a long-lived CLI credential that outlives "revoke all".
   */
  const needsReauth = (signedIn: SignedIn) => deps.now() - signedIn.login.created_at >= deps.settings.cliReauthSeconds

  /** Checks the re-entered password against the same budgets as /login: true, or the status and message to show. */
  const reauthenticate = async (c: Context, signedIn: SignedIn, password: string): Promise<true | { status: number; error: string }> => {
    const requester = requesterOf(c, deps.settings)
    const accountKey = emailKey(signedIn.user.email)
    const addressKey = requester.ip ?? 'unknown'
    // Counted before the check, as on /login, so concurrent guesses cannot all reach argon2.
    const address = await limits.perAddress.take(addressKey)
    const account = await limits.perAccount.take(accountKey)
    if (!address.ok || !account.ok) {
      if (account.ok) await limits.perAccount.refund(accountKey)
      if (address.ok) await limits.perAddress.refund(addressKey)
      if ((!account.ok && account.firstRefusal) || (!address.ok && address.firstRefusal)) {
        await deps.store.appendAudit(auditEvent(deps, 'login.failed', { user_id: signedIn.user.id, ...requester, data: { reason: 'throttled', reauth: true } }))
      }
      return { status: 429, error: 'Too many failed attempts. Try again later.' }
    }
    if (!(await verifyPassword(password, signedIn.user.password_hash))) {
      await deps.store.appendAudit(auditEvent(deps, 'login.failed', { user_id: signedIn.user.id, ...requester, data: { reason: 'bad_credentials', reauth: true } }))
      return { status: 401, error: 'That password is not right.' }
    }
    await limits.perAccount.refund(accountKey)
    await limits.perAddress.refund(addressKey)
    await deps.store.appendAudit(auditEvent(deps, 'login.reauthenticated', { user_id: signedIn.user.id, ...requester, data: { for: 'cli_credential' } }))
    return true
  }

  const cliForm = (c: Context, signedIn: SignedIn, values: { name?: string; lifetime?: string; error?: string; status?: number } = {}) => {
    const csrf = pageCsrf(c, deps)
    const reauth = needsReauth(signedIn)
    const chosen = values.lifetime ?? '86400'
    const body = html`<h1>CLI credential</h1>
${values.error ? html`<p class="error" role="alert" id="cli-error">${values.error}</p>` : ''}
<p>Create a credential for <code>evergreen login --token</code>: it carries a refresh token, so the CLI renews itself silently until the lifetime below passes without use, or you revoke it.</p>
<form method="post" action="/settings/cli">
  <input type="hidden" name="csrf" value="${csrf.token}">
  <label for="name">Name</label>
  <input id="name" name="name" type="text" maxlength="100" required placeholder="e.g. laptop, CI runner" value="${values.name ?? ''}">
  <label for="lifetime">Lifetime without use</label>
  <select id="lifetime" name="lifetime">
    ${CLI_LIFETIMES.map((l) => html`<option value="${l.seconds}" ${String(l.seconds) === chosen ? html`selected` : ''}>${l.label}</option>`)}
  </select>
  ${reauth
    ? signedIn.user.password_hash === null
      ? html`<p class="notice">You signed in a while ago. <a href="/logout">Sign out</a> and sign in again to create a credential.</p>`
      : html`<label for="password">Confirm your password</label>
  <p class="muted" id="password-help">You signed in more than ${Math.round(deps.settings.cliReauthSeconds / 60)} minutes ago, so creating a credential needs your password again.</p>
  <input id="password" name="password" type="password" autocomplete="current-password" required aria-describedby="password-help" ${values.error ? html`aria-invalid="true"` : ''}>`
    : ''}
  <button class="primary" type="submit">Create credential</button>
</form>`
    return csrf.withCookie(page(body, { title: 'CLI credential', user: signedIn.user, csrf: csrf.token, status: values.status ?? 200 }))
  }

  return {
    async sessions(c: Context<SignedInEnv>): Promise<Response> {
      const { signedIn } = c.var
      const signIns = await deps.store.listLoginSessions(signedIn.user.id, deps.now())
      const sessions = await activeSessions(signedIn.user.id)
      const clients = new Map<string, string>()
      for (const s of sessions) if (!clients.has(s.client_id)) clients.set(s.client_id, (await deps.store.getClient(s.client_id))?.name ?? s.client_id)
      const csrf = pageCsrf(c, deps)
      const notice = c.req.query('revoked')
      const notices: Record<string, string> = { all: 'All other sessions and sign-ins were revoked.', one: 'The session was revoked.', sign_in: 'That sign-in was ended.' }
      const along = Number(c.req.query('with') ?? '0')
      if (notice === 'one' && Number.isSafeInteger(along) && along > 0) {
        notices.one = `The session was revoked, and with it ${along} delegated agent session${along === 1 ? '' : 's'} acting under it.`
      }
      const body = html`<h1>Your sessions</h1>
${notice && notices[notice] ? html`<p class="notice" role="status">${notices[notice]}</p>` : ''}
<h2>Browser sign-ins</h2>
<p>Browsers signed in to this service's own pages (sign-in, device approval, settings). A sign-in can approve devices and create CLI credentials.</p>
<div class="table-scroll"><table>
  <caption class="visually-hidden">Browser sign-ins</caption>
  <thead><tr><th scope="col">Browser</th><th scope="col">Signed in</th><th scope="col">From</th><th scope="col">Expires</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
  <tbody>
  ${signIns.map((l) => {
    const current = l.hash === signedIn.login.hash
    const id = loginSessionId(l)
    return html`<tr data-login-session-id="${id}">
    <td><span title="${l.user_agent ?? ''}">${shortAgent(l.user_agent)}</span>${current ? html` <strong>(this browser)</strong>` : ''}</td>
    <td class="nowrap">${when(l.created_at)} <span class="muted">(${l.method})</span></td>
    <td>${l.ip ?? '—'}</td>
    <td class="nowrap">${when(l.expires_at)}</td>
    <td>${current
      ? html`<a href="/logout">Sign out</a>`
      : html`<form method="post" action="/settings/sessions/end-sign-in">
      <input type="hidden" name="csrf" value="${csrf.token}"><input type="hidden" name="login_session_id" value="${id}">
      <button type="submit" aria-label="End sign-in from ${shortAgent(l.user_agent)} at ${when(l.created_at)}">End</button>
    </form>`}</td>
  </tr>`
  })}
  </tbody>
</table></div>
<h2>Applications, devices and CLI credentials</h2>
<p>Times are UTC. Every application, device and CLI credential signed in as <strong>${signedIn.user.email}</strong>. Revoking one signs it out at its next refresh.</p>
${sessions.length === 0
  ? html`<p>No active sessions.</p>
<form method="post" action="/settings/sessions/revoke-all">
  <input type="hidden" name="csrf" value="${csrf.token}">
  <button type="submit">Revoke all other sessions</button>
  <p class="muted">Ends every other browser sign-in. This browser stays signed in here.</p>
</form>`
  : html`<div class="table-scroll"><table>
  <caption class="visually-hidden">Active sessions</caption>
  <thead><tr><th scope="col">Application</th><th scope="col">Kind</th><th scope="col">Created</th><th scope="col">Last refreshed</th><th scope="col">From</th><th scope="col">Expires</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
  <tbody>
  ${delegationTree(sessions).map(({ session: s, depth, descendants }) => html`<tr data-session-id="${s.id}" ${s.parent_id === null ? '' : html`data-parent-id="${s.parent_id}"`}>
    <td ${depth > 0 ? html`style="padding-left: ${depth * 1.5}em"` : ''}>${depth > 0 ? '↳ ' : ''}${clients.get(s.client_id)}${s.name ? html`<br><span class="muted">${s.name}</span>` : ''}${s.kind === 'delegated'
      ? html`<br><span class="muted">acting for you · scope: ${s.scope || '—'}${s.resource ? html` · resource: <code>${s.resource}</code>` : ''}</span>`
      : ''}</td>
    <td>${KIND_LABELS[s.kind]}</td>
    <td class="nowrap">${when(s.created_at)}</td>
    <td class="nowrap">${when(s.last_refreshed_at)}</td>
    <td><span title="${s.user_agent ?? ''}">${shortAgent(s.user_agent)}</span><br><span class="muted">${s.ip ?? ''}</span></td>
    <td class="nowrap">${when(s.absolute_expires_at === null ? s.idle_expires_at : Math.min(s.idle_expires_at, s.absolute_expires_at))}</td>
    <td><form method="post" action="/settings/sessions/revoke">
      <input type="hidden" name="csrf" value="${csrf.token}"><input type="hidden" name="session_id" value="${s.id}">
      <button type="submit" aria-label="Revoke ${clients.get(s.client_id)} session created ${when(s.created_at)}${descendants > 0 ? ` and ${descendants} delegated session${descendants === 1 ? '' : 's'}` : ''}">Revoke</button>
      ${descendants > 0 ? html`<span class="muted">also ends ${descendants} agent session${descendants === 1 ? '' : 's'}</span>` : ''}
    </form></td>
  </tr>`)}
  </tbody>
</table></div>
<form method="post" action="/settings/sessions/revoke-all">
  <input type="hidden" name="csrf" value="${csrf.token}">
  <button type="submit">Revoke all other sessions</button>
  <p class="muted">Signs out every application, device and CLI credential, and ends every other browser sign-in. This browser stays signed in here.</p>
</form>`}`
      return csrf.withCookie(page(body, { title: 'Your sessions', user: signedIn.user, csrf: csrf.token }))
    },

    async revokeOne(c: Context<SignedInFormEnv>): Promise<Response> {
      const { form, signedIn } = c.var
      const session = await deps.store.getSession(form.get('session_id') ?? '')
      // Someone else's session id answers exactly like an unknown one.
      if (!session || session.user_id !== signedIn.user.id) return errorPage('Not found', 'That session does not exist.', 404, { user: signedIn.user })
      const changed = await revokeSession(deps, session, 'revoked_by_user', requesterOf(c, deps.settings))
      return redirect(`/settings/sessions?revoked=one${changed > 1 ? `&with=${changed - 1}` : ''}`)
    },

    async revokeAll(c: Context<SignedInFormEnv>): Promise<Response> {
      const { signedIn } = c.var
      for (const s of await activeSessions(signedIn.user.id)) await revokeSession(deps, s, 'revoked_by_user', requesterOf(c, deps.settings))
      // Other browser sign-ins too: a hijacked one could otherwise mint a fresh CLI credential
      // right after the victim pressed this button.
      await revokeSignIns(deps, signedIn.user.id, { allBut: signedIn.login.hash }, 'revoked_by_user', requesterOf(c, deps.settings))
      return redirect('/settings/sessions?revoked=all')
    },

    async endSignIn(c: Context<SignedInFormEnv>): Promise<Response> {
      const { form, signedIn } = c.var
      const wanted = form.get('login_session_id') ?? ''
      const target = (await deps.store.listLoginSessions(signedIn.user.id, deps.now())).find((l) => loginSessionId(l) === wanted)
      // Someone else's sign-in answers exactly like an unknown one.
      if (!target) return errorPage('Not found', 'That sign-in does not exist or has already ended.', 404, { user: signedIn.user })
      await revokeSignIns(deps, signedIn.user.id, { one: target }, 'revoked_by_user', requesterOf(c, deps.settings))
      if (target.hash === signedIn.login.hash) return redirect('/login')
      return redirect('/settings/sessions?revoked=sign_in')
    },

    async cli(c: Context<SignedInEnv>): Promise<Response> {
      return cliForm(c, c.var.signedIn)
    },

    async mintCli(c: Context<SignedInFormEnv>): Promise<Response> {
      const { form, signedIn } = c.var
      const name = (form.get('name') ?? '').trim().slice(0, 100)
      const lifetime = CLI_LIFETIMES.find((l) => String(l.seconds) === form.get('lifetime'))
      if (!name || !lifetime) return errorPage('Invalid request', 'Give the credential a name and pick one of the offered lifetimes.', 400, { user: signedIn.user })
      if (needsReauth(signedIn)) {
        const password = form.get('password')
        if (signedIn.user.password_hash === null || !password) {
          return cliForm(c, signedIn, { name, lifetime: String(lifetime.seconds), status: 401, error: 'Confirm your password to create a credential.' })
        }
        const checked = await reauthenticate(c, signedIn, password)
        if (checked !== true) return cliForm(c, signedIn, { name, lifetime: String(lifetime.seconds), ...checked })
      }
      const client = await deps.store.getClient(deps.settings.cliClientId)
      if (!client) return errorPage('Unavailable', 'The CLI client is not configured on this server.', 503, { user: signedIn.user })
      const issued = await issueSession(deps, {
        user: signedIn.user,
        client,
        kind: 'cli_credential',
        scope: client.allowed_scopes.join(' '),
        requestedTtl: lifetime.seconds,
        name,
        requester: requesterOf(c, deps.settings),
      })
      const credential = credentialFor(deps, issued)
      const csrf = pageCsrf(c, deps)
      const command = `evergreen login --token ${credential}`
      const body = html`<h1>Your CLI credential</h1>
<p class="notice" role="status">Created <strong>${name}</strong>, renewing for ${lifetime.label} after each use. This is the only time it is shown.</p>
<h2 id="command-label">Run this on the machine that should sign in</h2>
<pre class="secret" id="login-command" aria-labelledby="command-label" tabindex="0">${command}</pre>
<button type="button" data-copy="login-command" data-status="copy-status" hidden>Copy command</button>
<p id="copy-status" role="status" aria-live="polite"></p>
<p class="muted">Treat it like a password. It appears in <a href="/settings/sessions">your sessions</a>, where you can revoke it.</p>`
      return csrf.withCookie(page(body, { title: 'Your CLI credential', user: signedIn.user, csrf: csrf.token, script: true }))
    },
  }
}

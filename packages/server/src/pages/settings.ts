import type { Context } from 'hono'
import { auditEvent } from '../audit.js'
import type { Deps } from '../deps.js'
import { requesterOf } from '../http/requester.js'
import { credentialFor } from '../sessions/credential.js'
import { issueSession } from '../sessions/issue.js'
import type { SessionRecord } from '../store/types.js'
import { pageCsrf, readSignedInForm, requireUser } from './forms.js'
import { html } from './html.js'
import { errorPage, page, redirect } from './layout.js'

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

/** /settings/sessions (list and revoke my sessions) and /settings/cli (mint a CLI credential). */
export function settingsPages(deps: Deps) {
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

  const revoke = async (c: Context, session: SessionRecord, reason: string) =>
    deps.store.revokeSession(session.id, deps.now(), reason, auditEvent(deps, 'session.revoked', {
      session_id: session.id,
      user_id: session.user_id,
      client_id: session.client_id,
      ...requesterOf(c, deps.settings),
      data: { reason },
    }))

  return {
    async sessions(c: Context): Promise<Response> {
      const signedIn = await requireUser(c, deps)
      if (signedIn instanceof Response) return signedIn
      const sessions = await activeSessions(signedIn.user.id)
      const clients = new Map<string, string>()
      for (const s of sessions) if (!clients.has(s.client_id)) clients.set(s.client_id, (await deps.store.getClient(s.client_id))?.name ?? s.client_id)
      const csrf = pageCsrf(c, deps)
      const notice = c.req.query('revoked')
      const body = html`<h1>Your sessions</h1>
${notice ? html`<p class="notice" role="status">${notice === 'all' ? 'All sessions were revoked.' : 'The session was revoked.'}</p>` : ''}
<p>Times are UTC. Every application, device and CLI credential signed in as <strong>${signedIn.user.email}</strong>. Revoking one signs it out at its next refresh.</p>
${sessions.length === 0
  ? html`<p>No active sessions.</p>`
  : html`<div class="table-scroll"><table>
  <caption class="visually-hidden">Active sessions</caption>
  <thead><tr><th scope="col">Application</th><th scope="col">Kind</th><th scope="col">Created</th><th scope="col">Last refreshed</th><th scope="col">From</th><th scope="col">Expires</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
  <tbody>
  ${sessions.map((s) => html`<tr data-session-id="${s.id}">
    <td>${clients.get(s.client_id)}${s.name ? html`<br><span class="muted">${s.name}</span>` : ''}</td>
    <td>${KIND_LABELS[s.kind]}</td>
    <td class="nowrap">${when(s.created_at)}</td>
    <td class="nowrap">${when(s.last_refreshed_at)}</td>
    <td><span title="${s.user_agent ?? ''}">${shortAgent(s.user_agent)}</span><br><span class="muted">${s.ip ?? ''}</span></td>
    <td class="nowrap">${when(s.absolute_expires_at === null ? s.idle_expires_at : Math.min(s.idle_expires_at, s.absolute_expires_at))}</td>
    <td><form method="post" action="/settings/sessions/revoke">
      <input type="hidden" name="csrf" value="${csrf.token}"><input type="hidden" name="session_id" value="${s.id}">
      <button type="submit" aria-label="Revoke ${clients.get(s.client_id)} session created ${when(s.created_at)}">Revoke</button>
    </form></td>
  </tr>`)}
  </tbody>
</table></div>
<form method="post" action="/settings/sessions/revoke-all">
  <input type="hidden" name="csrf" value="${csrf.token}">
  <button type="submit">Revoke all other sessions</button>
  <p class="muted">Signs out every application, device and CLI credential. This browser stays signed in here.</p>
</form>`}`
      return csrf.withCookie(page(body, { title: 'Your sessions', user: signedIn.user, csrf: csrf.token }))
    },

    async revokeOne(c: Context): Promise<Response> {
      const posted = await readSignedInForm(c, deps)
      if (posted instanceof Response) return posted
      const { form, signedIn } = posted
      const session = await deps.store.getSession(form.get('session_id') ?? '')
      // Someone else's session id answers exactly like an unknown one.
      if (!session || session.user_id !== signedIn.user.id) return errorPage('Not found', 'That session does not exist.', 404, { user: signedIn.user })
      await revoke(c, session, 'revoked_by_user')
      return redirect('/settings/sessions?revoked=one')
    },

    async revokeAll(c: Context): Promise<Response> {
      const posted = await readSignedInForm(c, deps)
      if (posted instanceof Response) return posted
      const { signedIn } = posted
      for (const s of await activeSessions(signedIn.user.id)) await revoke(c, s, 'revoked_by_user')
      return redirect('/settings/sessions?revoked=all')
    },

    async cli(c: Context): Promise<Response> {
      const signedIn = await requireUser(c, deps)
      if (signedIn instanceof Response) return signedIn
      const csrf = pageCsrf(c, deps)
      const body = html`<h1>CLI credential</h1>
<p>Create a credential for <code>evergreen login --token</code>: it carries a refresh token, so the CLI renews itself silently until the lifetime below passes without use, or you revoke it.</p>
<form method="post" action="/settings/cli">
  <input type="hidden" name="csrf" value="${csrf.token}">
  <label for="name">Name</label>
  <input id="name" name="name" type="text" maxlength="100" required placeholder="e.g. laptop, CI runner">
  <label for="lifetime">Lifetime without use</label>
  <select id="lifetime" name="lifetime">
    ${CLI_LIFETIMES.map((l) => html`<option value="${l.seconds}" ${l.seconds === 86_400 ? html`selected` : ''}>${l.label}</option>`)}
  </select>
  <button class="primary" type="submit">Create credential</button>
</form>`
      return csrf.withCookie(page(body, { title: 'CLI credential', user: signedIn.user, csrf: csrf.token }))
    },

    async mintCli(c: Context): Promise<Response> {
      const posted = await readSignedInForm(c, deps)
      if (posted instanceof Response) return posted
      const { form, signedIn } = posted
      const name = (form.get('name') ?? '').trim().slice(0, 100)
      const lifetime = CLI_LIFETIMES.find((l) => String(l.seconds) === form.get('lifetime'))
      if (!name || !lifetime) return errorPage('Invalid request', 'Give the credential a name and pick one of the offered lifetimes.', 400, { user: signedIn.user })
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

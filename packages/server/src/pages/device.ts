import type { Context } from 'hono'
import { auditEvent } from '../audit.js'
import type { Deps } from '../deps.js'
import { requesterOf } from '../http/requester.js'
import { formatUserCode, normaliseUserCode, userCodeDigest } from '../oauth/user-code.js'
import type { DeviceCodeRecord } from '../store/types.js'
import { pageCsrf, readSignedInForm, requireUser } from './forms.js'
import { html } from './html.js'
import { page } from './layout.js'

/**
 * /device (RFC 8628 §3.3): the person types the user code (prefilled from
 * verification_uri_complete), sees which application asks for what, and approves or denies.
 */
export function devicePages(deps: Deps) {
  const entry = (c: Context, user: { email: string }, values: { code?: string; error?: string; status?: number }) => {
    const csrf = pageCsrf(c, deps)
    const body = html`<h1>Connect a device</h1>
<p>Enter the code shown on your device or terminal.</p>
${values.error ? html`<p class="error" role="alert" id="code-error">${values.error}</p>` : ''}
<form method="post" action="/device">
  <input type="hidden" name="csrf" value="${csrf.token}">
  <label for="user_code">Code</label>
  <input id="user_code" name="user_code" type="text" autocomplete="one-time-code" autocapitalize="characters" spellcheck="false" required
    placeholder="ABCD-EFGH" value="${values.code ?? ''}" ${values.error ? html`aria-invalid="true" aria-describedby="code-error"` : ''} autofocus>
  <button class="primary" type="submit">Continue</button>
</form>`
    return csrf.withCookie(page(body, { title: 'Connect a device', user, csrf: csrf.token, status: values.status ?? 200 }))
  }

  // The store holds only a digest of the code (see userCodeDigest), so pages show the code the
  // person typed, normalised, once it has matched.
  const lookup = async (input: string | undefined): Promise<{ record: DeviceCodeRecord; code: string } | string> => {
    const code = input === undefined ? undefined : normaliseUserCode(input)
    if (!code) return 'That is not a valid code. Codes look like ABCD-EFGH.'
    const record = await deps.store.getDeviceCodeByUserCode(userCodeDigest(deps.pageKey, code))
    if (!record || record.expires_at <= deps.now()) return 'That code is unknown or has expired. Start again on your device.'
    if (record.status !== 'pending') return 'That code has already been used.'
    return { record, code }
  }

  return {
    async show(c: Context): Promise<Response> {
      const signedIn = await requireUser(c, deps)
      if (signedIn instanceof Response) return signedIn
      return entry(c, signedIn.user, { code: c.req.query('user_code') ?? '' })
    },

    /** Step 2: the code was typed; show who asks for what, with Approve / Deny. */
    async confirm(c: Context): Promise<Response> {
      const posted = await readSignedInForm(c, deps)
      if (posted instanceof Response) return posted
      const { form, signedIn } = posted
      const found = await lookup(form.get('user_code'))
      if (typeof found === 'string') return entry(c, signedIn.user, { code: form.get('user_code') ?? '', error: found, status: 400 })
      const { record, code } = found
      const client = await deps.store.getClient(record.client_id)
      const scopes = record.scope.split(' ').filter(Boolean)
      const csrf = pageCsrf(c, deps)
      const body = html`<h1>Approve ${client?.name ?? record.client_id}?</h1>
<p>A device using code <strong>${formatUserCode(code)}</strong> wants to sign in as <strong>${signedIn.user.email}</strong>
with <strong>${client?.name ?? record.client_id}</strong>.</p>
${scopes.length ? html`<p>It asks for:</p><ul>${scopes.map((s) => html`<li><code>${s}</code></li>`)}</ul>` : ''}
<p class="muted">Only approve if you started this on your own device just now.</p>
<form method="post" action="/device/decision">
  <input type="hidden" name="csrf" value="${csrf.token}">
  <input type="hidden" name="user_code" value="${code}">
  <div class="actions">
    <button class="primary" type="submit" name="decision" value="approve">Approve</button>
    <button type="submit" name="decision" value="deny">Deny</button>
  </div>
</form>`
      return csrf.withCookie(page(body, { title: 'Approve device', user: signedIn.user, csrf: csrf.token }))
    },

    async decide(c: Context): Promise<Response> {
      const posted = await readSignedInForm(c, deps)
      if (posted instanceof Response) return posted
      const { form, signedIn } = posted
      const found = await lookup(form.get('user_code'))
      if (typeof found === 'string') return entry(c, signedIn.user, { error: found, status: 400 })
      const { record } = found
      const decision = form.get('decision') === 'approve' ? 'approved' : 'denied'
      const requester = requesterOf(c, deps.settings.trustProxy)
      const decided = await deps.store.decideDeviceCode(
        record.hash,
        decision,
        signedIn.user.id,
        deps.now(),
        auditEvent(deps, decision === 'approved' ? 'device.approved' : 'device.denied', {
          user_id: signedIn.user.id,
          client_id: record.client_id,
          // No user code in the event: audit events outlive the device code, and a dump of the
          // database must not hold one (see userCodeDigest).
          ...requester,
        }),
      )
      if (!decided) return entry(c, signedIn.user, { error: 'That code has already been used.', status: 409 })
      const csrf = pageCsrf(c, deps)
      const body =
        decision === 'approved'
          ? html`<h1>Device connected</h1><p class="notice" role="status">You approved the request. You can return to your device.</p>`
          : html`<h1>Request denied</h1><p class="notice" role="status">The device was not signed in.</p>`
      return csrf.withCookie(page(body, { title: decision === 'approved' ? 'Device connected' : 'Request denied', user: signedIn.user, csrf: csrf.token }))
    },
  }
}

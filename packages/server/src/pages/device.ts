import type { Context } from 'hono'
import { auditEvent } from '../audit.js'
import type { Deps } from '../deps.js'
import { createAttemptLimit } from '../http/attempt-limit.js'
import { requesterOf } from '../http/requester.js'
import { formatUserCode, normaliseUserCode, userCodeDigest } from '../oauth/user-code.js'
import type { DeviceCodeRecord, UserRecord } from '../store/types.js'
import { pageCsrf, type SignedInEnv, type SignedInFormEnv } from './forms.js'
import { html } from './html.js'
import { page } from './layout.js'

const WINDOW_SECONDS = 15 * 60

/**
 * /device (RFC 8628 §3.3): the person types the user code (prefilled from
 * verification_uri_complete), sees which application asks for what, and approves or denies.
 */
export function devicePages(deps: Deps) {
  const entry = (c: Context, user: { email: string }, values: { code?: string; error?: string; status?: number; retryAfter?: number }) => {
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
    const res = csrf.withCookie(page(body, { title: 'Connect a device', user, csrf: csrf.token, status: values.status ?? 200 }))
    if (values.retryAfter !== undefined) res.headers.set('retry-after', String(values.retryAfter))
    return res
  }

  // RFC 8628 §5.1: user codes are short enough to guess, so entry is rate limited. Per user and
  // per address, counted before the lookup so concurrent guesses cannot all slip under it.
  // Closed while the shared backend is down, for the same reason: per-node counting would
  // multiply a guesser's budget by the number of nodes, and a code is only valid for minutes.
  const limit = (points: number, name: string) => createAttemptLimit({ points, durationSeconds: WINDOW_SECONDS, name, whenDown: 'closed' }, deps.limits, deps)
  const perUser = limit(deps.settings.rateLimitDevice, 'device-user')
  const perAddress = limit(deps.settings.rateLimitDevice * 5, 'device-ip')

  // The store holds only a digest of the code (see userCodeDigest), so pages show the code the
  // person typed, normalised, once it has matched.
  const lookup = async (
    c: Context,
    user: UserRecord,
    input: string | undefined,
  ): Promise<{ record: DeviceCodeRecord; code: string } | { error: string; status: number; retryAfter?: number }> => {
    const address = requesterOf(c, deps.settings).ip ?? 'unknown'
    const [byUser, byAddress] = await Promise.all([perUser.take(user.id), perAddress.take(address)])
    if (!byUser.ok || !byAddress.ok) {
      if (byUser.ok) await perUser.refund(user.id)
      if (byAddress.ok) await perAddress.refund(address)
      const retryAfter = Math.max(byUser.ok ? 0 : byUser.retryAfter, byAddress.ok ? 0 : byAddress.retryAfter)
      if ((!byUser.ok && byUser.unavailable) || (!byAddress.ok && byAddress.unavailable)) {
        return { error: 'Code entry is briefly unavailable. Try again in a moment.', status: 503, retryAfter }
      }
      const wait = Math.ceil(retryAfter / 60)
      return { error: `Too many wrong codes. Try again in ${wait} minute${wait === 1 ? '' : 's'}.`, status: 429, retryAfter }
    }
    const code = input === undefined ? undefined : normaliseUserCode(input)
    if (!code) return { error: 'That is not a valid code. Codes look like ABCD-EFGH.', status: 400 }
    const record = await deps.store.getDeviceCodeByUserCode(userCodeDigest(deps.pageKey, code))
    if (!record || record.expires_at <= deps.now()) return { error: 'That code is unknown or has expired. Start again on your device.', status: 400 }
    // A real code, even a used one, is not a guess: give the attempt back.
    await Promise.all([perUser.refund(user.id), perAddress.refund(address)])
    if (record.status !== 'pending') return { error: 'That code has already been used.', status: 400 }
    return { record, code }
  }

  return {
    async show(c: Context<SignedInEnv>): Promise<Response> {
      return entry(c, c.var.signedIn.user, { code: c.req.query('user_code') ?? '' })
    },

    /** Step 2: the code was typed; show who asks for what, with Approve / Deny. */
    async confirm(c: Context<SignedInFormEnv>): Promise<Response> {
      const { form, signedIn } = c.var
      const found = await lookup(c, signedIn.user, form.get('user_code'))
      if ('error' in found) return entry(c, signedIn.user, { code: form.get('user_code') ?? '', ...found })
      const { record, code } = found
      const client = await deps.store.getClient(record.client_id)
      const scopes = record.scope.split(' ').filter(Boolean)
      const csrf = pageCsrf(c, deps)
      const body = html`<h1>Approve ${client?.name ?? record.client_id}?</h1>
<p>A device using code <strong>${formatUserCode(code)}</strong> wants to sign in as <strong>${signedIn.user.email}</strong>
with <strong>${client?.name ?? record.client_id}</strong>.</p>
${scopes.length ? html`<p>It asks for:</p><ul>${scopes.map((s) => html`<li><code>${s}</code></li>`)}</ul>` : ''}
${record.resource ? html`<p>Its access will be limited to <code>${record.resource}</code>.</p>` : ''}
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

    async decide(c: Context<SignedInFormEnv>): Promise<Response> {
      const { form, signedIn } = c.var
      const found = await lookup(c, signedIn.user, form.get('user_code'))
      if ('error' in found) return entry(c, signedIn.user, found)
      const { record } = found
      const decision = form.get('decision') === 'approve' ? 'approved' : 'denied'
      const requester = requesterOf(c, deps.settings)
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

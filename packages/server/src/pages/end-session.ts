import { OAuthError } from '@evergreen/core'
import type { Context } from 'hono'
import type { Deps } from '../deps.js'
import { readForm } from '../http/form.js'
import { httpOrigins } from './authorize.js'
import type { ClientRecord } from '../store/types.js'
import { currentUser, endBrowserSession } from './browser-session.js'
import { pageCsrf, readPageForm } from './forms.js'
import { html } from './html.js'
import { errorPage, page, redirect } from './layout.js'

/** A checked end-session request: who asks, where to go afterwards, and who the hint names. */
interface EndSessionRequest {
  client: ClientRecord | undefined
  postLogoutRedirectUri: string | undefined
  state: string | undefined
  /** `sub` of a valid id_token_hint; undefined without one. */
  hintSubject: string | undefined
}

const MAX_STATE = 2048

/**
 * OIDC RP-Initiated Logout 1.0 at `/oauth/end-session` (GET, or POST as a form). It ends the
 * service's own browser sign-in, then sends the browser to one of the client's registered
 * `post_logout_redirect_uris` (exact match, `state` appended) or shows "You are signed out".
 *
 * Sign-out is immediate only when a valid `id_token_hint` names the signed-in user (or nobody is
 * signed in): anyone can link a browser here, and signing people out by link is the denial of
 * service the spec's security considerations warn about. Otherwise the user confirms with a CSRF-protected POST. Errors are
 * pages, never redirects: an unverified URI must not receive anything.
 *
 * @see https://openid.net/specs/openid-connect-rpinitiated-1_0.html
 */
export function endSessionPages(deps: Deps) {
  const finish = async (c: Context, req: EndSessionRequest): Promise<Response> => {
    const headers = new Headers()
    headers.append('set-cookie', await endBrowserSession(c, deps, { via: 'end_session', clientId: req.client?.client_id }))
    if (req.postLogoutRedirectUri !== undefined) return redirect(withState(req.postLogoutRedirectUri, req.state), headers)
    const body = html`<h1>You are signed out</h1><p role="status">You are no longer signed in to Evergreen in this browser.</p><p><a href="/login">Sign in again</a></p>`
    const res = page(body, { title: 'Signed out' })
    for (const cookie of headers.getSetCookie()) res.headers.append('set-cookie', cookie)
    return res
  }

  return {
    async request(c: Context): Promise<Response> {
      const params = await readParams(c, deps)
      if (params instanceof Response) return params
      const req = await checkRequest(deps, params)
      if (req instanceof Response) return req
      const signedIn = await currentUser(c, deps)
      if (req.hintSubject !== undefined && (!signedIn || signedIn.user.id === req.hintSubject)) return finish(c, req)
      return confirmPage(c, deps, req, signedIn?.user)
    },

    async confirm(c: Context): Promise<Response> {
      const form = await readPageForm(c, deps)
      if (form instanceof Response) return form
      // The hint was judged when the page was shown; the confirmation itself is the consent.
      form.delete('id_token_hint')
      const req = await checkRequest(deps, form)
      if (req instanceof Response) return req
      return finish(c, req)
    },
  }
}

/** Query (GET) or form body (POST); a repeated or unreadable parameter is a 400 page. */
async function readParams(c: Context, deps: Deps): Promise<Map<string, string> | Response> {
  if (c.req.method === 'POST') {
    try {
      return await readForm(c.req.raw, deps.settings.maxBodyBytes)
    } catch (err) {
      return errorPage('Invalid sign-out request', err instanceof OAuthError ? err.description : 'The request could not be read.', 400)
    }
  }
  const query = new URL(c.req.url).searchParams
  const params = new Map<string, string>()
  for (const [k, v] of query) {
    if (query.getAll(k).length > 1) return errorPage('Invalid sign-out request', `The parameter ${k} is repeated.`, 400)
    if (v !== '') params.set(k, v)
  }
  return params
}

async function checkRequest(deps: Deps, params: Map<string, string>): Promise<EndSessionRequest | Response> {
  const invalid = (message: string) => errorPage('Invalid sign-out request', message, 400)
  let hintSubject: string | undefined
  let hintClient: string | undefined
  const hint = params.get('id_token_hint')
  if (hint !== undefined) {
    try {
      // The spec has OPs accept an expired ID token as a hint: it only says who is leaving, and
      // a user coming back to log out after an hour must not be told their token is too old.
      const { payload } = await deps.keys.verify(hint, { issuer: deps.settings.issuer, typ: 'JWT', acceptExpired: true })
      const aud = Array.isArray(payload.aud) && payload.aud.length === 1 ? payload.aud[0] : payload.aud
      if (typeof aud !== 'string' || typeof payload.sub !== 'string') throw new Error('not an ID token')
      hintSubject = payload.sub
      hintClient = aud
    } catch {
      return invalid('The application sent a sign-out hint that Evergreen did not issue.')
    }
  }
  const clientId = params.get('client_id')
  if (clientId !== undefined && hintClient !== undefined && clientId !== hintClient) {
    return invalid('The sign-out hint belongs to a different application than the one named.')
  }
  const id = clientId ?? hintClient
  const client = id === undefined ? undefined : await deps.store.getClient(id)
  if (id !== undefined && !client) return invalid('The application that sent you here is not registered.')
  const postLogoutRedirectUri = params.get('post_logout_redirect_uri')
  if (postLogoutRedirectUri !== undefined) {
    if (!client) return invalid('A return address needs client_id or id_token_hint to say which application asks.')
    if (!client.post_logout_redirect_uris.includes(postLogoutRedirectUri)) {
      return invalid('The application asked to send you somewhere it has not registered, so Evergreen stopped here.')
    }
  }
  const state = params.get('state')
  if (state !== undefined && state.length > MAX_STATE) return invalid('The state parameter is too long.')
  return { client, postLogoutRedirectUri, state, hintSubject }
}

function confirmPage(c: Context, deps: Deps, req: EndSessionRequest, user: { email: string } | undefined): Response {
  const csrf = pageCsrf(c, deps)
  const hidden = (name: string, value: string | undefined) => (value === undefined ? '' : html`<input type="hidden" name="${name}" value="${value}">`)
  const body = html`<h1>Sign out of Evergreen?</h1>
<p>${req.client ? html`<strong>${req.client.name}</strong> asks to end your Evergreen sign-in in this browser.` : 'An application asks to end your Evergreen sign-in in this browser.'}
${user ? html` You are signed in as <strong>${user.email}</strong>.` : ''}</p>
<form method="post" action="/oauth/end-session/confirm">
  <input type="hidden" name="csrf" value="${csrf.token}">
  ${hidden('client_id', req.client?.client_id)}
  ${hidden('post_logout_redirect_uri', req.postLogoutRedirectUri)}
  ${hidden('state', req.state)}
  <div class="actions">
    <button class="primary" type="submit" autofocus>Sign out</button>
    <a class="button" href="/settings/sessions">Stay signed in</a>
  </div>
</form>`
  const formTargets = req.postLogoutRedirectUri === undefined ? [] : httpOrigins([req.postLogoutRedirectUri])
  return csrf.withCookie(page(body, { title: 'Sign out', user, csrf: csrf.token, formTargets }))
}

/** The registered URI with `state` appended, its own query kept byte for byte (RP-Initiated Logout §3). */
function withState(uri: string, state: string | undefined): string {
  if (state === undefined) return uri
  return `${uri}${uri.includes('?') ? '&' : '?'}state=${encodeURIComponent(state)}`
}

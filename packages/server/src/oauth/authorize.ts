import type { Context } from 'hono'
import { hashSecret } from '../crypto/hash.js'
import type { Deps } from '../deps.js'
import { currentUser } from '../pages/browser-session.js'
import { pageCsrf, readPageForm } from '../pages/forms.js'
import { html } from '../pages/html.js'
import { errorPage, page, redirect } from '../pages/layout.js'
import type { ClientRecord } from '../store/types.js'
import { isS256Challenge } from './pkce.js'
import { grantedScope } from './scope.js'
import { OAuthError } from '@evergreen/core'

const CODE_TTL = 60

interface AuthorizationRequest {
  client: ClientRecord
  redirectUri: string
  state: string | undefined
  scope: string
  codeChallenge: string | null
  nonce: string | null
}

/**
 * The authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2). Client and redirect URI are
 * checked first and their errors shown on a page, never redirected (§4.1.2.1: an unverified
 * redirect URI must not receive anything). Every later error goes back to the client with
 * `state` and `iss` (RFC 9207).
 */
export function authorizationEndpoint(deps: Deps) {
  const parse = (params: URLSearchParams | Map<string, string>) => validate(deps, (k) => params.get(k) ?? undefined)

  return {
    async authorize(c: Context): Promise<Response> {
      const url = new URL(c.req.url)
      for (const [k] of url.searchParams) {
        if (url.searchParams.getAll(k).length > 1) return errorPage('Invalid request', `The parameter ${k} is repeated.`, 400)
      }
      const parsed = await parse(url.searchParams)
      if (parsed instanceof Response) return parsed
      const signedIn = await currentUser(c, deps)
      if (!signedIn) {
        if (url.searchParams.get('prompt') === 'none') return back(deps, parsed, { error: 'login_required' })
        return redirect(`/login?return_to=${encodeURIComponent(url.pathname + url.search)}`)
      }
      if (parsed.client.first_party) return issueCode(deps, parsed, signedIn.user.id, signedIn.login.created_at)
      if (url.searchParams.get('prompt') === 'none') return back(deps, parsed, { error: 'consent_required' })
      return consentPage(c, deps, parsed, url.searchParams, signedIn.user.email)
    },

    async decide(c: Context): Promise<Response> {
      const form = await readPageForm(c, deps, { signedIn: true })
      if (form instanceof Response) return form
      const signedIn = await currentUser(c, deps)
      if (!signedIn) return errorPage('Signed out', 'Your sign-in ended. Start again from the application.', 401)
      const parsed = await parse(form)
      if (parsed instanceof Response) return parsed
      if (form.get('decision') !== 'approve') return back(deps, parsed, { error: 'access_denied', error_description: 'the user denied the request' })
      return issueCode(deps, parsed, signedIn.user.id, signedIn.login.created_at)
    },
  }
}

async function validate(deps: Deps, get: (k: string) => string | undefined): Promise<AuthorizationRequest | Response> {
  const clientId = get('client_id')
  const client = clientId ? await deps.store.getClient(clientId) : undefined
  if (!client) return errorPage('Unknown application', 'The application that sent you here is not registered.', 400)
  const requested = get('redirect_uri')
  // Exact string match (RFC 9700 §4.1.3); with one registered URI, omitting it means that one.
  const redirectUri = requested ?? (client.redirect_uris.length === 1 ? client.redirect_uris[0] : undefined)
  if (!redirectUri || !client.redirect_uris.includes(redirectUri)) {
    return errorPage('Invalid redirect', 'The application asked to send you somewhere it has not registered, so Evergreen stopped here.', 400)
  }
  const state = get('state')
  const base = { client, redirectUri, state, scope: '', codeChallenge: null, nonce: null }
  if (get('response_type') !== 'code') return back(deps, base, { error: 'unsupported_response_type', error_description: 'only response_type=code is supported' })
  if (!client.grant_types.includes('authorization_code')) return back(deps, base, { error: 'unauthorized_client', error_description: 'client may not use the authorization code flow' })
  const challenge = get('code_challenge')
  const method = get('code_challenge_method')
  if (challenge !== undefined) {
    // RFC 9700 §2.1.1: S256 only; `plain` protects nothing against a seen request.
    if (method !== 'S256') return back(deps, base, { error: 'invalid_request', error_description: 'code_challenge_method must be S256' })
    if (!isS256Challenge(challenge)) return back(deps, base, { error: 'invalid_request', error_description: 'code_challenge is malformed' })
  } else if (client.token_endpoint_auth_method === 'none') {
    return back(deps, base, { error: 'invalid_request', error_description: 'public clients must use PKCE (code_challenge with S256)' })
  }
  let scope: string
  try {
    scope = grantedScope(get('scope'), client)
  } catch (err) {
    return back(deps, base, { error: 'invalid_scope', error_description: err instanceof OAuthError ? err.description : 'invalid scope' })
  }
  const nonce = get('nonce')
  if (nonce !== undefined && nonce.length > 512) return back(deps, base, { error: 'invalid_request', error_description: 'nonce is too long' })
  return { client, redirectUri, state, scope, codeChallenge: challenge ?? null, nonce: nonce ?? null }
}

async function issueCode(deps: Deps, req: AuthorizationRequest, userId: string, authTime: number): Promise<Response> {
  const code = deps.random.secret('egac')
  const now = deps.now()
  await deps.store.createAuthorizationCode({
    hash: hashSecret(code),
    client_id: req.client.client_id,
    user_id: userId,
    redirect_uri: req.redirectUri,
    scope: req.scope,
    code_challenge: req.codeChallenge,
    code_challenge_method: req.codeChallenge ? 'S256' : null,
    nonce: req.nonce,
    auth_time: authTime,
    created_at: now,
    expires_at: now + CODE_TTL,
    consumed_at: null,
    session_id: null,
  })
  return back(deps, req, { code })
}

/** Sends the browser back to the client with `params`, `state` and `iss` (RFC 9207). */
function back(deps: Deps, req: Pick<AuthorizationRequest, 'redirectUri' | 'state'>, params: Record<string, string>): Response {
  const target = new URL(req.redirectUri)
  for (const [k, v] of Object.entries(params)) target.searchParams.set(k, v)
  if (req.state !== undefined) target.searchParams.set('state', req.state)
  target.searchParams.set('iss', deps.settings.issuer)
  return redirect(target.toString())
}

function consentPage(c: Context, deps: Deps, req: AuthorizationRequest, params: URLSearchParams, email: string): Response {
  const csrf = pageCsrf(c, deps)
  const hidden = [...params].filter(([k]) => k !== 'csrf' && k !== 'decision').map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`)
  const scopes = req.scope.split(' ').filter(Boolean)
  const body = html`<h1>Allow ${req.client.name}?</h1>
<p><strong>${req.client.name}</strong> wants to act on your behalf as <strong>${email}</strong>.</p>
${scopes.length ? html`<p>It asks for:</p><ul>${scopes.map((s) => html`<li><code>${s}</code></li>`)}</ul>` : html`<p>It asks for no specific permissions.</p>`}
<form method="post" action="/authorize">
  <input type="hidden" name="csrf" value="${csrf.token}">
  ${hidden}
  <div class="actions">
    <button class="primary" type="submit" name="decision" value="approve">Allow</button>
    <button type="submit" name="decision" value="deny">Deny</button>
  </div>
</form>`
  return csrf.withCookie(page(body, { title: `Allow ${req.client.name}`, user: { email }, csrf: csrf.token, formTargets: httpOrigins([req.redirectUri]) }))
}

/** http(s) origins of URIs, for CSP form-action (a private-use scheme has no origin to list). */
export function httpOrigins(uris: readonly string[]): string[] {
  return [...new Set(uris.map((u) => new URL(u)).filter((u) => u.protocol === 'https:' || u.protocol === 'http:').map((u) => u.origin))]
}

/**
 * Where a sign-in that returns to `returnTo` may end up: an /authorize return leads on to the
 * client's redirect URIs, which the login form's CSP form-action must allow.
 */
export async function authorizeTargets(deps: Deps, returnTo: string): Promise<string[]> {
  if (!returnTo.startsWith('/authorize?')) return []
  const clientId = new URLSearchParams(returnTo.slice('/authorize?'.length)).get('client_id')
  const client = clientId ? await deps.store.getClient(clientId) : undefined
  return client ? httpOrigins(client.redirect_uris) : []
}

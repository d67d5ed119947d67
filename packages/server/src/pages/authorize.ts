import type { Context } from 'hono'
import { createHmac, timingSafeEqual } from 'node:crypto'
import { hashSecret } from '../crypto/hash.js'
import type { Deps } from '../deps.js'
import { currentUser, type SignedIn } from './browser-session.js'
import { pageCsrf, readPageForm } from './forms.js'
import { html } from './html.js'
import { errorPage, page, redirect } from './layout.js'
import type { ClientRecord } from '../store/types.js'
import { isS256Challenge } from '../oauth/pkce.js'
import { PROMPT_VALUES } from '../oauth/prompt.js'
import { authorizedResources } from '../oauth/resource.js'
import { checkOfflineAccess, grantedScope } from '../oauth/scope.js'
import { isDpopJkt, OAuthError } from '@evergreen/core'
import { rememberDocumentClient, resolveClient } from '../clients/resolve.js'
import { ClientDocumentError } from '../errors.js'
import { requesterOf } from '../http/requester.js'

const CODE_TTL = 60
/**
 * The parameter that carries "re-authentication requested at T, by a browser whose sign-in then
 * was S" from /authorize through /login and back: `<T>.<S>.<HMAC>`. It lives as long as someone
 * may take to type a password.
 */
const REAUTH_PARAM = 'evergreen_reauth'
const REAUTH_TTL = 600
const REAUTH_VALUE = /^(\d{1,12})\.([A-Za-z0-9_-]{22}|-)\.([A-Za-z0-9_-]{43})$/

interface AuthorizationRequest {
  client: ClientRecord
  redirectUri: string
  state: string | undefined
  scope: string
  codeChallenge: string | null
  nonce: string | null
  prompt: ReadonlySet<string>
  /** OIDC `max_age` in seconds, or null when absent. */
  maxAge: number | null
  /** The RFC 8707 resources asked for, space-separated, or null (see `authorizedResources`). */
  resource: string | null
  /** RFC 9449 §10 `dpop_jkt`: the DPoP key that must redeem the code, or null. */
  dpopJkt?: string | null
}

/**
 * The authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2). Client and redirect URI are
 * checked first and their errors shown on a page, never redirected (§4.1.2.1: an unverified
 * redirect URI must not receive anything). Every later error goes back to the client with
 * `state` and `iss` (RFC 9207).
 */
export function authorizationEndpoint(deps: Deps) {
  // RFC 8707 §2.1: `resource` may repeat in the query. The consent form carries them as one
  // space-separated value (a resource URI has no space), because a page form refuses repeats.
  const parse = (params: URLSearchParams | Map<string, string>, c: Context) =>
    validate(
      deps,
      (k) => params.get(k) ?? undefined,
      params instanceof URLSearchParams ? params.getAll('resource') : (params.get('resource')?.split(' ') ?? []),
      requesterOf(c, deps.settings).ip ?? 'unknown',
    )

  return {
    async authorize(c: Context): Promise<Response> {
      const url = new URL(c.req.url)
      for (const [k] of url.searchParams) {
        if (k !== 'resource' && url.searchParams.getAll(k).length > 1) return errorPage('Invalid request', `The parameter ${k} is repeated.`, 400)
      }
      const parsed = await parse(url.searchParams, c)
      if (parsed instanceof Response) return parsed
      const signedIn = await currentUser(c, deps)
      if (!signedIn || mustAuthenticate(deps, parsed, url.searchParams, signedIn)) {
        if (parsed.prompt.has('none')) return back(deps, parsed, { error: 'login_required' })
        return redirect(signInUrl(deps, parsed, url.searchParams, signedIn))
      }
      if (parsed.client.first_party && !parsed.prompt.has('consent')) return issueCode(deps, parsed, signedIn.user.id, signedIn.login.created_at)
      if (parsed.prompt.has('none')) return back(deps, parsed, { error: 'consent_required' })
      return consentPage(c, deps, parsed, url.searchParams, signedIn.user.email)
    },

    async decide(c: Context): Promise<Response> {
      const form = await readPageForm(c, deps, { signedIn: true })
      if (form instanceof Response) return form
      const signedIn = await currentUser(c, deps)
      if (!signedIn) return errorPage('Signed out', 'Your sign-in ended. Start again from the application.', 401)
      const parsed = await parse(form, c)
      if (parsed instanceof Response) return parsed
      // The consent form carries the request's parameters, so a hand-made POST must meet the
      // same prompt=login / max_age rule as the GET that rendered it.
      const params = new URLSearchParams(
        [...form].filter(([k]) => k !== 'csrf' && k !== 'decision').flatMap(([k, v]) => (k === 'resource' ? v.split(' ').map((r) => [k, r]) : [[k, v]])),
      )
      if (mustAuthenticate(deps, parsed, params, signedIn)) return redirect(signInUrl(deps, parsed, params, signedIn))
      if (form.get('decision') !== 'approve') return back(deps, parsed, { error: 'access_denied', error_description: 'the user denied the request' })
      return issueCode(deps, parsed, signedIn.user.id, signedIn.login.created_at)
    },
  }
}

async function validate(deps: Deps, get: (k: string) => string | undefined, resources: readonly string[], address: string): Promise<AuthorizationRequest | Response> {
  const clientId = get('client_id')
  let client: ClientRecord | undefined
  try {
    client = clientId ? await resolveClient(deps, clientId, { address }) : undefined
  } catch (err) {
    if (!(err instanceof ClientDocumentError)) throw err
    deps.logger.info({ reason: err.reason, err: err.message }, 'client metadata document refused')
    if (err.reason === 'rate_limited') return errorPage('Too many requests', 'Too many applications were looked up from your address. Try again in a minute.', 429)
    return errorPage('Application not verified', 'The application that sent you here describes itself at an address Evergreen could not use, so Evergreen stopped here.', 400)
  }
  if (!client) return errorPage('Unknown application', 'The application that sent you here is not registered.', 400)
  const requested = get('redirect_uri')
  // Exact string match (RFC 9700 §4.1.3); with one registered URI, omitting it means that one.
  const redirectUri = requested ?? (client.redirect_uris.length === 1 ? client.redirect_uris[0] : undefined)
  if (!redirectUri || !client.redirect_uris.includes(redirectUri)) {
    return errorPage('Invalid redirect', 'The application asked to send you somewhere it has not registered, so Evergreen stopped here.', 400)
  }
  const state = get('state')
  const base = { client, redirectUri, state }
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
    checkOfflineAccess(scope, client)
  } catch (err) {
    return back(deps, base, { error: 'invalid_scope', error_description: err instanceof OAuthError ? err.description : 'invalid scope' })
  }
  let resource: string | null
  try {
    // Checked as the token endpoint checks one (oauth/resource.ts), and refused back at the
    // client with RFC 8707's invalid_target.
    resource = authorizedResources(resources, client)
  } catch (err) {
    return back(deps, base, { error: 'invalid_target', error_description: err instanceof OAuthError ? err.description : 'invalid resource' })
  }
  const nonce = get('nonce')
  if (nonce !== undefined && nonce.length > 512) return back(deps, base, { error: 'invalid_request', error_description: 'nonce is too long' })
  // OIDC Core §3.1.2.1: a space-delimited list; `none` with any other value is an error. Values
  // this endpoint does not implement (select_account) are refused rather than silently ignored.
  const prompt = new Set((get('prompt') ?? '').split(' ').filter(Boolean))
  for (const p of prompt) {
    if (!(PROMPT_VALUES as readonly string[]).includes(p)) return back(deps, base, { error: 'invalid_request', error_description: `prompt=${p.slice(0, 40)} is not supported` })
  }
  if (prompt.has('none') && prompt.size > 1) return back(deps, base, { error: 'invalid_request', error_description: 'prompt=none cannot be combined with other values' })
  const maxAgeText = get('max_age')
  if (maxAgeText !== undefined && !/^\d{1,10}$/.test(maxAgeText)) return back(deps, base, { error: 'invalid_request', error_description: 'max_age must be a non-negative integer' })
  const maxAge = maxAgeText === undefined ? null : Number(maxAgeText)
  const dpopJkt = get('dpop_jkt')
  if (dpopJkt !== undefined && !isDpopJkt(dpopJkt)) return back(deps, base, { error: 'invalid_request', error_description: 'dpop_jkt must be a base64url SHA-256 JWK thumbprint' })
  return { client, redirectUri, state, scope, codeChallenge: challenge ?? null, nonce: nonce ?? null, prompt, maxAge, resource, dpopJkt: dpopJkt ?? null }
}

/**
 * Whether a live browser sign-in must authenticate again before this request gets a code:
 * `prompt=login` always, `max_age` when the sign-in is older (OIDC Core §3.1.2.1). Either is met
 * only by a sign-in made after the request first reached us, which the returning request's
 * `evergreen_reauth` proves; without it a signed-in browser that comes back from /login would be
 * sent to sign in again forever.
 */
function mustAuthenticate(deps: Deps, req: AuthorizationRequest, params: URLSearchParams, signedIn: SignedIn): boolean {
  const age = deps.now() - signedIn.login.created_at
  if (!req.prompt.has('login') && (req.maxAge === null || age <= req.maxAge)) return false
  return !reauthenticated(deps, params, signedIn)
}

/**
 * Where to sign in for this request. With `prompt=login` or `max_age` the way back carries the
 * time of this request and a tag of the sign-in the browser had then, under an HMAC with the page
 * key over every other parameter: the return is recognised as "signed in since", and a crafted
 * URL can neither claim an earlier time nor let the old sign-in pass.
 */
function signInUrl(deps: Deps, req: AuthorizationRequest, params: URLSearchParams, signedIn: SignedIn | undefined): string {
  const back = new URLSearchParams([...params].filter(([k]) => k !== REAUTH_PARAM))
  if (req.prompt.has('login') || req.maxAge !== null) {
    const now = deps.now()
    const before = signedIn ? loginTag(deps, signedIn) : '-'
    back.set(REAUTH_PARAM, `${now}.${before}.${reauthMac(deps, now, before, back)}`)
  }
  return `/login?return_to=${encodeURIComponent(`/authorize?${back}`)}`
}

/**
 * True when `params` carries a genuine, unexpired `evergreen_reauth` and this browser's sign-in
 * was made after it: later than or in the same second as the request (the clock has seconds),
 * and not the sign-in the browser had when the request came in.
 */
function reauthenticated(deps: Deps, params: URLSearchParams, signedIn: SignedIn): boolean {
  const marker = reauthMarker(deps, params)
  return marker !== undefined && signedIn.login.created_at >= marker.at && !equal(loginTag(deps, signedIn), marker.before)
}

/** A genuine, unexpired `evergreen_reauth` in `params`: when it was minted, and for which sign-in. */
function reauthMarker(deps: Deps, params: URLSearchParams): { at: number; before: string } | undefined {
  const m = REAUTH_VALUE.exec(params.get(REAUTH_PARAM) ?? '')
  if (!m) return undefined
  const at = Number(m[1])
  const before = m[2]!
  const now = deps.now()
  if (at > now || now - at > REAUTH_TTL) return undefined
  return equal(reauthMac(deps, at, before, params), m[3]!) ? { at, before } : undefined
}

/**
 * HMAC over the time, the earlier sign-in's tag and the whole request (every parameter but the
 * marker and the consent form's own fields, sorted): a marker minted for one request says nothing
 * about another client, redirect URI, state or PKCE challenge.
 */
function reauthMac(deps: Deps, at: number, before: string, params: URLSearchParams): string {
  const rest = new URLSearchParams([...params].filter(([k]) => k !== REAUTH_PARAM && k !== 'csrf' && k !== 'decision').sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
  return createHmac('sha256', deps.pageKey).update(`evergreen/reauth\0${at}\0${before}\0${rest}`).digest('base64url')
}

/** A keyed tag of a browser sign-in (its stored hash is a lookup key, so it stays out of URLs). */
function loginTag(deps: Deps, signedIn: SignedIn): string {
  return createHmac('sha256', deps.pageKey).update(`evergreen/reauth-login\0${signedIn.login.hash}`).digest('base64url').slice(0, 22)
}

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/**
 * When `returnTo` is an /authorize request that asked this signed-in browser to authenticate
 * again and it has not yet: the client's name, for the login page to say so and show its form
 * instead of sending the browser straight back.
 *
 * @param returnTo the login page's (already same-origin) `return_to`
 * @param signedIn the browser's current sign-in
 * @example await reauthenticationPending(deps, '/authorize?client_id=c1&prompt=login&evergreen_reauth=…', signedIn) // { clientName: 'Dashboard' }
 * @see https://openid.net/specs/openid-connect-core-1_0.html#AuthRequest
 */
export async function reauthenticationPending(deps: Deps, returnTo: string, signedIn: SignedIn): Promise<{ clientName: string } | undefined> {
  if (!returnTo.startsWith('/authorize?')) return undefined
  const params = new URLSearchParams(returnTo.slice('/authorize?'.length))
  // A forged or expired marker is not pending here: /authorize mints a new one and comes back.
  if (!reauthMarker(deps, params) || reauthenticated(deps, params, signedIn)) return undefined
  const client = await knownClient(deps, params.get('client_id'))
  return client ? { clientName: client.name } : undefined
}

async function issueCode(deps: Deps, req: AuthorizationRequest, userId: string, authTime: number): Promise<Response> {
  // A metadata-document client is stored once a person approved it, so the token endpoint finds it.
  if (!(await rememberDocumentClient(deps, req.client))) return errorPage('Application removed', 'An administrator removed this application.', 400)
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
    resource: req.resource,
    auth_time: authTime,
    created_at: now,
    expires_at: now + CODE_TTL,
    consumed_at: null,
    session_id: null,
    dpop_jkt: req.dpopJkt ?? null,
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
  const fields = [...params].filter(([k]) => k !== 'csrf' && k !== 'decision' && k !== 'resource')
  if (req.resource !== null) fields.push(['resource', req.resource])
  const hidden = fields.map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`)
  const scopes = req.scope.split(' ').filter(Boolean)
  const resources = req.resource?.split(' ') ?? []
  const body = html`<h1>Allow ${req.client.name}?</h1>
${unverifiedNotice(req.client, req.redirectUri)}
<p><strong>${req.client.name}</strong> wants to act on your behalf as <strong>${email}</strong>.</p>
${scopes.length ? html`<p>It asks for:</p><ul>${scopes.map((s) => html`<li><code>${s}</code></li>`)}</ul>` : html`<p>It asks for no specific permissions.</p>`}
${resources.length ? html`<p>Its access will be limited to:</p><ul>${resources.map((r) => html`<li><code>${r}</code></li>`)}</ul>` : ''}
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

/**
 * What the consent screen says about a client no operator registered: its name is its own
 * claim, so the host that vouches for it (the metadata document's, or where it sends you back)
 * is shown, and that it is not a registered client.
 */
function unverifiedNotice(client: ClientRecord, redirectUri: string) {
  if (client.registration === 'metadata_document') {
    return html`<p class="notice">Not a registered application: it describes itself at <strong>${new URL(client.client_id).host}</strong>. Only allow it if you trust that site.</p>`
  }
  if (client.registration === 'dynamic') {
    const target = URL.canParse(redirectUri) ? new URL(redirectUri) : undefined
    const where = target && (target.protocol === 'https:' || target.protocol === 'http:') ? target.host : redirectUri.split(':')[0]!
    return html`<p class="notice">Unverified application: it registered itself, and its name is not checked. It will send you back to <strong>${where}</strong>.</p>`
  }
  return ''
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
  const client = await knownClient(deps, new URLSearchParams(returnTo.slice('/authorize?'.length)).get('client_id'))
  return client ? httpOrigins(client.redirect_uris) : []
}

/**
 * The client an /authorize return names, or undefined when it cannot be resolved (the page says
 * so later). Never fetches a metadata document: the login page's `return_to` is anyone's to
 * craft, and /authorize, which counts fetches per address, has just resolved the real one.
 */
async function knownClient(deps: Deps, clientId: string | null): Promise<ClientRecord | undefined> {
  if (!clientId) return undefined
  return resolveClient(deps, clientId, 'cache').catch((err: unknown) => {
    if (err instanceof ClientDocumentError) return undefined
    throw err
  })
}

import type { Context } from 'hono'
import { generateCookie, getCookie } from 'hono/cookie'
import * as oauth from 'oauth4webapi'
import { auditEvent } from '../audit.js'
import { deriveKey, open, seal } from '../crypto/aead.js'
import type { Deps } from '../deps.js'
import { requesterOf } from '../http/requester.js'
import { StoreConflictError, type UserRecord } from '../store/types.js'
import { secure, startBrowserSession } from './browser-session.js'
import { safeReturnTo } from './forms.js'
import { errorPage, redirect } from './layout.js'

// Sign-in through an upstream OpenID Connect provider: the usual way a company plugs in its SSO.
// Evergreen is an ordinary confidential client there (oauth4webapi as the relying-party library),
// with PKCE, state and nonce. The in-flight values travel in a sealed, short-lived cookie, so any
// node of a scale-out deployment can finish a sign-in another node started.

const FLOW_COOKIE = 'evergreen_upstream'
const FLOW_TTL = 600

interface Flow {
  state: string
  nonce: string
  verifier: string
  return_to: string
  exp: number
}

export function upstreamLogin(deps: Deps) {
  const { upstreamIssuer, upstreamClientId, upstreamClientSecret } = deps.settings
  if (!upstreamIssuer || !upstreamClientId || !upstreamClientSecret) return undefined
  const client: oauth.Client = { client_id: upstreamClientId }
  const clientAuth = oauth.ClientSecretBasic(upstreamClientSecret)
  const issuer = new URL(upstreamIssuer)
  const insecure = issuer.protocol === 'http:' ? { [oauth.allowInsecureRequests]: true } : {}
  const callback = `${deps.settings.issuer}/login/upstream/callback`
  // The configured issuer, normalised as discovery validates it; identities are keyed by it.
  const upstreamIssuerId = issuer.href.replace(/\/$/, '')
  const box = deriveKey(deps.pageKey, 'evergreen/upstream-flow/v1')
  let metadata: Promise<oauth.AuthorizationServer> | undefined

  const discover = () =>
    (metadata ??= oauth
      .discoveryRequest(issuer, { algorithm: 'oidc', ...insecure })
      .then((res) => oauth.processDiscoveryResponse(issuer, res))
      // A failed discovery must not be cached: the upstream may just have been down.
      .catch((err: unknown) => {
        metadata = undefined
        throw err
      }))

  const flowCookie = (value: string, maxAge: number) =>
    generateCookie(FLOW_COOKIE, value, { path: '/login/upstream', httpOnly: true, sameSite: 'Lax', secure: secure(deps), maxAge })

  return {
    name: deps.settings.upstreamName,

    async start(c: Context): Promise<Response> {
      let as: oauth.AuthorizationServer
      try {
        as = await discover()
      } catch (err) {
        deps.logger.warn({ err }, 'upstream discovery failed')
        return errorPage('Sign-in unavailable', `${deps.settings.upstreamName} cannot be reached right now. Try again, or sign in with a password.`, 503)
      }
      const flow: Flow = {
        state: oauth.generateRandomState(),
        nonce: oauth.generateRandomNonce(),
        verifier: oauth.generateRandomCodeVerifier(),
        return_to: safeReturnTo(c.req.query('return_to'), deps.settings.issuer),
        exp: deps.now() + FLOW_TTL,
      }
      const target = new URL(as.authorization_endpoint!)
      target.searchParams.set('client_id', upstreamClientId)
      target.searchParams.set('redirect_uri', callback)
      target.searchParams.set('response_type', 'code')
      target.searchParams.set('scope', 'openid email profile')
      target.searchParams.set('state', flow.state)
      target.searchParams.set('nonce', flow.nonce)
      target.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(flow.verifier))
      target.searchParams.set('code_challenge_method', 'S256')
      const headers = new Headers()
      headers.append('set-cookie', flowCookie(seal(box, JSON.stringify(flow), FLOW_COOKIE), FLOW_TTL))
      return redirect(target.toString(), headers)
    },

    async callback(c: Context): Promise<Response> {
      const sealed = getCookie(c, FLOW_COOKIE)
      const opened = sealed ? open(box, sealed, FLOW_COOKIE) : undefined
      const flow = opened ? (JSON.parse(opened) as Flow) : undefined
      const headers = new Headers()
      headers.append('set-cookie', flowCookie('', 0))
      if (!flow || flow.exp <= deps.now()) {
        return withHeaders(errorPage('Sign-in expired', 'The sign-in took too long or was started in another browser. Start again.', 400), headers)
      }
      const requester = requesterOf(c, deps.settings)
      let claims: Record<string, unknown>
      try {
        const as = await discover()
        const params = oauth.validateAuthResponse(as, client, new URL(c.req.url).searchParams, flow.state)
        const res = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, callback, flow.verifier, insecure)
        const result = await oauth.processAuthorizationCodeResponse(as, client, res, { expectedNonce: flow.nonce, requireIdToken: true })
        const idToken = oauth.getValidatedIdTokenClaims(result)!
        claims = { ...idToken }
        // Providers may keep scope claims out of the ID token (OIDC Core §5.4: they are returned
        // from userinfo when an access token is issued); ask userinfo, bound to the same subject.
        if (as.userinfo_endpoint && (claims.email === undefined || claims.email_verified === undefined)) {
          const info = await oauth.userInfoRequest(as, client, result.access_token, insecure)
          claims = { ...claims, ...(await oauth.processUserInfoResponse(as, client, idToken.sub, info)) }
        }
      } catch (err) {
        const denied = err instanceof oauth.AuthorizationResponseError && err.error === 'access_denied'
        // Name, code and message only: oauth4webapi errors carry response bodies and token
        // material in `cause`, which must not reach a log line.
        const e = err as { name?: string; code?: string; message?: string }
        deps.logger.warn({ error: denied ? 'access_denied' : 'upstream_failed', name: e.name, code: e.code, message: e.message }, 'upstream sign-in failed')
        await deps.store.appendAudit(auditEvent(deps, 'login.failed', { ...requester, data: { reason: denied ? 'upstream_denied' : 'upstream_error', method: 'upstream' } }))
        return withHeaders(errorPage('Sign-in failed', denied ? 'The sign-in was cancelled.' : `${deps.settings.upstreamName} did not complete the sign-in. Try again.`, denied ? 403 : 502), headers)
      }
      const user = await linkedUser(deps, upstreamIssuerId, claims, requester)
      if (user === 'email_not_verified') {
        await deps.store.appendAudit(auditEvent(deps, 'login.failed', { ...requester, data: { reason: 'email_not_verified', method: 'upstream' } }))
        return withHeaders(errorPage('Email not verified', `${deps.settings.upstreamName} did not vouch for your email address, so Evergreen cannot sign you in with it.`, 403), headers)
      }
      if (user === 'linked_elsewhere') {
        await deps.store.appendAudit(auditEvent(deps, 'login.failed', { ...requester, data: { reason: 'linked_to_another_upstream_account', method: 'upstream' } }))
        return withHeaders(
          errorPage('Account already linked', `The Evergreen account with this email is linked to a different ${deps.settings.upstreamName} account. Contact your administrator.`, 403),
          headers,
        )
      }
      if (user.disabled_at !== null) {
        await deps.store.appendAudit(auditEvent(deps, 'login.failed', { user_id: user.id, ...requester, data: { reason: 'disabled', method: 'upstream' } }))
        return withHeaders(errorPage('Account disabled', 'This account has been disabled. Contact your administrator.', 403), headers)
      }
      headers.append('set-cookie', await startBrowserSession(deps, user, requester, 'upstream'))
      return redirect(flow.return_to, headers)
    },
  }
}

/**
 * The local user for an upstream sign-in. A linked (issuer, subject) is that user, whatever email
 * the upstream reports today. Otherwise a verified email matches (or creates) the user, and the
 * subject is linked to it from then on; a user already linked to another subject at this issuer
 * is not taken over by a newcomer claiming the same email.
 */
async function linkedUser(
  deps: Deps,
  issuer: string,
  claims: Record<string, unknown>,
  requester: { ip: string | null; user_agent: string | null },
): Promise<UserRecord | 'email_not_verified' | 'linked_elsewhere'> {
  // `sub` comes from the validated ID token (oauth4webapi checks it is a string).
  const subject = claims.sub as string
  const linked = await deps.store.getUpstreamIdentity(issuer, subject)
  if (linked) {
    const user = await deps.store.getUser(linked.user_id)
    if (user) return user
  }
  // Only a verified email may link to (or create) an account: an unverified one would let
  // anyone who can register that address upstream take over the local account.
  const email = typeof claims.email === 'string' ? claims.email : undefined
  if (!email || claims.email_verified !== true) return 'email_not_verified'
  const user = await findOrCreate(deps, email, typeof claims.name === 'string' ? claims.name : null, requester)
  if (await deps.store.linkUpstreamIdentity({ issuer, subject, user_id: user.id, created_at: deps.now() })) return user
  // Not linked: either this subject was linked a moment ago by a concurrent first sign-in, or
  // the user already belongs to another subject here.
  const raced = await deps.store.getUpstreamIdentity(issuer, subject)
  if (!raced) return 'linked_elsewhere'
  return raced.user_id === user.id ? user : ((await deps.store.getUser(raced.user_id)) ?? 'linked_elsewhere')
}

async function findOrCreate(deps: Deps, email: string, name: string | null, requester: { ip: string | null; user_agent: string | null }): Promise<UserRecord> {
  const existing = await deps.store.getUserByEmail(email)
  if (existing) return existing
  const user: UserRecord = { id: deps.random.id('usr'), email, name, password_hash: null, created_at: deps.now(), disabled_at: null }
  try {
    await deps.store.createUser(user, auditEvent(deps, 'user.created', { user_id: user.id, ...requester, data: { via: 'upstream' } }))
    return user
  } catch (err) {
    // Two first sign-ins at once: the other request created the account.
    if (err instanceof StoreConflictError) return (await deps.store.getUserByEmail(email))!
    throw err
  }
}

function withHeaders(res: Response, headers: Headers): Response {
  for (const value of headers.getSetCookie()) res.headers.append('set-cookie', value)
  return res
}

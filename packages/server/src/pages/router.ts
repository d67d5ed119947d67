import type { Context } from 'hono'
import { Hono } from 'hono'
import type { Deps } from '../deps.js'
import { COPY_SCRIPT, STYLESHEET } from './assets.js'
import { authorizationEndpoint } from './authorize.js'
import { devicePages } from './device.js'
import { endSessionPages } from './end-session.js'
import { signedInForm, signedInPage } from './forms.js'
import { errorPage, redirect } from './layout.js'
import { createLoginLimits, loginPages } from './login.js'
import { settingsPages } from './settings.js'
import { upstreamLogin } from './upstream.js'

/**
 * The server-rendered pages as one sub-app: `/authorize`, `/login`, `/logout`, end-session,
 * `/device`, `/settings/...` and their assets. Its own error handler renders the error page, so a
 * failure inside any page is a page, never a raw 500 body or OAuth JSON, and no route wraps
 * itself in a try/catch.
 */
export function pagesRouter(deps: Deps): Hono {
  const pages = new Hono()
  pages.onError((err, c) => {
    deps.logger.error({ err, path: c.req.path }, 'page failed')
    return errorPage('Something went wrong', 'The service could not complete this request. Try again in a moment.', 500)
  })

  const authorize = authorizationEndpoint(deps)
  const upstream = upstreamLogin(deps)
  const loginLimits = createLoginLimits(deps)
  const login = loginPages(deps, { upstreamName: upstream?.name, limits: loginLimits })
  const device = devicePages(deps)
  const settings = settingsPages(deps, loginLimits)
  const endSession = endSessionPages(deps)
  // Which pages need a sign-in, and which forms a CSRF-checked POST from one, is said here: the
  // middleware sets `c.var.signedIn` (and `c.var.form`) or answers with the sign-in redirect or
  // the 4xx page, so the handlers start from a signed-in user.
  const signedIn = signedInPage(deps)
  const signedInPost = signedInForm(deps)
  pages.get('/authorize', authorize.authorize)
  pages.post('/authorize', authorize.decide)
  pages.get('/login', login.show)
  pages.post('/login', login.submit)
  if (upstream) {
    pages.get('/login/upstream', upstream.start)
    pages.get('/login/upstream/callback', upstream.callback)
  }
  pages.get('/logout', login.confirmLogout)
  pages.post('/logout', login.logout)
  pages.on(['GET', 'POST'], '/oauth/end-session', endSession.request)
  pages.post('/oauth/end-session/confirm', endSession.confirm)
  pages.get('/device', signedIn, device.show)
  pages.post('/device', signedInPost, device.confirm)
  pages.post('/device/decision', signedInPost, device.decide)
  pages.get('/settings/sessions', signedIn, settings.sessions)
  pages.post('/settings/sessions/revoke', signedInPost, settings.revokeOne)
  pages.post('/settings/sessions/revoke-all', signedInPost, settings.revokeAll)
  pages.post('/settings/sessions/end-sign-in', signedInPost, settings.endSignIn)
  pages.get('/settings/cli', signedIn, settings.cli)
  pages.post('/settings/cli', signedInPost, settings.mintCli)
  pages.get('/', () => redirect('/settings/sessions'))
  const asset = (body: string, type: string) => (c: Context) =>
    c.body(body, 200, { 'content-type': type, 'cache-control': 'public, max-age=3600', 'x-content-type-options': 'nosniff' })
  pages.get('/assets/evergreen.css', asset(STYLESHEET, 'text/css; charset=utf-8'))
  pages.get('/assets/copy.js', asset(COPY_SCRIPT, 'text/javascript; charset=utf-8'))
  return pages
}

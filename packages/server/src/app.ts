import { OAuthError } from '@evergreen/core'
import { Hono, type Context } from 'hono'
import { adminRouter } from './admin/router.js'
import type { Deps } from './deps.js'
import { corsHeadersFor, corsPreflightFor, CORS_ENDPOINTS } from './endpoints/cors-endpoints.js'
import { serverMetadata } from './endpoints/discovery.js'
import { livez, readyz } from './endpoints/health.js'
import { introspectionEndpoint } from './endpoints/introspection.js'
import { metricsEndpoint } from './endpoints/metrics.js'
import { REVOCATION_PATH, revocationEndpoint } from './endpoints/revocation.js'
import { tokenEndpoint } from './endpoints/token.js'
import { deviceAuthorizationEndpoint } from './endpoints/device-authorization.js'
import { registrationEndpoint } from './endpoints/registration.js'
import { userinfoEndpoint } from './endpoints/userinfo.js'
import { errorResponse } from './http/errors.js'
import { createAttemptLimit } from './http/attempt-limit.js'
import { createRateLimit, type RateLimit } from './http/rate-limit.js'
import { createRequestRecorder } from './observability/request-log.js'
import { pagesRouter } from './pages/router.js'

/**
 * The per-address limit of the OAuth endpoints (token, revocation, introspection, device
 * authorization): one counter for all of them, so the Node fast path for the token endpoint
 * (node/token-route.ts) must be handed the app's instance, not a second one.
 */
export function createOAuthRateLimit(deps: Deps): RateLimit {
  return createRateLimit(deps.settings.rateLimitToken, 'oauth', deps.limits, deps)
}

/**
 * The whole service as one Web-standard handler: `createApp(deps).fetch(request)`. The Node entry
 * (node/serve.ts) only adapts sockets to it.
 */
export function createApp(deps: Deps, oauthLimit: RateLimit = createOAuthRateLimit(deps)): Hono {
  const app = new Hono()
  // Per node while the shared backend is down: a generated admin key is 256 random bits (a
  // configured one at least 16 characters), so the limit only sheds noise, and operators need the
  // API most during an outage (to revoke, to disable).
  const adminLimit = createAttemptLimit({ points: deps.settings.rateLimitAdmin, durationSeconds: 60, name: 'admin-auth', whenDown: 'per-node' }, deps.limits, deps)

  const recordRequest = createRequestRecorder(deps)
  app.use('*', async function observe(c, next) {
    const started = performance.now()
    await next()
    // Mutate, never c.header() after next(): that makes Hono rebuild the response, and under
    // @hono/node-server's lightweight Response a rebuild drops headers appended after
    // construction (the pages' CSRF Set-Cookie was lost that way).
    c.res.headers.set('x-content-type-options', 'nosniff')
    recordRequest(c.req.routePath, c.req.method, c.req.path, c.res.status, (performance.now() - started) / 1000)
  })

  // CORS on exactly the public, cookie-less endpoints browser-based hosts call
  // (endpoints/cors-endpoints.ts);
  // registration only when it is open.
  for (const path of Object.keys(CORS_ENDPOINTS)) {
    if (path === '/oauth/register' && !deps.settings.dynamicRegistration) continue
    app.use(path, async function cors(c, next) {
      const preflight = corsPreflightFor(c.req.method, path, c.req.raw.headers)
      if (preflight) return preflight
      await next()
      // Mutated in place, as in observe() above.
      for (const [name, value] of corsHeadersFor(path) ?? []) c.res.headers.set(name, value)
    })
  }

  app.get('/livez', livez)
  app.get('/readyz', readyz(deps))
  app.get('/healthz', readyz(deps))
  // Public listener: only behind its bearer token. Without one, metrics are served on the
  // separate listener (node/serve.ts) or not at all.
  if (deps.settings.metricsToken !== undefined) app.get('/metrics', metricsEndpoint(deps, deps.settings.metricsToken))

  const metadata = (c: Context) => c.json(serverMetadata(deps), 200, { 'cache-control': 'public, max-age=300' })
  app.get('/.well-known/openid-configuration', metadata)
  app.get('/.well-known/oauth-authorization-server', metadata)
  // Short cache: a rotated key is published `activate_after` (default 600 s) before it signs.
  app.get('/.well-known/jwks.json', (c) => c.json(deps.keys.jwks(), 200, { 'cache-control': 'public, max-age=300' }))

  app.post('/oauth/token', tokenEndpoint(deps, oauthLimit))
  app.post(REVOCATION_PATH, revocationEndpoint(deps, oauthLimit))
  app.post('/oauth/introspect', introspectionEndpoint(deps, oauthLimit))
  for (const path of ['/oauth/token', '/oauth/revoke', '/oauth/introspect']) {
    app.on(['GET', 'PUT', 'PATCH', 'DELETE'], path, () =>
      errorResponse(new OAuthError('invalid_request', 'use POST', { status: 405, headers: { allow: 'POST' } })),
    )
  }

  app.post('/oauth/device_authorization', deviceAuthorizationEndpoint(deps, oauthLimit))
  if (deps.settings.dynamicRegistration) {
    // Per hour and per address; per node while the shared backend is down, like the token
    // endpoint's limit: a registration writes one row that expires unused.
    const registrationLimit = createAttemptLimit({ points: deps.settings.rateLimitRegistration, durationSeconds: 3600, name: 'registration', whenDown: 'per-node' }, deps.limits, deps)
    app.post('/oauth/register', registrationEndpoint(deps, registrationLimit))
  }
  app.on(['GET', 'POST'], '/userinfo', userinfoEndpoint(deps))

  app.route('/admin/v1', adminRouter(deps, adminLimit))

  app.route('/', pagesRouter(deps))

  app.notFound(() => errorResponse(new OAuthError('invalid_request', 'no such endpoint', { status: 404 })))
  app.onError((err) => errorResponse(err, deps.logger))
  return app
}

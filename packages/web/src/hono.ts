import type { MiddlewareHandler } from 'hono'
import type { EvergreenWebOptions } from './config.js'
import { createEvergreenWeb, type AuthResult, type EvergreenWeb, type WebSession } from './web.js'

declare module 'hono' {
  interface ContextVariableMap {
    /** The signed-in person, or null; set by `evergreen()`. */
    evergreen: WebSession | null
    /** The core's decision for this request; `requireSession()` reads it. */
    evergreenAuth: Exclude<AuthResult, { type: 'response' }>
    evergreenWeb: EvergreenWeb
  }
}

/**
 * Hono middleware: answers the auth routes (`/auth/login`, `/auth/callback`, `/auth/logout`,
 * `/auth/backchannel-logout`), sets `c.get('evergreen')` to the session or null, and adds the
 * session cookies (rotated, or deletions) to whatever response the route produces.
 *
 * @example
 * app.use(evergreen({ issuer, clientId, clientSecret, sessionSecret }))
 * app.get('/api/me', requireSession(), (c) => c.json({ sub: c.get('evergreen')!.sub }))
 */
export function evergreen(webOrOptions: EvergreenWeb | EvergreenWebOptions): MiddlewareHandler {
  const web = 'handle' in webOrOptions ? webOrOptions : createEvergreenWeb(webOrOptions)
  return async function evergreen(c, next) {
    const result = await web.handle(c.req.raw)
    if (result.type === 'response') return result.response
    c.set('evergreen', result.type === 'session' ? result.session : null)
    c.set('evergreenAuth', result)
    c.set('evergreenWeb', web)
    const lines = result.headers.getSetCookie()
    await next()
    if (lines.length === 0) return
    try {
      for (const line of lines) c.res.headers.append('set-cookie', line)
    } catch {
      // A Response.redirect() or a fetched Response has immutable headers: copy around the same body.
      c.res = new Response(c.res.body, c.res)
      for (const line of lines) c.res.headers.append('set-cookie', line)
    }
  }
}

/**
 * Refuses requests without a session: 401 JSON (503 while the token service is away) for API
 * requests, a redirect to login (or a retry page) for navigations. Use after {@link evergreen}.
 *
 * @example app.get('/dashboard', requireSession(), (c) => c.html(page(c.get('evergreen')!)))
 */
export function requireSession(): MiddlewareHandler {
  return async function requireSession(c, next) {
    const result = c.get('evergreenAuth')
    const web = c.get('evergreenWeb')
    if (!result || !web) throw new TypeError('requireSession() needs evergreen() mounted before it')
    if (result.type === 'session') return next()
    // evergreen() adds this request's cookie lines to the response on the way out.
    return web.loginRequired(c.req.raw, { ...result, headers: new Headers() })
  }
}

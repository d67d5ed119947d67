import type { IncomingMessage, ServerResponse } from 'node:http'
import type { EvergreenWebOptions } from './config.js'
import { appendCookies, sendWebResponse, toWebRequest } from './node.js'
import { createEvergreenWeb, type AuthResult, type EvergreenWeb, type WebSession } from './web.js'

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace -- Express's own extension point
  namespace Express {
    interface Request {
      /** The signed-in person, or null; set by `evergreen()`. */
      evergreen?: WebSession | null
      /** The core's decision for this request; `requireSession()` reads it. */
      evergreenAuth?: Exclude<AuthResult, { type: 'response' }> & { request: globalThis.Request }
    }
  }
}

type Req = IncomingMessage & { originalUrl?: string; body?: unknown; evergreen?: WebSession | null; evergreenAuth?: Exclude<AuthResult, { type: 'response' }> & { request: Request } }
type Next = (err?: unknown) => void

/** An Express/Connect middleware, with the core it runs on. */
export type ConnectMiddleware = ((req: Req, res: ServerResponse, next: Next) => void) & { web: EvergreenWeb }

/**
 * Express/Connect middleware: answers the auth routes, sets `req.evergreen` (the session or null)
 * and puts the session cookies on `res` BEFORE calling `next()`, so they reach the browser even
 * when the route streams, redirects or ends the response itself.
 *
 * @example
 * const auth = evergreen({ issuer, clientId, clientSecret, sessionSecret })
 * app.use(auth)
 * app.get('/api/me', requireSession(auth), (req, res) => res.json({ sub: req.evergreen!.sub }))
 */
export function evergreen(webOrOptions: EvergreenWeb | EvergreenWebOptions): ConnectMiddleware {
  const web = 'handle' in webOrOptions ? webOrOptions : createEvergreenWeb(webOrOptions)
  const middleware = function evergreen(req: Req, res: ServerResponse, next: Next): void {
    void (async () => {
      const request = await toWebRequest(req, web)
      const result = await web.handle(request)
      if (result.type === 'response') return sendWebResponse(res, result.response)
      appendCookies(res, result.headers.getSetCookie())
      req.evergreen = result.type === 'session' ? result.session : null
      req.evergreenAuth = { ...result, request }
      next()
    })().catch(next)
  }
  return Object.assign(middleware, { web })
}

/**
 * Refuses requests without a session: 401 JSON (or 503 while the token service is away) for API
 * requests, a redirect to login (or a retry page) for navigations. Mount after {@link evergreen}.
 *
 * @example app.get('/dashboard', requireSession(auth), render)
 */
export function requireSession(auth: { web: EvergreenWeb }): (req: Req, res: ServerResponse, next: Next) => void {
  return function requireSession(req, res, next) {
    const result = req.evergreenAuth
    if (!result) return next(new TypeError('requireSession() needs evergreen() mounted before it'))
    if (result.type === 'session') return next()
    // The cookies are already on `res`; the answer must not repeat them.
    sendWebResponse(res, auth.web.loginRequired(result.request, { ...result, headers: new Headers() })).catch(next)
  }
}

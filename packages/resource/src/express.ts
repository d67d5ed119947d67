import type { NextFunction, Request as ExpressRequest, RequestHandler, Response as ExpressResponse } from 'express'
import { toMcpAuthInfo, type McpAuthInfo } from './mcp.js'
import type { RequireOptions, ResourceServer, VerifiedToken } from './resource-server.js'

declare module 'express-serve-static-core' {
  interface Request {
    /** The verified token as the MCP SDK's `AuthInfo`, which its Node transport reads; set by `requireToken()`. */
    auth?: McpAuthInfo
    /** The verified access token; set by `requireToken()`. */
    evergreenToken?: VerifiedToken
  }
}

/**
 * Express/Connect middleware answering the protected resource metadata (both RFC 9728 forms).
 *
 * @example app.use(resourceMetadata(rs))
 */
export function resourceMetadata(rs: ResourceServer): RequestHandler {
  return function resourceMetadata(req, res, next) {
    const answer = rs.metadataResponse(toRequest(req))
    if (!answer) return next()
    void send(answer, res).catch(next)
  }
}

/**
 * Express/Connect middleware refusing requests without a valid access token. On success
 * `req.evergreenToken` is the verified token and `req.auth` the MCP SDK's `AuthInfo`, which
 * `StreamableHTTPServerTransport.handleRequest(req, res)` passes on to tool handlers. With the
 * resource's `cors` option it also answers preflights and sets the CORS headers on `res`.
 *
 * @example app.post('/mcp', requireToken(rs, { scopes: ['mcp'] }), (req, res) => transport.handleRequest(req, res, req.body))
 */
export function requireToken(rs: ResourceServer, options?: RequireOptions): RequestHandler {
  return function requireToken(req: ExpressRequest, res: ExpressResponse, next: NextFunction) {
    const request = toRequest(req)
    const preflight = rs.preflight(request)
    if (preflight) return void send(preflight, res).catch(next)
    rs.authenticate(request, options).then(
      async (auth) => {
        if (!auth.ok) return send(auth.response, res)
        // Set before next(): the route may stream or end the response itself.
        for (const [k, v] of rs.corsHeaders(request)) res.setHeader(k, v)
        req.evergreenToken = auth.token
        req.auth = toMcpAuthInfo(auth.token)
        next()
      },
      next,
    )
  }
}

// Only what verification reads: method, URL and headers. The body stays with Express.
function toRequest(req: ExpressRequest): Request {
  const headers = new Headers()
  for (const [k, v] of Object.entries(req.headers)) {
    if (typeof v === 'string') headers.set(k, v)
    else if (Array.isArray(v)) for (const one of v) headers.append(k, one)
  }
  return new Request(`${req.protocol}://${req.get('host') ?? 'localhost'}${req.originalUrl}`, { method: req.method, headers })
}

async function send(answer: Response, res: ExpressResponse): Promise<void> {
  res.status(answer.status)
  answer.headers.forEach((v, k) => res.setHeader(k, v))
  res.end(answer.body ? await answer.text() : undefined)
}

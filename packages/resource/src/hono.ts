import type { MiddlewareHandler } from 'hono'
import type { RequireOptions, ResourceServer, VerifiedToken } from './resource-server.js'

declare module 'hono' {
  interface ContextVariableMap {
    /** The verified access token; set by `requireToken()`. */
    evergreenToken: VerifiedToken
  }
}

/**
 * Hono middleware answering the protected resource metadata (both RFC 9728 well-known forms);
 * every other request passes through.
 *
 * @example app.use(resourceMetadata(rs))
 */
export function resourceMetadata(rs: ResourceServer): MiddlewareHandler {
  return async function resourceMetadata(c, next) {
    const res = rs.metadataResponse(c.req.raw)
    if (res) return res
    await next()
  }
}

/**
 * Hono middleware refusing requests without a valid access token (401/403 with the RFC 6750
 * challenge naming the metadata); on success `c.get('evergreenToken')` holds the verified token.
 * With the resource's `cors` option it also answers preflights and adds the CORS headers.
 *
 * @example app.post('/mcp', requireToken(rs, { scopes: ['mcp'] }), (c) => c.text(c.get('evergreenToken').subject))
 */
export function requireToken(rs: ResourceServer, options?: RequireOptions): MiddlewareHandler {
  return async function requireToken(c, next) {
    const preflight = rs.preflight(c.req.raw)
    if (preflight) return preflight
    const auth = await rs.authenticate(c.req.raw, options)
    if (!auth.ok) return auth.response
    c.set('evergreenToken', auth.token)
    await next()
    // withCors mutates the headers in place; only a response with immutable headers (a fetched
    // one) comes back as a copy. Reassigning c.res otherwise would make Hono rebuild the response.
    const res = rs.withCors(c.req.raw, c.res)
    if (res !== c.res) c.res = res
  }
}

import { CORS_RESPONSE_HEADERS, corsPreflight, type CorsMethod } from '../http/cors.js'
import { REVOCATION_PATH } from './revocation.js'

/**
 * The endpoints a browser on another origin may call — an MCP host such as the MCP Inspector, a
 * single-page app — with their methods. All are public and cookie-less: discovery and the JWKS
 * are documents anyone may read; the token, revocation and registration endpoints authenticate
 * the client in the request itself (PKCE, a refresh token, `client_id`, a secret, a DPoP proof),
 * never with a cookie, so opening them to every origin lets a page send nothing it could not send
 * from a server.
 *
 * Deliberately absent: the pages, `/authorize`, `/login`, `/settings` and end-session (they run on
 * the browser's session cookie, which no other origin may drive); the admin API (an operator
 * tool); introspection (RFC 7662 §2.1: for resource servers authenticating with their own
 * credentials, server to server — a page would have to hold that secret); device authorization
 * and userinfo (no browser host we support calls them).
 *
 * @see https://fetch.spec.whatwg.org/#http-cors-protocol
 */
export const CORS_ENDPOINTS: Readonly<Record<string, readonly CorsMethod[]>> = {
  '/.well-known/openid-configuration': ['GET'],
  '/.well-known/oauth-authorization-server': ['GET'],
  '/.well-known/jwks.json': ['GET'],
  '/oauth/token': ['POST'],
  [REVOCATION_PATH]: ['POST'],
  '/oauth/register': ['POST'],
}

const methodsOf = (path: string) => (Object.hasOwn(CORS_ENDPOINTS, path) ? CORS_ENDPOINTS[path] : undefined)

/**
 * The CORS headers for an actual response on `path`, or undefined when `path` is not open. The
 * one function the Hono app and any direct `node:http` path for the same endpoints both call.
 *
 * @example for (const [k, v] of corsHeadersFor('/oauth/token') ?? []) res.setHeader(k, v)
 */
export function corsHeadersFor(path: string): readonly (readonly [string, string])[] | undefined {
  return methodsOf(path) ? CORS_RESPONSE_HEADERS : undefined
}

/**
 * The preflight answer for `path`, or undefined when `path` is not open or the request is not a
 * preflight.
 *
 * @example const preflight = corsPreflightFor(req.method, url.pathname, req.headers); if (preflight) return preflight
 */
export function corsPreflightFor(method: string, path: string, headers: { get(name: string): string | null }): Response | undefined {
  const methods = methodsOf(path)
  return methods ? corsPreflight(method, headers, methods) : undefined
}

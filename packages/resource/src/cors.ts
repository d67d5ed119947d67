/**
 * CORS for a resource's protected routes, for browser-based clients on other origins (the MCP
 * Inspector and other browser MCP hosts). Off unless configured, and then only for the listed
 * origins: the token travels in the Authorization header, never in a cookie, so no credentials
 * mode is involved, but an operator still decides which web apps may drive the API.
 */

/** The `cors` option of `createResourceServer`. */
export interface CorsOptions {
  /**
   * Origins allowed to call the protected routes from a browser, each a serialized origin such as
   * `http://localhost:6274` (scheme, host, port; no path). Compared exactly with `Origin`.
   */
  origins: readonly string[]
  /** Methods allowed on the protected routes. Default `GET, POST, DELETE` (MCP Streamable HTTP). */
  methods?: readonly string[]
  /** Request headers a page may send. Default {@link DEFAULT_CORS_ALLOW_HEADERS}. */
  allowHeaders?: readonly string[]
  /** Response headers a page may read. Default {@link DEFAULT_CORS_EXPOSE_HEADERS}. */
  exposeHeaders?: readonly string[]
  /** How long a browser may cache a preflight, in seconds. Default 600. */
  maxAgeSeconds?: number
}

/**
 * `authorization` and `dpop` carry the token and its proof; `content-type` a JSON body; the
 * `mcp-*` and `last-event-id` headers are what an MCP client sends on Streamable HTTP.
 */
export const DEFAULT_CORS_ALLOW_HEADERS = ['authorization', 'content-type', 'dpop', 'mcp-protocol-version', 'mcp-session-id', 'last-event-id'] as const

/**
 * `WWW-Authenticate` must be readable, or a browser client cannot find `resource_metadata` in a
 * 401 and never starts authorization; `Mcp-Session-Id` is how a stateful MCP server names its session.
 */
export const DEFAULT_CORS_EXPOSE_HEADERS = ['WWW-Authenticate', 'Mcp-Session-Id'] as const

/** The CORS behaviour of one resource. */
export interface Cors {
  /** The answer to a preflight (`OPTIONS` with `Access-Control-Request-Method`), else undefined. */
  preflight(req: Request): Response | undefined
  /** The headers an actual response to `req` carries (`Vary: Origin` always; the rest for an allowed origin). */
  headers(req: Request): [string, string][]
  /** `response` with {@link Cors.headers}; a response with immutable headers is copied around the same body. */
  apply(req: Request, response: Response): Response
}

/**
 * Builds the CORS behaviour for `options`; throws a `TypeError` (`ERR_INVALID_ARG_VALUE`) for an
 * entry that is not a serialized origin, so `https://app.example/` or `*` cannot slip in.
 *
 * @example const cors = createCors({ origins: ['http://localhost:6274'] })
 * @see https://fetch.spec.whatwg.org/#http-cors-protocol
 */
export function createCors(options: CorsOptions): Cors {
  const origins = new Set<string>()
  for (const origin of options.origins ?? []) {
    if (typeof origin !== 'string' || !URL.canParse(origin) || new URL(origin).origin !== origin) {
      throw Object.assign(new TypeError(`cors.origins: ${JSON.stringify(origin)} is not an origin like https://app.example`), { code: 'ERR_INVALID_ARG_VALUE' })
    }
    origins.add(origin)
  }
  const maxAge = options.maxAgeSeconds ?? 600
  if (!Number.isInteger(maxAge) || maxAge < 0) throw Object.assign(new TypeError('cors.maxAgeSeconds must be a non-negative integer'), { code: 'ERR_INVALID_ARG_VALUE' })
  const methods = (options.methods ?? ['GET', 'POST', 'DELETE']).join(', ')
  const allowHeaders = (options.allowHeaders ?? DEFAULT_CORS_ALLOW_HEADERS).join(', ')
  const exposeHeaders = (options.exposeHeaders ?? DEFAULT_CORS_EXPOSE_HEADERS).join(', ')

  const allowed = (req: Request) => {
    const origin = req.headers.get('origin')
    return origin !== null && origins.has(origin) ? origin : undefined
  }

  function headers(req: Request): [string, string][] {
    // The answer depends on Origin whenever CORS is on, so a shared cache must key on it.
    const origin = allowed(req)
    const out: [string, string][] = [['vary', 'Origin']]
    if (origin) out.push(['access-control-allow-origin', origin], ['access-control-expose-headers', exposeHeaders])
    return out
  }

  return {
    preflight(req) {
      if (req.method !== 'OPTIONS' || req.headers.get('access-control-request-method') === null) return undefined
      const origin = allowed(req)
      // A refusal without CORS headers: the browser blocks the request, and the status tells a
      // developer looking at the network panel why.
      if (!origin) return new Response(null, { status: 403, headers: { vary: 'Origin', 'cache-control': 'no-store' } })
      return new Response(null, {
        status: 204,
        headers: {
          vary: 'Origin',
          'access-control-allow-origin': origin,
          'access-control-allow-methods': methods,
          'access-control-allow-headers': allowHeaders,
          'access-control-max-age': String(maxAge),
          'cache-control': 'no-store',
        },
      })
    },
    headers,
    apply(req, response) {
      const extra = headers(req)
      const set = (h: Headers) => {
        for (const [k, v] of extra) {
          if (k !== 'vary') h.set(k, v)
          else if (!/(^|,)\s*origin\s*(,|$)/i.test(h.get('vary') ?? '')) h.append(k, v)
        }
      }
      try {
        set(response.headers)
        return response
      } catch {
        const copy = new Response(response.body, response)
        set(copy.headers)
        return copy
      }
    },
  }
}

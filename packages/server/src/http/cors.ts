/**
 * The CORS protocol for endpoints open to every origin without credentials: the preflight answer
 * and the headers of an actual response. Which endpoints are open is decided in
 * `endpoints/cors-endpoints.ts`; this module knows no paths.
 *
 * @see https://fetch.spec.whatwg.org/#http-cors-protocol
 */

/** The methods an open endpoint takes (HEAD rides along with GET). */
export type CorsMethod = 'GET' | 'POST'

// `authorization`: client_secret_basic, and a DPoP-bound token's revocation; `content-type`: a
// JSON body (registration) is not a CORS-safelisted type; `dpop`: RFC 9449 proofs. Named one by
// one: the `*` wildcard never covers `authorization`, and never applies to a credentialed request.
const ALLOW_HEADERS = 'authorization, content-type, dpop'
// A page reads only the CORS-safelisted response headers unless more are exposed: the nonce to
// retry a DPoP request with (RFC 9449 §8), the challenge of a 401 (RFC 6750 §3), and how long to
// back off after a 429 or 503.
const EXPOSE_HEADERS = 'DPoP-Nonce, WWW-Authenticate, Retry-After'
// Chromium caps a cached preflight at 2 hours and Firefox at 24; ten minutes bounds how long a
// change here takes to reach browsers, and costs one OPTIONS per endpoint per ten minutes.
const MAX_AGE_SECONDS = '600'

/**
 * The headers an actual (non-preflight) response of an open endpoint carries:
 * `Access-Control-Allow-Origin: *` and the exposed headers, never `Allow-Credentials` — these
 * endpoints ignore cookies, and `*` keeps one cached discovery document valid for every origin
 * (no `Vary: Origin`).
 *
 * @example for (const [k, v] of CORS_RESPONSE_HEADERS) res.setHeader(k, v)
 * @see https://fetch.spec.whatwg.org/#http-responses
 */
export const CORS_RESPONSE_HEADERS: readonly (readonly [string, string])[] = [
  ['access-control-allow-origin', '*'],
  ['access-control-expose-headers', EXPOSE_HEADERS],
]

/**
 * The answer to a CORS preflight — `OPTIONS` with `Access-Control-Request-Method` — for an
 * endpoint taking `methods`: 204 with those methods and the request headers allowed. Undefined
 * when the request is not a preflight. A method the endpoint does not take is not listed, so the
 * browser refuses the actual request by itself.
 *
 * @example const preflight = corsPreflight(request.method, request.headers, ['POST']); if (preflight) return preflight
 * @see https://fetch.spec.whatwg.org/#cors-preflight-fetch
 */
export function corsPreflight(method: string, headers: { get(name: string): string | null }, methods: readonly CorsMethod[]): Response | undefined {
  if (method !== 'OPTIONS' || headers.get('access-control-request-method') === null) return undefined
  const allowed = methods.includes('GET') ? [...methods, 'HEAD'] : [...methods]
  return new Response(null, {
    status: 204,
    headers: {
      'access-control-allow-origin': '*',
      'access-control-allow-methods': allowed.join(', '),
      'access-control-allow-headers': ALLOW_HEADERS,
      'access-control-max-age': MAX_AGE_SECONDS,
      'cache-control': 'no-store',
    },
  })
}

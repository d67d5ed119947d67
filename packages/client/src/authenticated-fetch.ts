import { sendWithDpopNonceRetry, type DpopHandle } from './dpop.js'
import { AuthError } from './errors.js'

export interface AuthenticatedFetchOptions {
  fetch: typeof fetch
  /** The access token to send: good for at least the leeway. */
  getToken(): Promise<string>
  /** False when there is nothing to renew (EVERGREEN_TOKEN, an access-only session): the 401 goes back to the caller. */
  canRenew(): Promise<boolean>
  /** A fresh token after the API refused `refused` (unless another caller already replaced it). */
  renew(refused: string): Promise<string>
  /**
   * The proof handle when `token` is DPoP-bound (`token_type: DPoP`): the request then carries
   * `Authorization: DPoP <token>` and a proof with `ath` (RFC 9449 §7). Undefined, or absent: Bearer.
   */
  dpopFor?(token: string): Promise<DpopHandle | undefined>
}

/**
 * `fetch` with `Authorization: Bearer` — or, for a DPoP-bound access token, `Authorization: DPoP`
 * with a proof of the session's key over the method, URL and token (RFC 9449 §7); a resource
 * server's nonce challenge (401, `WWW-Authenticate: DPoP error="use_dpop_nonce"`, §9) is answered
 * once. Any other 401 means the token was refused before its time (revoked key, server clock
 * ahead): it is renewed once and a replayable request retried once. A second 401 — or one to a
 * request whose body was a stream — goes back to the caller.
 *
 * @example const api = createAuthenticatedFetch({ fetch, getToken, canRenew, renew }); await api('https://api.example.com/me')
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export function createAuthenticatedFetch(options: AuthenticatedFetchOptions): (input: RequestInfo | URL, init?: RequestInit) => Promise<Response> {
  async function attempt(input: RequestInfo | URL, init: RequestInit, token: string): Promise<Response> {
    const dpop = await options.dpopFor?.(token)
    if (!dpop) return options.fetch(input, withAuthorization(input, init, `Bearer ${token}`))
    const url = requestUrl(input)
    const method = (init.method ?? (typeof Request !== 'undefined' && input instanceof Request ? input.method : 'GET')).toUpperCase()
    const send = async () => options.fetch(input, withAuthorization(input, init, `DPoP ${token}`, await dpop.proof(method, url, token)))
    // A nonce challenge needs the request sent again, which only a replayable body allows.
    return sendWithDpopNonceRetry(isReplayable(input, init) ? dpop : undefined, url, send).then((res) => (dpop.observe(url, res), res))
  }
  return async function authenticatedFetch(input, init = {}) {
    const token = await options.getToken()
    const first = await attempt(input, init, token)
    if (first.status !== 401 || !isReplayable(input, init)) return first
    if (!(await options.canRenew())) return first
    await first.body?.cancel()
    const fresh = await options.renew(token)
    return attempt(input, init, fresh)
  }
}

/**
 * Throws `AuthError('unauthorized')` for a 401/403 response, for callers that want the API's
 * refusal (after the fetch wrapper's one retry) as an exception.
 *
 * @example const res = assertAuthorized(await client.fetch(url))
 */
export function assertAuthorized(response: Response): Response {
  if (response.status === 401 || response.status === 403) {
    throw new AuthError('unauthorized', `the API refused the access token (HTTP ${response.status})`)
  }
  return response
}

/**
 * Whether a request can be sent twice. A stream (a `ReadableStream` body, or a `Request` that has
 * a body) is consumed by the first attempt; strings, URLSearchParams, Blob, FormData and buffers
 * can be sent again.
 */
export function isReplayable(input: RequestInfo | URL, init: RequestInit = {}): boolean {
  const body = init.body
  if (body === undefined) return !(typeof Request !== 'undefined' && input instanceof Request && input.body !== null)
  if (body === null || typeof body === 'string') return true
  if (body instanceof URLSearchParams || body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return true
  if (typeof Blob !== 'undefined' && body instanceof Blob) return true
  if (typeof FormData !== 'undefined' && body instanceof FormData) return true
  return false
}

function withAuthorization(input: RequestInfo | URL, init: RequestInit, authorization: string, proof?: string): RequestInit {
  const headers = new Headers(init.headers ?? (typeof Request !== 'undefined' && input instanceof Request ? input.headers : undefined))
  headers.set('authorization', authorization)
  if (proof !== undefined) headers.set('dpop', proof)
  return { ...init, headers }
}

function requestUrl(input: RequestInfo | URL): string {
  if (typeof input === 'string') return new URL(input).href
  if (input instanceof URL) return input.href
  return input.url
}

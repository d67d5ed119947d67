import { AuthError } from './errors.js'

export interface AuthenticatedFetchOptions {
  fetch: typeof fetch
  /** The access token to send: good for at least the leeway. */
  getToken(): Promise<string>
  /** False when there is nothing to renew (EVERGREEN_TOKEN, an access-only session): the 401 goes back to the caller. */
  canRenew(): Promise<boolean>
  /** A fresh token after the API refused `refused` (unless another caller already replaced it). */
  renew(refused: string): Promise<string>
}

/**
 * `fetch` with `Authorization: Bearer`. A 401 means the token was refused before its time
 * (revoked key, server clock ahead): it is renewed once and a replayable request retried once. A
 * second 401 — or one to a request whose body was a stream — goes back to the caller.
 *
 * @example const api = createAuthenticatedFetch({ fetch, getToken, canRenew, renew }); await api('https://api.example.com/me')
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export function createAuthenticatedFetch(options: AuthenticatedFetchOptions): (input: RequestInfo | URL, init?: RequestInit) => Promise<Response> {
  return async function authenticatedFetch(input, init = {}) {
    const token = await options.getToken()
    const first = await options.fetch(input, withBearer(input, init, token))
    if (first.status !== 401 || !isReplayable(input, init)) return first
    if (!(await options.canRenew())) return first
    await first.body?.cancel()
    const fresh = await options.renew(token)
    return options.fetch(input, withBearer(input, init, fresh))
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

function withBearer(input: RequestInfo | URL, init: RequestInit, token: string): RequestInit {
  const headers = new Headers(init.headers ?? (typeof Request !== 'undefined' && input instanceof Request ? input.headers : undefined))
  headers.set('authorization', `Bearer ${token}`)
  return { ...init, headers }
}

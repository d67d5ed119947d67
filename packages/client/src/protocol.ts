// The one module of core this needs, not core's index (which loads all of it): this is on
// `evergreen token`'s start-up path (session-entry.ts).
import { GRANT_TYPES, REFRESH_TOKEN_HEADER, TOKEN_TYPE_URIS, type TokenResponse } from '@evergreen/core/token-response'
import type { OAuthErrorBody } from '@evergreen/core'
import type { DpopHandle } from './dpop.js'
import { OAuthResponseError, ProviderError } from './errors.js'

/**
 * The parts of the authorization-server metadata (RFC 8414 §2) the SDK uses. Wire names, not
 * translated.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-2
 */
export interface AuthorizationServer {
  issuer: string
  token_endpoint: string
  revocation_endpoint?: string
  /** Evergreen extension: the server also takes the refresh token in this header. */
  evergreen_refresh_token_header?: string
  /** RFC 9449 §5.1: the JWS algorithms the server accepts in DPoP proofs; absent when it does not do DPoP. */
  dpop_signing_alg_values_supported?: string[]
  [parameter: string]: unknown
}

/** Options every request function takes: an injected `fetch` (STYLE §5), an abort signal, a timeout. */
export interface HttpOptions {
  fetch?: typeof fetch
  signal?: AbortSignal
  /** Per-request timeout; default 15 s, so a hung token service cannot hold the refresh lock forever. */
  timeoutMs?: number
}

const DEFAULT_TIMEOUT_MS = 15_000

/**
 * The SDK's one production `fetch`. Looked up at call time, so a test or polyfill that replaces
 * globalThis.fetch later still counts; one function for the whole SDK, so every client in a process
 * shares one discovery cache entry per issuer (the cache is keyed by fetch implementation).
 */
export const defaultFetch: typeof fetch = (input, init) => globalThis.fetch(input, init)

/**
 * Fetches the issuer's metadata from `/.well-known/openid-configuration`, once per process and
 * fetch implementation (a failure is not cached). The metadata's `issuer` must equal the one asked
 * for (RFC 8414 §3.3), so a misconfigured proxy cannot redirect tokens elsewhere.
 *
 * @throws ProviderError when the issuer cannot be reached or answers something else
 * @example const as = await discover('https://auth.example.com')
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3
 */
export function discover(issuer: string, fetchImpl: typeof fetch = defaultFetch, options: Omit<HttpOptions, 'fetch'> = {}): Promise<AuthorizationServer> {
  let cache = discoveryCache.get(fetchImpl)
  if (!cache) discoveryCache.set(fetchImpl, (cache = new Map()))
  const hit = cache.get(issuer)
  if (hit) return hit
  const pending = fetchMetadata(issuer, { ...options, fetch: fetchImpl })
  cache.set(issuer, pending)
  pending.catch(() => cache.delete(issuer))
  return pending
}

const discoveryCache = new WeakMap<typeof fetch, Map<string, Promise<AuthorizationServer>>>()

async function fetchMetadata(issuer: string, options: HttpOptions): Promise<AuthorizationServer> {
  const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`
  const res = await send(url, { method: 'GET', headers: { accept: 'application/json' } }, options)
  if (!res.ok) {
    await res.body?.cancel()
    throw new ProviderError(
      res.status >= 500 || res.status === 429 ? 'PROVIDER_UNAVAILABLE' : 'PROVIDER_INVALID_RESPONSE',
      `discovery at ${url} answered HTTP ${res.status}`,
      { status: res.status },
    )
  }
  const body = await readJson(res)
  if (!isObject(body) || typeof body.token_endpoint !== 'string') {
    throw new ProviderError('PROVIDER_INVALID_RESPONSE', `discovery at ${url} did not return authorization-server metadata`, { status: res.status })
  }
  if (body.issuer !== issuer) {
    throw new ProviderError('PROVIDER_INVALID_RESPONSE', `discovery at ${url} names another issuer (${String(body.issuer)})`, { status: res.status })
  }
  return body as AuthorizationServer
}

/** What the token-endpoint requests take besides the HTTP options: the DPoP handle of the session's key. */
export interface TokenRequestOptions extends HttpOptions {
  /** Proves possession of the session's key (RFC 9449 §5): a `DPoP` header on the request. */
  dpop?: DpopHandle | undefined
}

/**
 * Sends a refresh-token grant (RFC 6749 §6) as a public client. When the server advertises
 * Evergreen's header, the token goes there instead of the body, because proxies redact headers by
 * name but log bodies whole. With `options.dpop` it carries a proof for the token endpoint (RFC
 * 9449 §5); a `use_dpop_nonce` answer is the caller's to retry (see `sendWithDpopNonceRetry`).
 *
 * @throws ProviderError when the request could not be sent (never for an HTTP error status)
 * @example const tokens = await processTokenResponse(await refreshTokenRequest(as, clientId, rt))
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 */
export async function refreshTokenRequest(as: AuthorizationServer, clientId: string, refreshToken: string, options: TokenRequestOptions = {}): Promise<Response> {
  const body = new URLSearchParams({ grant_type: GRANT_TYPES.refreshToken, client_id: clientId })
  const headers = new Headers({ 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' })
  if (typeof as.evergreen_refresh_token_header === 'string') headers.set(REFRESH_TOKEN_HEADER, refreshToken)
  else body.set('refresh_token', refreshToken)
  if (options.dpop) headers.set('dpop', await options.dpop.proof('POST', as.token_endpoint))
  return send(as.token_endpoint, { method: 'POST', headers, body }, options)
}

/**
 * Checks a token-endpoint response. A 2xx must be a usable token response; an OAuth error body
 * becomes {@link OAuthResponseError}; 5xx, 429 and anything that is not OAuth become
 * {@link ProviderError}, so a flaky proxy can never look like a dead session. `token_type` must be
 * `Bearer`, or `DPoP` when the request carried a proof (`options.dpop`, RFC 9449 §5).
 *
 * @throws OAuthResponseError | ProviderError
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1
 */
export async function processTokenResponse(response: Response, options: { dpop?: boolean } = {}): Promise<TokenResponse> {
  if (!response.ok) throw await errorFromResponse(response, 'token endpoint')
  const body = await readJson(response)
  if (
    !isObject(body) ||
    typeof body.access_token !== 'string' ||
    body.access_token.length === 0 ||
    typeof body.token_type !== 'string' ||
    !(body.token_type.toLowerCase() === 'bearer' || (options.dpop === true && body.token_type.toLowerCase() === 'dpop')) ||
    typeof body.expires_in !== 'number' ||
    !Number.isFinite(body.expires_in) ||
    body.expires_in < 0 ||
    (body.refresh_token !== undefined && typeof body.refresh_token !== 'string') ||
    (body.refresh_token_expires_in !== undefined && typeof body.refresh_token_expires_in !== 'number') ||
    (body.scope !== undefined && typeof body.scope !== 'string')
  ) {
    throw new ProviderError('PROVIDER_INVALID_RESPONSE', 'the token endpoint returned a response that is not a bearer token response', { status: response.status })
  }
  // RFC 6749 §7.1: token_type is case-insensitive; keep one spelling in storage.
  return { ...(body as unknown as TokenResponse), token_type: body.token_type.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer' }
}

/** What a delegation asks for: RFC 8693 §2.1 parameters plus Evergreen's `refresh_token_ttl`. */
export interface TokenExchangeParameters {
  /** The person's current access token. */
  subject_token: string
  scope?: string
  audience?: string | readonly string[]
  resource?: string | readonly string[]
  /** Seconds the delegated refresh token may live unused. */
  refresh_token_ttl?: number
  /** Evergreen's label for the delegated session, shown in session lists. */
  session_name?: string
  /**
   * RFC 7638 thumbprint of the agent's DPoP key (RFC 9449 §10's `dpop_jkt`, at the token
   * endpoint): the delegated session is bound to it. Without it the delegated session is unbound,
   * whatever key proves the subject token.
   */
  dpop_jkt?: string
}

/**
 * Sends a token exchange (RFC 8693 §2.1) asking for a refresh token that acts for the subject
 * token's owner, as the public client `clientId` (`token_endpoint_auth_method` none). `audience`
 * and `resource` may repeat (§2.1). With `options.dpop` it carries a proof of the subject token's
 * key, which a DPoP-bound subject token needs (RFC 9449); that proof binds nothing new.
 *
 * @throws ProviderError when the request could not be sent
 * @example const tokens = await processTokenExchangeResponse(await tokenExchangeRequest(as, 'evergreen-cli', { subject_token: at, scope: 'read' }))
 * @see https://www.rfc-editor.org/rfc/rfc8693#section-2.1
 */
export async function tokenExchangeRequest(as: AuthorizationServer, clientId: string, parameters: TokenExchangeParameters, options: TokenRequestOptions = {}): Promise<Response> {
  const body = new URLSearchParams({
    grant_type: GRANT_TYPES.tokenExchange,
    client_id: clientId,
    subject_token: parameters.subject_token,
    subject_token_type: TOKEN_TYPE_URIS.accessToken,
    requested_token_type: TOKEN_TYPE_URIS.refreshToken,
  })
  if (parameters.scope !== undefined) body.set('scope', parameters.scope)
  for (const a of [parameters.audience ?? []].flat()) body.append('audience', a)
  for (const r of [parameters.resource ?? []].flat()) body.append('resource', r)
  if (parameters.refresh_token_ttl !== undefined) body.set('refresh_token_ttl', String(parameters.refresh_token_ttl))
  if (parameters.session_name !== undefined) body.set('session_name', parameters.session_name)
  if (parameters.dpop_jkt !== undefined) body.set('dpop_jkt', parameters.dpop_jkt)
  const headers = new Headers({ 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' })
  if (options.dpop) headers.set('dpop', await options.dpop.proof('POST', as.token_endpoint))
  return send(as.token_endpoint, { method: 'POST', headers, body }, options)
}

/**
 * Checks a token-exchange response: a token response (as {@link processTokenResponse}) whose
 * `issued_token_type` is the refresh-token URI and which carries the refresh token (§2.2.1).
 * `options.dpop`: the request named a `dpop_jkt`, so the access token may be DPoP-bound.
 *
 * @throws OAuthResponseError | ProviderError
 * @see https://www.rfc-editor.org/rfc/rfc8693#section-2.2.1
 */
export async function processTokenExchangeResponse(response: Response, options: { dpop?: boolean } = {}): Promise<TokenResponse & { refresh_token: string; issued_token_type: string }> {
  const tokens = await processTokenResponse(response, options)
  // RFC 8693 §2.2.1: issued_token_type names what the access_token field holds (Evergreen sends the
  // access-token type, the delegated session's refresh token beside it), so the refresh token itself
  // is what must be there.
  if (typeof tokens.issued_token_type !== 'string' || typeof tokens.refresh_token !== 'string' || tokens.refresh_token.length === 0) {
    throw new ProviderError('PROVIDER_INVALID_RESPONSE', 'the token exchange did not issue a refresh token', { status: response.status })
  }
  return tokens as TokenResponse & { refresh_token: string; issued_token_type: string }
}

/**
 * Sends a revocation request (RFC 7009 §2.1). Revoking a refresh token ends its whole session.
 * With `options.dpop`, it carries a proof of the token's key (htu = the revocation endpoint).
 *
 * @example await processRevocationResponse(await revocationRequest(as, clientId, rt))
 * @see https://www.rfc-editor.org/rfc/rfc7009#section-2.1
 */
export async function revocationRequest(
  as: AuthorizationServer,
  clientId: string,
  token: string,
  options: TokenRequestOptions & { tokenTypeHint?: 'refresh_token' | 'access_token' } = {},
): Promise<Response> {
  if (typeof as.revocation_endpoint !== 'string') {
    throw new ProviderError('PROVIDER_INVALID_RESPONSE', `${as.issuer} does not advertise a revocation_endpoint`)
  }
  const body = new URLSearchParams({ token, client_id: clientId })
  if (options.tokenTypeHint) body.set('token_type_hint', options.tokenTypeHint)
  const headers = new Headers({ 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' })
  // A DPoP-bound token is revoked only by its key holder, or a copy could end the owner's session.
  if (options.dpop) headers.set('dpop', await options.dpop.proof('POST', as.revocation_endpoint))
  return send(as.revocation_endpoint, { method: 'POST', headers, body }, options)
}

/**
 * Checks a revocation response: 200 is success, whether or not the token was known (RFC 7009 §2.2).
 *
 * @throws OAuthResponseError | ProviderError
 */
export async function processRevocationResponse(response: Response): Promise<void> {
  if (!response.ok) throw await errorFromResponse(response, 'revocation endpoint')
  await response.body?.cancel()
}

async function errorFromResponse(response: Response, what: string): Promise<Error> {
  const text = await response.text().catch(() => '')
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    body = undefined
  }
  return errorFromBody(response, text, body, what)
}

/**
 * The error a non-2xx answer stands for, once its body has been read: 5xx, 429 and
 * `temporarily_unavailable` are {@link ProviderError} (try later, whatever the body says), an OAuth
 * error body is {@link OAuthResponseError}, anything else is an invalid provider response.
 * Shared by every request/process pair in the SDK.
 */
export function errorFromBody(response: Response, text: string, body: unknown, what: string): Error {
  const oauth = isObject(body) && typeof body.error === 'string' ? (body as unknown as OAuthErrorBody) : undefined
  if (response.status >= 500 || response.status === 429 || oauth?.error === 'temporarily_unavailable') {
    return new ProviderError('PROVIDER_UNAVAILABLE', `the ${what} is unavailable (HTTP ${response.status})`, { status: response.status })
  }
  if (oauth) {
    // The body was consumed above; hand out a Response with the same status, headers and text.
    const copy = new Response(text, { status: response.status, statusText: response.statusText, headers: response.headers })
    return new OAuthResponseError(
      {
        error: oauth.error,
        ...(typeof oauth.error_description === 'string' ? { error_description: oauth.error_description } : {}),
        ...(typeof oauth.error_reason === 'string' ? { error_reason: oauth.error_reason } : {}),
      },
      copy,
    )
  }
  return new ProviderError('PROVIDER_INVALID_RESPONSE', `the ${what} answered HTTP ${response.status} without an OAuth error`, { status: response.status })
}

/** Sends one request to the token service with the SDK's timeout, abort and no-redirect rules. */
export async function send(url: string, init: RequestInit, options: HttpOptions): Promise<Response> {
  const fetchImpl = options.fetch ?? defaultFetch
  const timeout = AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS)
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout
  try {
    return await fetchImpl(url, { ...init, signal, redirect: 'manual' })
  } catch (err) {
    // The caller's own abort is not a provider failure: hand it back as it came.
    if (options.signal?.aborted) throw options.signal.reason
    const why = timeout.aborted ? `no answer within ${options.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms` : 'could not connect'
    throw new ProviderError('PROVIDER_UNAVAILABLE', `token service unreachable at ${new URL(url).origin}: ${why}`, { cause: err })
  }
}

async function readJson(res: Response): Promise<unknown> {
  try {
    return await res.json()
  } catch (err) {
    throw new ProviderError('PROVIDER_INVALID_RESPONSE', `expected JSON from ${res.url || 'the token service'}`, { cause: err, status: res.status })
  }
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}


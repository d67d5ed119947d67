import { GRANT_TYPES, type TokenResponse } from '@evergreen/core'
import { DeviceLoginError, OAuthResponseError, ProviderError } from './errors.js'
import { createDpopHandle, sendWithDpopNonceRetry, newDpopKey, wantsDpop, type DpopMode } from './dpop.js'
import { defaultFetch, discover, errorFromBody, isObject, processTokenResponse, send, type AuthorizationServer, type HttpOptions, type TokenRequestOptions } from './protocol.js'
import type { DpopKeyRecord } from './session.js'

/**
 * A device authorization response (RFC 8628 §3.2). Wire names, not translated.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8628#section-3.2
 */
export interface DeviceAuthorizationResponse {
  device_code: string
  user_code: string
  verification_uri: string
  verification_uri_complete?: string
  /** Seconds until the device code expires. */
  expires_in: number
  /** Seconds to wait between polls; RFC 8628 says 5 when absent. */
  interval?: number
}

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>

export interface StartDeviceLoginOptions {
  issuer: string
  clientId: string
  /** Space-separated scopes; the server's default for the client when absent. */
  scope?: string
  /** Requested refresh-token (idle) lifetime in seconds; the server caps it. */
  refreshTokenTtl?: number
  fetch?: typeof fetch
  /** Injected so tests need not wait in real time. Default: a timer. */
  sleep?: Sleep
  /** The clock, epoch milliseconds. */
  now?: () => number
  /** Per-request timeout. Default 15 s. */
  timeoutMs?: number
  /** Aborts the device authorization request itself (wait() takes its own signal). */
  signal?: AbortSignal
  /**
   * Consecutive polls that may fail with an unreachable token service before giving up; each one
   * doubles the wait (RFC 8628 §3.5). Default 3.
   */
  maxUnavailablePolls?: number
  /**
   * Bind the new session to a DPoP key (RFC 9449): `auto` when the server offers ES256 proofs,
   * `true` always (an error if it does not), `false` never. Default `false`. The key is
   * `DeviceLogin.dpop_key`; store it with the tokens (`loginWithTokenResponse({ dpopKey })`).
   */
  dpop?: DpopMode
}

/** A started device login: what to show the person, and `wait()` for the tokens. */
export interface DeviceLogin {
  user_code: string
  verification_uri: string
  /** The verification URI with the code in it, when the server offers one (for a link or QR code). */
  verification_uri_complete: string | undefined
  /** Seconds the code was valid for when it was issued. */
  expires_in: number
  /** Seconds between polls, as the server asked (it grows by 5 on each slow_down). */
  interval: number
  /** When the code expires, epoch ms on this machine's clock. */
  expires_at: number
  /**
   * When the last poll was sent, epoch ms; once `wait()` resolves, the poll that received the
   * tokens — their expiries count from here (pass it as `receivedAt` to `loginWithTokenResponse`).
   * Undefined before the first poll.
   */
  polled_at: number | undefined
  /**
   * The DPoP key the session is bound to (the device code is bound to it and every poll proves
   * it), or undefined for a Bearer login. Pass it to `loginWithTokenResponse` as `dpopKey`.
   */
  dpop_key: DpopKeyRecord | undefined
  /**
   * Polls the token endpoint until the person approves (resolves with the token response), denies
   * (`DeviceLoginError` access_denied), the code expires (expired_token) or `signal` aborts
   * (cancelled). Call it once: an approved code is spent by the poll that receives the tokens.
   */
  wait(signal?: AbortSignal): Promise<TokenResponse>
}

const DEFAULT_INTERVAL_S = 5
const SLOW_DOWN_S = 5
const MAX_BACKOFF_MS = 60_000

/**
 * Starts an OAuth device login (RFC 8628): asks the issuer's device authorization endpoint for a
 * code, and returns what the person needs (user code, verification URI) with a `wait()` that
 * polls for the tokens. Storing them is the caller's choice (see `loginWithTokenResponse`).
 *
 * @throws ProviderError when the issuer cannot be reached or has no device authorization endpoint
 * @throws OAuthResponseError when the issuer refuses (e.g. `unauthorized_client`, `invalid_scope`)
 * @example
 * const login = await startDeviceLogin({ issuer, clientId: 'evergreen-cli', scope: 'openid email' })
 * console.error(`Enter ${login.user_code} at ${login.verification_uri}`)
 * const tokens = await login.wait(AbortSignal.timeout(600_000))
 * @see https://www.rfc-editor.org/rfc/rfc8628
 */
export async function startDeviceLogin(options: StartDeviceLoginOptions): Promise<DeviceLogin> {
  const fetchImpl = options.fetch ?? defaultFetch
  // eslint-disable-next-line no-restricted-syntax -- the production default of the injected clock (STYLE §5)
  const now = options.now ?? (() => Date.now())
  const sleep = options.sleep ?? timerSleep
  const http: HttpOptions = { fetch: fetchImpl, ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}) }
  const maxUnavailable = options.maxUnavailablePolls ?? 3

  const as = await discover(options.issuer, fetchImpl, http)
  const dpopKey = wantsDpop(options.dpop, as) ? await newDpopKey({ boundAtIssuance: true }) : undefined
  const dpop = dpopKey ? createDpopHandle(dpopKey, { now, nonces: new Map() }) : undefined
  const started = now()
  const auth = await processDeviceAuthorizationResponse(
    await deviceAuthorizationRequest(
      as,
      options.clientId,
      {
        ...(options.scope !== undefined ? { scope: options.scope } : {}),
        ...(options.refreshTokenTtl !== undefined ? { refresh_token_ttl: options.refreshTokenTtl } : {}),
        ...(dpopKey ? { dpop_jkt: dpopKey.jkt } : {}),
      },
      { ...http, ...(options.signal ? { signal: options.signal } : {}) },
    ),
  )
  // Counted from when the request left: never later than the server's own reckoning.
  const expiresAt = started + auth.expires_in * 1000
  const login: DeviceLogin = {
    user_code: auth.user_code,
    verification_uri: auth.verification_uri,
    verification_uri_complete: auth.verification_uri_complete,
    expires_in: auth.expires_in,
    interval: auth.interval ?? DEFAULT_INTERVAL_S,
    expires_at: expiresAt,
    polled_at: undefined,
    dpop_key: dpopKey,
    wait,
  }

  async function wait(signal?: AbortSignal): Promise<TokenResponse> {
    const expired = () => new DeviceLoginError('expired_token', `the code ${auth.user_code} expired before it was approved; start the login again`, {
        remedy: 'login',
        issuer: options.issuer,
      })
    const cancelled = (cause?: unknown) => new DeviceLoginError('cancelled', 'the device login was cancelled', { cause })
    let unavailable = 0
    for (;;) {
      if (signal?.aborted) throw cancelled(signal.reason)
      // RFC 8628 §3.5: wait `interval` seconds between requests (also before the first: nobody
      // has approved a code they saw a moment ago). A run of unreachable polls backs off further.
      const delayMs = Math.min(login.interval * 1000 * 2 ** unavailable, Math.max(login.interval * 1000, MAX_BACKOFF_MS))
      try {
        await sleep(delayMs, signal)
      } catch (err) {
        if (signal?.aborted) throw cancelled(signal.reason)
        throw err
      }
      if (signal?.aborted) throw cancelled(signal.reason)
      if (now() >= expiresAt) throw expired()
      try {
        login.polled_at = now()
        const poll = () => deviceCodeGrantRequest(as, options.clientId, auth.device_code, { ...http, ...(signal ? { signal } : {}), dpop })
        return await processTokenResponse(await sendWithDpopNonceRetry(dpop, as.token_endpoint, poll), { dpop: dpop !== undefined })
      } catch (err) {
        if (signal?.aborted) throw cancelled(err)
        if (err instanceof OAuthResponseError) {
          switch (err.error) {
            case 'authorization_pending':
              unavailable = 0
              continue
            case 'slow_down':
              // §3.5: the interval grows by 5 seconds for this and all later requests.
              login.interval += SLOW_DOWN_S
              unavailable = 0
              continue
            case 'access_denied':
              throw new DeviceLoginError('access_denied', 'the login was denied in the browser', { cause: err })
            case 'expired_token':
              throw expired()
          }
          throw err
        }
        // A token service restarting mid-login should not end a login the person is completing.
        if (err instanceof ProviderError && err.code === 'PROVIDER_UNAVAILABLE' && unavailable < maxUnavailable) {
          unavailable++
          continue
        }
        throw err
      }
    }
  }

  return login
}

/**
 * Sends a device authorization request (RFC 8628 §3.1) as a public client.
 *
 * @throws ProviderError when the issuer advertises no device authorization endpoint, or cannot be reached
 * @example const auth = await processDeviceAuthorizationResponse(await deviceAuthorizationRequest(as, 'evergreen-cli', { scope: 'openid' }))
 * @see https://www.rfc-editor.org/rfc/rfc8628#section-3.1
 */
export function deviceAuthorizationRequest(
  as: AuthorizationServer,
  clientId: string,
  parameters: { scope?: string; refresh_token_ttl?: number; dpop_jkt?: string } = {},
  options: HttpOptions = {},
): Promise<Response> {
  const endpoint = as.device_authorization_endpoint
  if (typeof endpoint !== 'string') {
    return Promise.reject(new ProviderError('PROVIDER_INVALID_RESPONSE', `${as.issuer} does not advertise a device_authorization_endpoint (no device login there)`))
  }
  const body = new URLSearchParams({ client_id: clientId })
  if (parameters.scope !== undefined && parameters.scope !== '') body.set('scope', parameters.scope)
  // Evergreen extension: the session's refresh TTL is chosen when it is created (docs/architecture.md "Lifetimes").
  if (parameters.refresh_token_ttl !== undefined) body.set('refresh_token_ttl', String(parameters.refresh_token_ttl))
  // RFC 9449 §10 (`dpop_jkt`, as at /authorize): the device code is bound to the key from the
  // start, so only the holder of that key can redeem it.
  if (parameters.dpop_jkt !== undefined) body.set('dpop_jkt', parameters.dpop_jkt)
  return post(endpoint, body, options)
}

/**
 * Checks a device authorization response: a 2xx must carry `device_code`, `user_code`,
 * `verification_uri` and `expires_in`; an OAuth error body becomes {@link OAuthResponseError};
 * 5xx, 429 and non-OAuth answers become {@link ProviderError}.
 *
 * @throws OAuthResponseError | ProviderError
 * @see https://www.rfc-editor.org/rfc/rfc8628#section-3.2
 */
export async function processDeviceAuthorizationResponse(response: Response): Promise<DeviceAuthorizationResponse> {
  const text = await response.text().catch(() => '')
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    body = undefined
  }
  if (!response.ok) throw errorFromBody(response, text, body, 'device authorization endpoint')
  if (
    !isObject(body) ||
    typeof body.device_code !== 'string' ||
    body.device_code === '' ||
    typeof body.user_code !== 'string' ||
    body.user_code === '' ||
    typeof body.verification_uri !== 'string' ||
    !isHttpUrl(body.verification_uri) ||
    (body.verification_uri_complete !== undefined && (typeof body.verification_uri_complete !== 'string' || !isHttpUrl(body.verification_uri_complete))) ||
    typeof body.expires_in !== 'number' ||
    !(body.expires_in > 0) ||
    (body.interval !== undefined && (typeof body.interval !== 'number' || !(body.interval > 0)))
  ) {
    throw new ProviderError('PROVIDER_INVALID_RESPONSE', 'the device authorization endpoint returned something that is not a device authorization response', {
      status: response.status,
    })
  }
  return body as unknown as DeviceAuthorizationResponse
}

/**
 * Sends one device-code grant poll (RFC 8628 §3.4). Check it with `processTokenResponse`, which
 * throws `OAuthResponseError` for `authorization_pending`, `slow_down`, `access_denied` and
 * `expired_token`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8628#section-3.4
 */
export function deviceCodeGrantRequest(as: AuthorizationServer, clientId: string, deviceCode: string, options: TokenRequestOptions = {}): Promise<Response> {
  const body = new URLSearchParams({ grant_type: GRANT_TYPES.deviceCode, device_code: deviceCode, client_id: clientId })
  return post(as.token_endpoint, body, options)
}

async function post(url: string, body: URLSearchParams, options: TokenRequestOptions): Promise<Response> {
  const headers = new Headers({ 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' })
  // RFC 9449 §5: every token request of a bound session carries a proof, the device-code polls too.
  if (options.dpop) headers.set('dpop', await options.dpop.proof('POST', url))
  return send(url, { method: 'POST', headers, body }, options)
}

function timerSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal!.reason)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value)
    return url.protocol === 'https:' || url.protocol === 'http:'
  } catch {
    return false
  }
}

import { createRemoteJWKSet, customFetch as joseFetch, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import * as oauth from 'oauth4webapi'
import type { WebConfig } from './config.js'
import type { RefreshFailure } from './events.js'

/** What a successful code exchange or refresh yields. */
export interface TokenSet {
  access_token: string
  /** Seconds the access token lives, from the response. */
  expires_in: number
  refresh_token: string
  /** Seconds the refresh token (the session's idle lifetime) lives, when the service says. */
  refresh_token_expires_in: number | undefined
  id_token: string | undefined
  /** The ID token's validated claims, when one came. */
  id_claims: JWTPayload | undefined
}

/** The answer to a refresh: tokens, or why not — a refusal ends the session, the rest do not. */
export type RefreshOutcome =
  | { ok: true; tokens: TokenSet }
  | { ok: false; kind: 'refused'; failure: RefreshFailure }
  | { ok: false; kind: 'superseded'; failure: RefreshFailure }
  | { ok: false; kind: 'unavailable'; failure: RefreshFailure; retryAfter: number }

/** The token service as the middleware uses it, on oauth4webapi with injected fetch and clock. */
export interface Provider {
  /** Discovery metadata, fetched once and cached; a failed fetch is retried on the next call. */
  metadata(): Promise<oauth.AuthorizationServer>
  /** The JWKS, cached by jose: refetched on an unknown `kid` at most once per 30 s. */
  jwks(): Promise<JWTVerifyGetKey>
  /** Exchanges an authorization code and validates the ID token (signature, iss, aud, nonce, exp). */
  exchangeCode(callback: URL, expected: { state: string; nonce: string; verifier: string; redirectUri: string }): Promise<TokenSet>
  /** Refreshes; never throws. */
  refresh(refreshToken: string): Promise<RefreshOutcome>
  /** RFC 7009 revocation of a refresh token; true when the service confirmed it. Never throws. */
  revoke(refreshToken: string): Promise<boolean>
}

/** How long one call to the token service may take before it counts as unreachable. */
const TIMEOUT_MS = 10_000

/** Creates the {@link Provider} for a configuration. */
export function createProvider(config: WebConfig): Provider {
  const insecure = config.issuer.protocol === 'http:'
  const fetchFn: oauth.HttpRequestOptions<'GET' | 'POST', unknown>[typeof oauth.customFetch] = (url, init) => config.fetch(url, init as RequestInit)
  const options = () => ({ [oauth.customFetch]: fetchFn, [oauth.allowInsecureRequests]: insecure, signal: AbortSignal.timeout(TIMEOUT_MS) })
  const clientAuth = config.clientSecret === undefined ? oauth.None() : oauth.ClientSecretBasic(config.clientSecret)
  const client = (): oauth.Client => ({
    client_id: config.clientId,
    // oauth4webapi reads the real clock and takes a skew to add to it; this turns the injected
    // clock into that skew, so ID-token exp/iat checks follow the injected time.
    [oauth.clockSkew]: config.now() - Math.floor(new Date().getTime() / 1000),
    [oauth.clockTolerance]: config.clockTolerance,
  })

  let discovery: Promise<oauth.AuthorizationServer> | undefined
  let keySet: JWTVerifyGetKey | undefined
  const metadata = () => {
    discovery ??= (async () => {
      const res = await oauth.discoveryRequest(config.issuer, { ...options(), algorithm: 'oidc' })
      return oauth.processDiscoveryResponse(config.issuer, res)
    })()
    discovery.catch(() => (discovery = undefined))
    return discovery
  }
  const jwks = async () => {
    if (keySet) return keySet
    const as = await metadata()
    if (!as.jwks_uri) throw new oauth.OperationProcessingError('discovery has no jwks_uri')
    keySet = createRemoteJWKSet(new URL(as.jwks_uri), {
      [joseFetch]: (url: string, init: RequestInit) => config.fetch(url, init),
      cooldownDuration: 30_000,
      cacheMaxAge: 600_000,
      timeoutDuration: TIMEOUT_MS,
    })
    return keySet
  }

  const verifyIdToken = async (idToken: string): Promise<JWTPayload> => {
    const { payload } = await jwtVerify(idToken, await jwks(), {
      issuer: (await metadata()).issuer,
      audience: config.clientId,
      currentDate: new Date(config.now() * 1000),
      clockTolerance: config.clockTolerance,
    })
    return payload
  }

  const toTokenSet = async (result: oauth.TokenEndpointResponse, idClaims: JWTPayload | undefined): Promise<TokenSet> => {
    if (typeof result.refresh_token !== 'string' || result.refresh_token === '') throw new oauth.OperationProcessingError('no refresh_token in the token response')
    const expiresIn = typeof result.expires_in === 'number' && result.expires_in > 0 ? result.expires_in : 300
    const rtExpires = result.refresh_token_expires_in
    return {
      access_token: result.access_token,
      expires_in: expiresIn,
      refresh_token: result.refresh_token,
      refresh_token_expires_in: typeof rtExpires === 'number' && rtExpires > 0 ? rtExpires : undefined,
      id_token: result.id_token,
      id_claims: idClaims,
    }
  }

  return {
    metadata,
    jwks,
    async exchangeCode(callback, expected) {
      const as = await metadata()
      const c = client()
      const params = oauth.validateAuthResponse(as, c, callback, expected.state)
      const res = await oauth.authorizationCodeGrantRequest(as, c, clientAuth, params, expected.redirectUri, expected.verifier, options())
      const result = await oauth.processAuthorizationCodeResponse(as, c, res, { expectedNonce: expected.nonce, requireIdToken: true })
      // oauth4webapi checks the ID token's claims but, over a direct TLS response, not its
      // signature; the ID token is kept for id_token_hint, so check the signature too.
      const claims = await verifyIdToken(result.id_token!)
      return toTokenSet(result, claims)
    },
    async refresh(refreshToken) {
      try {
        const as = await metadata()
        const c = client()
        const res = await oauth.refreshTokenGrantRequest(as, c, clientAuth, refreshToken, options())
        const result = await oauth.processRefreshTokenResponse(as, c, res)
        const claims = result.id_token ? await verifyIdToken(result.id_token) : undefined
        return { ok: true, tokens: await toTokenSet(result, claims) }
      } catch (err) {
        return classifyRefreshError(err)
      }
    },
    async revoke(refreshToken) {
      try {
        const as = await metadata()
        if (!as.revocation_endpoint) return false
        const res = await oauth.revocationRequest(as, client(), clientAuth, refreshToken, { ...options(), additionalParameters: { token_type_hint: 'refresh_token' } })
        await oauth.processRevocationResponse(res)
        return true
      } catch {
        return false
      }
    },
  }
}

/**
 * Sorts a failed refresh into the three outcomes the error policy needs. Only an explicit
 * `invalid_grant` / `invalid_client` from the service ends a session: anything the service did
 * not clearly say — a network error, 5xx, 429, a garbled body — keeps the cookies, because
 * logging everyone out during an outage is the failure this package exists to prevent.
 */
export function classifyRefreshError(err: unknown): RefreshOutcome {
  if (err instanceof oauth.ResponseBodyError) {
    if (err.error === 'invalid_grant' && err.cause?.error_reason === 'superseded') return { ok: false, kind: 'superseded', failure: 'superseded' }
    if (err.error === 'invalid_grant' || err.error === 'invalid_client') {
      const reason = typeof err.cause?.error_reason === 'string' && /^[a-z_]{1,40}$/.test(err.cause.error_reason) ? `:${err.cause.error_reason}` : ''
      return { ok: false, kind: 'refused', failure: `refused:${err.error}${reason}` }
    }
    if (err.status === 429) return unavailable('rate_limited', retryAfterOf(err.response))
    if (err.error === 'temporarily_unavailable') return unavailable('temporarily_unavailable', retryAfterOf(err.response))
    return unavailable(err.status >= 500 ? 'server_error' : 'invalid_response')
  }
  if (err instanceof oauth.WWWAuthenticateChallengeError) {
    // RFC 6749 §5.2: a failed client_secret_basic authentication is a 401 with a challenge.
    if (err.status === 401) return { ok: false, kind: 'refused', failure: 'refused:invalid_client' }
    return unavailable(err.status >= 500 ? 'server_error' : 'invalid_response')
  }
  if (err instanceof oauth.OperationProcessingError) {
    const cause = err.cause
    if (cause instanceof Response) {
      if (cause.status === 429) return unavailable('rate_limited', retryAfterOf(cause))
      if (cause.status >= 500) return unavailable('server_error', retryAfterOf(cause))
    }
    return unavailable('invalid_response')
  }
  return unavailable('unreachable')
}

function unavailable(failure: RefreshFailure, retryAfter = 5): RefreshOutcome {
  return { ok: false, kind: 'unavailable', failure, retryAfter }
}

/** Retry-After in seconds (delta form only), clamped to 1..60; 5 when absent or unreadable. */
function retryAfterOf(res: Response | undefined): number {
  const value = Number(res?.headers.get('retry-after'))
  return Number.isInteger(value) && value > 0 ? Math.min(value, 60) : 5
}

import { encodeCredential } from '@evergreen/core'
import type { SessionClient } from './client.js'
import { newDpopKey, sendWithDpopNonceRetry, type DpopHandle } from './dpop.js'
import { AuthError, DelegationError, DpopError, OAuthResponseError, type DelegationErrorCode } from './errors.js'
import { discover, processTokenExchangeResponse, tokenExchangeRequest, type HttpOptions } from './protocol.js'

/** What to delegate to an agent; every field narrows what the agent may do. */
export interface DelegateOptions extends HttpOptions {
  /** Space-separated scopes, no wider than the person's session. */
  scope?: string
  audience?: string | readonly string[]
  resource?: string | readonly string[]
  /** How long the agent's refresh token may live unused, in seconds. */
  ttlSeconds?: number
  /**
   * A label for the delegated session. Sent as Evergreen's `session_name`; a server that does
   * not know it ignores it (RFC 6749 §3.2: unknown parameters are ignored).
   */
  name?: string
  /** The clock, epoch milliseconds; only labels the credential's display expiry. */
  now?: () => number
  /**
   * Bind the agent's session to a key from issuance (RFC 9449): a fresh ES256 key is generated
   * for the agent, its thumbprint sent as `dpop_jkt`, and its private half put in the credential,
   * so whoever logs in with the credential refreshes with proofs of it and a copy of a later
   * refresh token is useless without it. The credential then carries both; guard it as before.
   * Default false: the agent's session is unbound (an agent that logs in with DPoP still proves a
   * key of its own on every refresh, but the token service does not require it).
   */
  bindKey?: boolean
}

/** An agent credential: the `egc1_` envelope and what it carries, for display. Never a JWT. */
export interface DelegatedCredential {
  /** `egc1_…`: what the agent passes to a credential login. */
  credential: string
  issuer: string
  client_id: string
  scope: string | undefined
  /** Epoch seconds when the delegated refresh token expires unless used; undefined when the server did not say. */
  expires_at: number | undefined
  /** With `bindKey`: the RFC 7638 thumbprint of the agent's key, which its session is bound to. */
  dpop_jkt: string | undefined
}

/**
 * Delegates the logged-in person's session to an agent: an RFC 8693 token exchange of the
 * person's current access token for a refresh token of its own, as the session's own public
 * client, wrapped in the `egc1_` login credential so the agent can log in with it alone.
 *
 * A DPoP-bound session (RFC 9449) proves its key with the exchange (a server nonce challenge is
 * answered once), as the token service requires for a bound subject token. That proof binds
 * nothing: the agent's session is not bound to this machine's key, which the agent never gets.
 * With `bindKey` it is bound to a key made for the agent, carried in the credential.
 *
 * @throws AuthError when nobody is logged in or the token service refused the person's token
 * @throws DelegationError when the token service will not delegate what was asked
 * @throws DpopError `DPOP_PROOF_REJECTED` when it refused the bound session's proof (remedy
 *   `check_clock`), `DPOP_REQUIRED` when it wants a proof from an unbound session (remedy `login`)
 * @throws ProviderError when the token service could not be reached or answered badly
 * @example
 * const { credential } = await delegateSession(client, { scope: 'read', audience: 'https://api.example', ttlSeconds: 86_400 })
 * @see https://www.rfc-editor.org/rfc/rfc8693#section-2
 */
export async function delegateSession(client: SessionClient, options: DelegateOptions = {}): Promise<DelegatedCredential> {
  // The token first: it refreshes when needed and throws AUTH_NOT_LOGGED_IN when there is nothing.
  const subjectToken = await client.getValidToken()
  const status = await client.status()
  if (status.source !== 'store' || status.issuer === undefined || status.client_id === undefined) {
    // A raw EVERGREEN_TOKEN names no issuer or client to exchange it at.
    throw new AuthError('not_logged_in', 'delegation needs a stored login, not a token from the environment', { profile: status.profile })
  }
  const issuer = status.issuer
  const clientId = status.client_id
  const http: HttpOptions = {
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
  }
  const as = await discover(issuer, options.fetch, http)
  // The stored session's key, when it is bound: a bound subject token is exchanged only with a proof of it.
  const dpop = await client.sessionDpop()
  const agentKey = options.bindKey ? await newDpopKey({ boundAtIssuance: true }) : undefined
  const exchange = () => tokenExchangeRequest(
    as,
    clientId,
    {
      subject_token: subjectToken,
      ...(options.scope !== undefined ? { scope: options.scope } : {}),
      ...(options.audience !== undefined ? { audience: options.audience } : {}),
      ...(options.resource !== undefined ? { resource: options.resource } : {}),
      ...(options.ttlSeconds !== undefined ? { refresh_token_ttl: options.ttlSeconds } : {}),
      ...(options.name !== undefined ? { session_name: options.name } : {}),
      ...(agentKey !== undefined ? { dpop_jkt: agentKey.jkt } : {}),
    },
    { ...http, dpop },
  )
  const response = await sendWithDpopNonceRetry(dpop, as.token_endpoint, exchange)
  let tokens
  try {
    // Bound to the agent's key, its first access token may be DPoP (the credential keeps only the refresh token).
    tokens = await processTokenExchangeResponse(response, { dpop: agentKey !== undefined })
  } catch (err) {
    throw err instanceof OAuthResponseError ? delegationRefusal(err, issuer, status.profile, dpop) : err
  }
  // eslint-disable-next-line no-restricted-syntax -- the production default of the injected clock (STYLE §5)
  const now = Math.floor((options.now ?? (() => Date.now()))() / 1000)
  const expiresAt = tokens.refresh_token_expires_in === undefined ? undefined : now + tokens.refresh_token_expires_in
  return {
    credential: encodeCredential({
      v: 1,
      iss: issuer,
      client_id: clientId,
      refresh_token: tokens.refresh_token,
      ...(expiresAt !== undefined ? { exp: expiresAt } : {}),
      ...(agentKey !== undefined ? { dpop_key: { kty: 'EC', crv: 'P-256', x: agentKey.jwk.x, y: agentKey.jwk.y, d: agentKey.jwk.d } } : {}),
    }),
    issuer,
    client_id: clientId,
    scope: tokens.scope,
    expires_at: expiresAt,
    dpop_jkt: agentKey?.jkt,
  }
}

// RFC 8693 §2.2.2 names invalid_request and invalid_target; the rest are RFC 6749 §5.2's.
const REFUSALS: Record<string, DelegationErrorCode> = {
  unsupported_grant_type: 'DELEGATION_UNSUPPORTED',
  invalid_request: 'DELEGATION_INVALID_REQUEST',
  invalid_scope: 'DELEGATION_NOT_ALLOWED',
  invalid_target: 'DELEGATION_NOT_ALLOWED',
  unauthorized_client: 'DELEGATION_NOT_ALLOWED',
  access_denied: 'DELEGATION_NOT_ALLOWED',
}

function delegationRefusal(err: OAuthResponseError, issuer: string, profile: string, dpop: DpopHandle | undefined): Error {
  // A refused proof is the key's problem (the clock, most often), not the delegation's.
  if (err.error === 'invalid_dpop_proof' || err.error === 'use_dpop_nonce') {
    const why = err.error_description ? ` (${err.error_description})` : ''
    return dpop
      ? new DpopError('DPOP_PROOF_REJECTED', `the token service refused the session's proof of possession${why}`, { cause: err, issuer, profile, remedy: 'check_clock' })
      : new DpopError('DPOP_REQUIRED', `the token service requires a proof of possession (DPoP), and this session is not bound to a key${why}`, { cause: err, issuer, profile, remedy: 'login' })
  }
  // invalid_grant: the subject token itself was refused (its session ended since we checked).
  if (err.error === 'invalid_grant') return new AuthError('session_expired', 'the token service no longer accepts this session', { cause: err, issuer, profile })
  const code = REFUSALS[err.error] ?? 'DELEGATION_NOT_ALLOWED'
  const what = code === 'DELEGATION_UNSUPPORTED' ? 'the token service does not support delegation (token exchange)' : `the token service refused the delegation: ${err.error}`
  const why = err.error_description ? ` (${err.error_description})` : ''
  return new DelegationError(code, err.error, `${what}${why}`, { cause: err, issuer, profile })
}

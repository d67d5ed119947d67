import { authErrorFromRefusal, ConfigError, OAuthResponseError } from './errors.js'
import type { LoginInput } from './login-input.js'
import { createDpopHandle, dpopKeyFromCredential, newDpopKey, sendWithDpopNonceRetry, wantsDpop, type DpopMode, type DpopNonces } from './dpop.js'
import { discover, processTokenResponse, refreshTokenRequest, type HttpOptions } from './protocol.js'
import { accessOnlyExpired } from './refresh.js'
import { accountOf, sessionFromTokenResponse, type DpopKeyRecord, type StoredSession } from './session.js'
import { normalizeKey, type SessionKey, type SessionLock, type SessionStore } from './store/types.js'
import type { SessionStatus } from './client.js'

/**
 * Said about a successful login that the caller should pass on: an access-only session (a pasted
 * JWT) cannot be renewed and ends at `expiresAt`; remedy `mint_credential` at `issuer`.
 */
export interface LoginWarning {
  code: 'LOGIN_ACCESS_ONLY'
  remedy: 'mint_credential'
  issuer: string
  /** Epoch ms when the access token, and with it the session, stops working. */
  expiresAt: number
}

export interface LoginResult {
  kind: LoginInput['kind']
  key: SessionKey
  status: SessionStatus
  /** Set for an access-only login. */
  warning?: LoginWarning
}

/** What a login from a pasted input needs from the session client. */
export interface CredentialLoginContext {
  store: SessionStore
  lock: SessionLock
  now: () => number
  fetch: typeof fetch
  http: HttpOptions
  profile: string
  /** The issuer given explicitly; checked against the one an input names. */
  issuer: string | undefined
  /** `EVERGREEN_ISSUER`: the last resort for an input that names no issuer. */
  envIssuer: string | undefined
  /** For a bare refresh token, and an access token that names no client. */
  clientId: string | undefined
  /** Whether the session a refresh token starts is bound to a new DPoP key. */
  dpop: DpopMode
  /** The session client's nonce memory. */
  nonces: DpopNonces
}

/**
 * Stores the session a parsed login input stands for. A refresh token (in an `egc1_` credential
 * or bare) is refreshed at once; an access token is stored access-only.
 *
 * @throws ConfigError `CONFIG_ISSUER_MISMATCH` (remedy `drop_issuer` for a credential),
 *   `CONFIG_ISSUER_REQUIRED` (`give_issuer`), `CONFIG_CLIENT_ID_REQUIRED` (`give_client_id`)
 * @throws AuthError when the token service refuses the refresh token; what was stored stays
 */
export async function loginWithInput(input: LoginInput, ctx: CredentialLoginContext): Promise<Omit<LoginResult, 'status'>> {
  if (input.kind === 'credential') {
    if (ctx.issuer !== undefined && trimSlash(ctx.issuer) !== trimSlash(input.issuer)) {
      // Never send a refresh token to an issuer other than the one that minted it.
      throw new ConfigError('CONFIG_ISSUER_MISMATCH', `the credential belongs to ${input.issuer}, not ${ctx.issuer}`, {
        remedy: 'drop_issuer',
        issuer: input.issuer,
      })
    }
    // A credential that carries its session's key is refreshed with it, whatever ctx.dpop says: the
    // token service bound the session to it at issuance (a `--bind-key` delegation).
    const carried = input.dpop_key === undefined ? undefined : await dpopKeyFromCredential(input.dpop_key)
    return { kind: 'credential', key: await loginWithRefreshToken(ctx, input.issuer, input.client_id, input.refresh_token, carried) }
  }
  if (input.kind === 'refresh_token') {
    const issuer = ctx.issuer ?? ctx.envIssuer
    if (issuer === undefined) throw new ConfigError('CONFIG_ISSUER_REQUIRED', 'a bare refresh token does not say which token service issued it', { remedy: 'give_issuer' })
    if (ctx.clientId === undefined) {
      throw new ConfigError('CONFIG_CLIENT_ID_REQUIRED', 'a bare refresh token does not say which client it belongs to', { remedy: 'give_client_id', issuer })
    }
    return { kind: 'refresh_token', key: await loginWithRefreshToken(ctx, issuer, ctx.clientId, input.refresh_token) }
  }
  return loginWithAccessToken(ctx, input)
}

async function loginWithRefreshToken(ctx: CredentialLoginContext, issuer: string, clientId: string, refreshToken: string, carried?: DpopKeyRecord): Promise<SessionKey> {
  const key = normalizeKey({ issuer, profile: ctx.profile })
  // Refresh at once: proves the token works, and spends the pasted copy (it may sit in shell
  // history) in exchange for one only the store holds.
  await ctx.lock.withLock(key, async () => {
    const as = await discover(key.issuer, ctx.fetch, ctx.http)
    // The refresh carries a proof of the credential's own key when it has one (its session is bound
    // to it from issuance), else of a new key; either is stored in the same write as the tokens,
    // and every later refresh proves it too. Without a carried key: The credential's session was issued before the key existed, so
    // a token service that binds at issuance (RFC 9449 §5) may not require it: the record says so.
    // Its access tokens are DPoP-bound when the client asks for that.
    const dpopKey = carried ?? (wantsDpop(ctx.dpop, as) ? await newDpopKey({ boundAtIssuance: false }) : undefined)
    const dpop = dpopKey ? createDpopHandle(dpopKey, { now: ctx.now, nonces: ctx.nonces }) : undefined
    const sentAt = ctx.now()
    let tokens
    try {
      const res = await sendWithDpopNonceRetry(dpop, as.token_endpoint, () => refreshTokenRequest(as, clientId, refreshToken, { ...ctx.http, dpop }))
      tokens = await processTokenResponse(res, { dpop: dpop !== undefined })
    } catch (err) {
      // A refused login leaves whatever was stored before untouched.
      if (err instanceof OAuthResponseError && err.error === 'invalid_grant') throw authErrorFromRefusal(err, key)
      throw err
    }
    await ctx.store.write(key, sessionFromTokenResponse(tokens, { issuer: key.issuer, clientId, receivedAt: sentAt, dpop: dpopKey }))
  })
  return key
}

async function loginWithAccessToken(ctx: CredentialLoginContext, input: Extract<LoginInput, { kind: 'access_token' }>): Promise<Omit<LoginResult, 'status'>> {
  const { claims } = input
  const claimedIssuer = typeof claims.iss === 'string' ? claims.iss : undefined
  if (ctx.issuer !== undefined && claimedIssuer !== undefined && trimSlash(ctx.issuer) !== trimSlash(claimedIssuer)) {
    throw new ConfigError('CONFIG_ISSUER_MISMATCH', `the access token was issued by ${claimedIssuer}, not ${ctx.issuer}`, { issuer: claimedIssuer })
  }
  const issuer = ctx.issuer ?? claimedIssuer ?? ctx.envIssuer
  if (issuer === undefined) throw new ConfigError('CONFIG_ISSUER_REQUIRED', 'this access token names no issuer', { remedy: 'give_issuer' })
  const key = normalizeKey({ issuer, profile: ctx.profile })
  // A pasted JWT comes with no expires_in, so its own exp is all there is. It is used for the
  // warning and as the last moment to hand it out; if this clock is off, the API's 401 decides.
  const expiresAt = claims.exp * 1000
  const t = ctx.now()
  const clientId = typeof claims.client_id === 'string' ? claims.client_id : typeof claims.azp === 'string' ? claims.azp : (ctx.clientId ?? '')
  const session: StoredSession = {
    version: 1,
    issuer: key.issuer,
    client_id: clientId,
    access_token: input.access_token,
    access_token_expires_at: expiresAt,
    token_type: 'Bearer',
    obtained_at: t,
  }
  const account = accountOf(input.access_token)
  if (account) session.account = account
  if (typeof claims.scope === 'string') session.scope = claims.scope
  if (expiresAt <= t) throw accessOnlyExpired(session, ctx.profile)
  await ctx.lock.withLock(key, () => ctx.store.write(key, session))
  return { kind: 'access_token', key, warning: { code: 'LOGIN_ACCESS_ONLY', remedy: 'mint_credential', issuer: key.issuer, expiresAt } }
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '')
}

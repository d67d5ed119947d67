import type { DebugHook, RefreshReason } from './debug.js'
import { sendWithDpopNonceRetry, type DpopHandle } from './dpop.js'
import { AuthError, authErrorFromRefusal, DpopError, EvergreenClientError, OAuthResponseError } from './errors.js'
import { discover, processTokenResponse, refreshTokenRequest, type HttpOptions } from './protocol.js'
import { isRenewable, sessionFromTokenResponse, type StoredSession } from './session.js'
import { keyId, type SessionKey, type SessionLock, type SessionStore } from './store/types.js'

export interface RefresherOptions {
  store: SessionStore
  lock: SessionLock
  /** Epoch ms. */
  now: () => number
  fetch: typeof fetch
  http: HttpOptions
  debug: DebugHook
  /** Refresh when the access token has this little left (ms). */
  leewayMs: number
  /** Refresh when the refresh token has this little left (ms), to slide the idle expiry. */
  backstopMs: number
  /** The proof handle of a DPoP-bound session (its stored key), undefined for a Bearer one. */
  dpopFor(session: StoredSession): DpopHandle | undefined
}

/** Refresh policy and single flight for one session client. */
export interface Refresher {
  /** Why the session needs a refresh now, or undefined when its access token is good to use. */
  need(session: StoredSession): Exclude<RefreshReason, 'forced' | 'unauthorized_retry'> | undefined
  /**
   * The one refresh of `key` running in this process, started if none is: callers join it. Runs
   * under the lock and re-reads the store first. `staleAccessToken` is the token an API refused
   * (a 401 retry): a stored token other than it counts as already refreshed.
   */
  singleFlight(key: SessionKey, reason: RefreshReason, staleAccessToken?: string): Promise<string>
}

/** `not_logged_in`, naming the key when there is one (remedy `login`, else `login_with_issuer`). */
export function notLoggedIn(profile: string, key?: SessionKey): AuthError {
  return key
    ? new AuthError('not_logged_in', `not logged in to ${key.issuer}`, { remedy: 'login', issuer: key.issuer, profile: key.profile })
    : new AuthError('not_logged_in', 'not logged in', { profile })
}

/** An access-only session (a pasted JWT) that has expired: nothing can renew it. */
export function accessOnlyExpired(session: StoredSession, profile: string): AuthError {
  return new AuthError(
    'access_only_expired',
    `the stored access token expired at ${new Date(session.access_token_expires_at).toISOString()} and cannot be renewed (it was a raw access token, not a login credential)`,
    { issuer: session.issuer, profile, expiresAt: session.access_token_expires_at },
  )
}

/**
 * What a refused proof means to the caller: a bound session's proof was refused — most often its
 * `iat`, which comes from this machine's clock — or the server demands a proof from a session that
 * has no key (the client requires DPoP). Neither deletes anything.
 */
export function dpopRefusal(err: OAuthResponseError, session: StoredSession, key: SessionKey): DpopError {
  const details = { cause: err, issuer: key.issuer, profile: key.profile }
  return session.dpop
    ? new DpopError('DPOP_PROOF_REJECTED', `the token service refused the session's proof of possession${err.error_description ? ` (${err.error_description})` : ''}`, {
        ...details,
        remedy: 'check_clock',
      })
    : new DpopError('DPOP_REQUIRED', 'the token service requires a proof of possession (DPoP), and this session is not bound to a key', { ...details, remedy: 'login' })
}

/**
 * The refresh policy: the hot path — an access token with more than the leeway left and a refresh
 * token not within the backstop of its expiry — needs nothing. Otherwise callers in this process
 * share one refresh (single flight), which runs under the lock and re-reads the store first,
 * because another process may have refreshed while we waited: one network refresh for N
 * concurrent callers, in one process or many.
 */
export function createRefresher(options: RefresherOptions): Refresher {
  const { store, lock, now, http, debug } = options
  const inflight = new Map<string, Promise<string>>()

  function need(session: StoredSession): Exclude<RefreshReason, 'forced' | 'unauthorized_retry'> | undefined {
    const t = now()
    // A token that lives shorter than twice the leeway would be refreshed on every call; use half
    // its lifetime then.
    const lifetime = session.access_token_expires_at - session.obtained_at
    const leeway = Math.min(options.leewayMs, Math.max(0, lifetime / 2))
    if (session.access_token_expires_at - t <= leeway) return 'access_expiring'
    if (isRenewable(session) && session.refresh_token_expires_at !== undefined && session.refresh_token_expires_at - t <= options.backstopMs) {
      return 'refresh_backstop'
    }
    return undefined
  }

  function singleFlight(key: SessionKey, reason: RefreshReason, staleAccessToken?: string): Promise<string> {
    const id = keyId(key)
    const running = inflight.get(id)
    if (running) {
      debug({ type: 'refresh_joined', reason })
      return running
    }
    const started = refreshUnderLock(key, reason, staleAccessToken).finally(() => inflight.delete(id))
    inflight.set(id, started)
    return started
  }

  async function refreshUnderLock(key: SessionKey, reason: RefreshReason, staleAccessToken: string | undefined): Promise<string> {
    const waitStart = now()
    return lock.withLock(key, async () => {
      debug({ type: 'lock_acquired', waited_ms: Math.max(0, now() - waitStart) })
      // Re-read: another process may have refreshed (or logged out) while we waited for the lock.
      const current = await store.read(key)
      if (!current) throw notLoggedIn(key.profile, key)
      if (!isRenewable(current)) {
        if (now() < current.access_token_expires_at && current.access_token !== staleAccessToken) return current.access_token
        throw accessOnlyExpired(current, key.profile)
      }
      const replaced = staleAccessToken === undefined || current.access_token !== staleAccessToken
      if (reason !== 'forced' && replaced && need(current) === undefined) {
        debug({ type: 'refresh_skipped', reason: 'reread_fresh' })
        return current.access_token
      }
      return refreshOverNetwork(key, current, reason)
    })
  }

  /**
   * One refresh-token grant; the caller holds the lock. `retried` is set on the one extra attempt
   * a `superseded` refusal allows.
   */
  async function refreshOverNetwork(key: SessionKey, current: StoredSession & { refresh_token: string }, reason: RefreshReason, retried = false): Promise<string> {
    debug({ type: 'refresh_started', reason })
    try {
      const as = await discover(current.issuer, options.fetch, http)
      // Expiry counts from when the request left, not when the answer came: never later than the
      // server's own reckoning, whatever the network delay.
      const sentAt = now()
      // A bound session proves its key on every refresh (RFC 9449 §5), taking a nonce challenge once.
      const dpop = options.dpopFor(current)
      const res = await sendWithDpopNonceRetry(dpop, as.token_endpoint, () => refreshTokenRequest(as, current.client_id, current.refresh_token, { ...http, dpop }))
      const tokens = await processTokenResponse(res, { dpop: dpop !== undefined })
      const next = sessionFromTokenResponse(tokens, { issuer: current.issuer, clientId: current.client_id, receivedAt: sentAt, previous: current })
      await store.write(key, next)
      debug({
        type: 'refresh_succeeded',
        reason,
        access_expires_in_s: secondsLeft(next.access_token_expires_at),
        ...(next.refresh_token_expires_at !== undefined ? { refresh_expires_in_s: secondsLeft(next.refresh_token_expires_at) } : {}),
        rotated: next.refresh_token !== current.refresh_token,
      })
      return next.access_token
    } catch (err) {
      debug({ type: 'refresh_failed', reason, code: err instanceof EvergreenClientError ? err.code : 'UNEXPECTED' })
      if (err instanceof OAuthResponseError && err.error === 'invalid_grant' && err.error_reason === 'superseded') {
        // The server says a newer token of this session exists and the session is alive: another
        // process sharing the credential refreshed it. That is never a logout. The newer token
        // is most likely in the store already (a writer outside our lock); use it, once.
        const latest = await store.read(key)
        if (latest && isRenewable(latest) && latest.refresh_token !== current.refresh_token) {
          if (need(latest) === undefined) {
            debug({ type: 'refresh_skipped', reason: 'reread_fresh' })
            return latest.access_token
          }
          if (!retried) return refreshOverNetwork(key, latest, reason, true)
        }
        throw authErrorFromRefusal(err, key)
      }
      if (err instanceof OAuthResponseError && err.error === 'invalid_grant') {
        // Delete only what the server refused: if the store now holds another refresh token (a
        // writer that raced us despite the lock), that session is not ours to wipe — seed 002.
        const latest = await store.read(key).catch(() => undefined)
        if (latest && latest.refresh_token === current.refresh_token) {
          await store.delete(key)
          debug({ type: 'session_deleted', why: `invalid_grant${err.error_reason ? `:${err.error_reason}` : ''}` })
        } else if (latest && isRenewable(latest) && need(latest) === undefined) {
          debug({ type: 'refresh_skipped', reason: 'reread_fresh' })
          return latest.access_token
        }
        throw authErrorFromRefusal(err, key)
      }
      // A refused proof is never a logout: the session and its key stay stored.
      if (err instanceof OAuthResponseError && (err.error === 'invalid_dpop_proof' || err.error === 'use_dpop_nonce')) throw dpopRefusal(err, current, key)
      throw err
    }
  }

  function secondsLeft(at: number): number {
    return Math.round((at - now()) / 1000)
  }

  return { need, singleFlight }
}

import { createAuthenticatedFetch } from './authenticated-fetch.js'
import type { LoginResult } from './credential-login.js'
import { createDebug, type DebugHook } from './debug.js'
import { createDpopHandle, sendWithDpopNonceRetry, type DpopHandle, type DpopMode, type DpopNonces } from './dpop.js'
import { AuthError, StorageError, type EvergreenClientError } from './errors.js'
import { createInProcessLock } from './lock.js'
import { defaultFetch, discover, processRevocationResponse, revocationRequest, type HttpOptions } from './protocol.js'
import { accessOnlyExpired, createRefresher, notLoggedIn } from './refresh.js'
import { isRenewable, type DpopKeyRecord, type SessionAccount, type StoredSession } from './session.js'
import type { SessionKey, SessionLock, SessionStore, StoreDescription } from './store/types.js'
import { nonBlank, processEnv, resolveSessionKey, resolveTarget, type Env } from './target.js'

export interface SessionClientOptions {
  /** Issuer URL. Default: `EVERGREEN_ISSUER`, else the only issuer with a session for the profile. */
  issuer?: string
  /** Client id for a bare refresh-token login. Default: `EVERGREEN_CLIENT_ID`. Stored sessions carry their own. */
  clientId?: string
  /** Default: `EVERGREEN_PROFILE`, else `default`. */
  profile?: string
  store: SessionStore
  /** Serialises refreshes per session; a CLI passes the cross-process file lock. Default: in-process only. */
  lock?: SessionLock
  fetch?: typeof fetch
  /** The clock, epoch milliseconds. */
  now?: () => number
  /** Refresh when the access token has this little left. Default 30 s. */
  leewaySeconds?: number
  /** Refresh (to slide the idle expiry) when the refresh token has this little left. Default 60 s. */
  refreshBackstopSeconds?: number
  /** Environment to read `EVERGREEN_*` from. Default: `process.env` where there is one. */
  env?: Env
  debug?: DebugHook
  /** Per-request timeout towards the token service. Default 15 s. */
  timeoutMs?: number
  /**
   * Bind sessions this client creates (`loginWithCredential`) to a DPoP key (RFC 9449): `auto`
   * when the server offers ES256 proofs, `true` always (`DpopError` `DPOP_UNSUPPORTED` if it does
   * not), `false` never. Default `false`. A session that is already bound stays bound whatever
   * this says: its refreshes always carry proofs.
   */
  dpop?: DpopMode
  /** A fresh DPoP proof id (`jti`). Default `crypto.randomUUID()`. */
  randomId?: () => string
}

/** Where a session stands, for a status display. Never contains a token. */
export interface SessionStatus {
  /** `env` when EVERGREEN_TOKEN overrides the store. */
  source: 'env' | 'store' | 'none'
  store: StoreDescription
  /** Where this session's entry lives (a file path, a keyring entry), when the store says. */
  location?: string
  profile: string
  issuer?: string
  client_id?: string
  account?: SessionAccount
  /** False for an access-only session (a pasted JWT). */
  renewable?: boolean
  /** `Bearer`, or `DPoP` when the access token itself is bound to the key. */
  token_type?: string
  /**
   * The RFC 7638 thumbprint of the DPoP key the session is bound to; absent for a Bearer session.
   * A bound session's refresh token is useless without the key, which never leaves the store.
   */
  dpop_jkt?: string
  /**
   * With `dpop_jkt`: true when the session was created with a proof of the key (bound at the
   * token service from issuance), false when the key came later (a pasted credential).
   */
  dpop_bound_at_issuance?: boolean
  access_token_expires_at?: number
  refresh_token_expires_at?: number
  scope?: string
}

export interface LogoutResult {
  /** False when nothing was stored. */
  wasLoggedIn: boolean
  /**
   * `revoked`: the token service ended the session. `failed`: it could not be reached or refused;
   * the local copy is deleted anyway and `error` says why. `skipped`: an access-only session, which
   * expires on its own (revoking its JWT would end the session it was cut from, e.g. a browser's).
   */
  revocation: 'revoked' | 'failed' | 'skipped' | 'not_logged_in'
  error?: EvergreenClientError | Error
}

export interface SessionClient {
  /** The profile this client works on (option, else `EVERGREEN_PROFILE`, else `default`). */
  readonly profile: string
  /**
   * The session key this client uses now: the issuer given (option, `EVERGREEN_ISSUER`), one a
   * login set, else the only one stored for the profile; undefined when nothing is stored.
   *
   * @throws ConfigError `CONFIG_AMBIGUOUS_ISSUER`
   */
  resolveKey(): Promise<SessionKey | undefined>
  /** An access token good for at least the leeway, refreshing under the lock only when needed. */
  getValidToken(): Promise<string>
  /** Refreshes when needed, or always with `force`; returns the access token. */
  refresh(options?: { force?: boolean }): Promise<string>
  logout(): Promise<LogoutResult>
  status(): Promise<SessionStatus>
  /**
   * `fetch` with `Authorization: Bearer` (or `DPoP` plus a proof, for a DPoP-bound access token);
   * on 401 refreshes once and retries a replayable request once.
   */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>
  /**
   * The DPoP handle of the stored session's key (RFC 9449), for a token request made with this
   * session's tokens other than its refresh and revocation (which use it already): e.g.
   * `delegateSession`'s exchange of a bound session's token. Undefined for an unbound session,
   * when nothing is stored, or while `EVERGREEN_TOKEN` overrides the store. The key itself never
   * leaves the store: the handle only signs proofs.
   */
  sessionDpop(): Promise<DpopHandle | undefined>
  loginWithCredential(text: string, options?: { issuer?: string; clientId?: string }): Promise<LoginResult>
}

/**
 * Creates the session client a CLI or agent embeds (docs/architecture.md, "The SDK").
 *
 * This module wires the parts together; each has its own: issuer and profile precedence
 * (`target.ts`), the refresh policy and single flight (`refresh.ts`), the login inputs
 * (`login-input.ts`, `credential-login.ts`) and the authenticated fetch (`authenticated-fetch.ts`).
 *
 * @example
 * const { store, lock } = await openDefaultStore()
 * const client = createSessionClient({ store, lock })
 * const res = await client.fetch('https://api.example.com/me')
 */
export function createSessionClient(options: SessionClientOptions): SessionClient {
  const env: Env = options.env ?? processEnv()
  // eslint-disable-next-line no-restricted-syntax -- the production default of the injected clock (STYLE §5)
  const now = options.now ?? (() => Date.now())
  const store = options.store
  const lock = options.lock ?? createInProcessLock()
  const target = resolveTarget(options, env)
  const profile = target.profile
  const fetchImpl: typeof fetch = options.fetch ?? defaultFetch
  const http: HttpOptions = { fetch: fetchImpl, ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}) }
  const debug = createDebug(options.debug, env)
  // The last DPoP-Nonce of each server (token service and APIs alike), and one handle per key, so
  // the key is imported once per process rather than once per request.
  const nonces: DpopNonces = new Map()
  const dpopHandles = new Map<string, DpopHandle>()
  const dpopFor = (session: StoredSession): DpopHandle | undefined => (session.dpop ? handleOf(session.dpop) : undefined)
  function handleOf(record: DpopKeyRecord): DpopHandle {
    let handle = dpopHandles.get(record.jkt)
    if (!handle) {
      handle = createDpopHandle(record, { now, nonces, ...(options.randomId ? { randomId: options.randomId } : {}) })
      dpopHandles.set(record.jkt, handle)
    }
    return handle
  }
  const refresher = createRefresher({
    dpopFor,
    store,
    lock,
    now,
    fetch: fetchImpl,
    http,
    debug,
    leewayMs: (options.leewaySeconds ?? 30) * 1000,
    backstopMs: (options.refreshBackstopSeconds ?? 60) * 1000,
  })
  /** Set by a login (or found in the store), so this client keeps using that issuer. */
  let knownIssuer: string | undefined

  const envToken = () => nonBlank(env.EVERGREEN_TOKEN?.trim())

  async function resolveKey(): Promise<SessionKey | undefined> {
    const key = await resolveSessionKey({ profile, issuer: knownIssuer ?? target.issuer }, store)
    // Remembered, so the hot path lists the store once per client rather than on every call.
    if (key && knownIssuer === undefined && target.issuer === undefined) knownIssuer = key.issuer
    return key
  }

  async function getValidToken(): Promise<string> {
    const fromEnv = envToken()
    if (fromEnv !== undefined) {
      debug({ type: 'token_from_env' })
      return fromEnv
    }
    const key = await resolveKey()
    if (!key) throw notLoggedIn(profile)
    const session = await store.read(key)
    if (!session) throw notLoggedIn(profile, key)
    const need = refresher.need(session)
    if (need === undefined) {
      debug({ type: 'token_from_store', access_expires_in_s: secondsLeft(session.access_token_expires_at) })
      return session.access_token
    }
    if (!isRenewable(session)) {
      // Nothing to refresh with: use the token to its last second, then say so.
      if (now() < session.access_token_expires_at) return session.access_token
      throw accessOnlyExpired(session, profile)
    }
    debug({
      type: 'refresh_needed',
      reason: need,
      access_expires_in_s: secondsLeft(session.access_token_expires_at),
      ...(session.refresh_token_expires_at !== undefined ? { refresh_expires_in_s: secondsLeft(session.refresh_token_expires_at) } : {}),
    })
    return refresher.singleFlight(key, need)
  }

  async function refresh(opts: { force?: boolean } = {}): Promise<string> {
    if (!opts.force) return getValidToken()
    const key = await resolveKey()
    if (!key) throw notLoggedIn(profile)
    const session = await store.read(key)
    if (!session) throw notLoggedIn(profile, key)
    if (!isRenewable(session)) {
      if (now() < session.access_token_expires_at) {
        throw new AuthError(
          'access_only_expired',
          `this session is a raw access token and cannot be refreshed; it expires at ${new Date(session.access_token_expires_at).toISOString()}`,
          { issuer: session.issuer, profile, expiresAt: session.access_token_expires_at },
        )
      }
      throw accessOnlyExpired(session, profile)
    }
    debug({ type: 'refresh_needed', reason: 'forced', access_expires_in_s: secondsLeft(session.access_token_expires_at) })
    return refresher.singleFlight(key, 'forced')
  }

  const clientFetch = createAuthenticatedFetch({
    fetch: fetchImpl,
    getToken: getValidToken,
    async canRenew() {
      if (envToken() !== undefined) return false
      const key = await resolveKey()
      const session = key ? await store.read(key) : undefined
      return session !== undefined && isRenewable(session)
    },
    async renew(refused) {
      // Refreshes once, unless another caller already replaced the refused token.
      const key = await resolveKey()
      if (!key) throw notLoggedIn(profile)
      return refresher.singleFlight(key, 'unauthorized_retry', refused)
    },
    async dpopFor(token) {
      if (envToken() !== undefined) return undefined
      const key = await resolveKey()
      const session = key ? await store.read(key) : undefined
      // Only the token this session holds, and only when it is itself DPoP-bound (RFC 9449 §7);
      // a bound session whose access tokens are Bearer sends them as Bearer.
      if (!session || session.access_token !== token || session.token_type !== 'DPoP') return undefined
      return dpopFor(session)
    },
  })

  async function logout(): Promise<LogoutResult> {
    const key = await resolveKey()
    if (!key) return { wasLoggedIn: false, revocation: 'not_logged_in' }
    return lock.withLock(key, async () => {
      let session: StoredSession | undefined
      try {
        session = await store.read(key)
      } catch (err) {
        // A corrupt entry is exactly what logout should clear.
        if (!(err instanceof StorageError && err.code === 'STORAGE_CORRUPT')) throw err
        await store.delete(key)
        return { wasLoggedIn: true, revocation: 'failed', error: err }
      }
      if (!session) return { wasLoggedIn: false, revocation: 'not_logged_in' }
      let result: LogoutResult = { wasLoggedIn: true, revocation: 'skipped' }
      const stored = session
      if (isRenewable(stored)) {
        try {
          const as = await discover(stored.issuer, fetchImpl, http)
          // A bound session's token is revoked with a proof of its key (a nonce challenge once).
          const dpop = dpopFor(stored)
          const revoke = () => revocationRequest(as, stored.client_id, stored.refresh_token, { ...http, tokenTypeHint: 'refresh_token', dpop })
          await processRevocationResponse(await sendWithDpopNonceRetry(dpop, as.revocation_endpoint ?? as.token_endpoint, revoke))
          result = { wasLoggedIn: true, revocation: 'revoked' }
        } catch (err) {
          result = { wasLoggedIn: true, revocation: 'failed', error: err instanceof Error ? err : new Error(String(err)) }
        }
      }
      // Deleted whatever the server said: the user asked for this machine to forget the session.
      await store.delete(key)
      debug({ type: 'session_deleted', why: 'logout' })
      if (knownIssuer === key.issuer) knownIssuer = undefined
      return result
    })
  }

  async function status(): Promise<SessionStatus> {
    const base = { store: store.describe(), profile }
    const fromEnv = envToken() !== undefined
    const key = await resolveKey()
    const session = key ? await store.read(key) : undefined
    if (!key || !session) return { ...base, source: fromEnv ? 'env' : 'none', ...(key ? { issuer: key.issuer } : {}) }
    const location = store.locate?.(key)
    const s: SessionStatus = {
      ...base,
      ...(location !== undefined ? { location } : {}),
      source: fromEnv ? 'env' : 'store',
      issuer: session.issuer,
      client_id: session.client_id,
      renewable: isRenewable(session),
      token_type: session.token_type,
      access_token_expires_at: session.access_token_expires_at,
    }
    if (session.dpop) {
      s.dpop_jkt = session.dpop.jkt
      s.dpop_bound_at_issuance = session.dpop.bound_at_issuance
    }
    if (session.account) s.account = session.account
    if (session.refresh_token_expires_at !== undefined) s.refresh_token_expires_at = session.refresh_token_expires_at
    if (session.scope !== undefined) s.scope = session.scope
    return s
  }

  async function sessionDpop(): Promise<DpopHandle | undefined> {
    if (envToken() !== undefined) return undefined
    const key = await resolveKey()
    const session = key ? await store.read(key) : undefined
    return session ? dpopFor(session) : undefined
  }

  async function loginWithCredential(text: string, opts: { issuer?: string; clientId?: string } = {}): Promise<LoginResult> {
    const explicitIssuer = opts.issuer ?? options.issuer
    // Loaded on use: `evergreen token` and other callers of a stored session never log in.
    const [{ loginWithInput }, { parseLoginInput }] = await Promise.all([import('./credential-login.js'), import('./login-input.js')])
    const login = await loginWithInput(parseLoginInput(text), {
      store,
      lock,
      now,
      fetch: fetchImpl,
      http,
      profile,
      issuer: explicitIssuer,
      envIssuer: nonBlank(env.EVERGREEN_ISSUER),
      clientId: opts.clientId ?? options.clientId ?? nonBlank(env.EVERGREEN_CLIENT_ID),
      dpop: options.dpop ?? false,
      nonces,
    })
    knownIssuer = login.key.issuer
    return { ...login, status: await status() }
  }

  function secondsLeft(at: number): number {
    return Math.round((at - now()) / 1000)
  }

  return { profile, resolveKey, getValidToken, refresh, logout, status, fetch: clientFetch, sessionDpop, loginWithCredential }
}

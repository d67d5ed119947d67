import { decodeCredential, isWellFormedRefreshToken } from '@evergreen/core'
import { decodeJwt } from 'jose'
import { createDebug, type DebugHook, type RefreshReason } from './debug.js'
import {
  AuthError,
  authErrorFromRefusal,
  ConfigError,
  CredentialError,
  EvergreenClientError,
  OAuthResponseError,
  StorageError,
} from './errors.js'
import { createInProcessLock } from './lock.js'
import {
  discover,
  processRevocationResponse,
  processTokenResponse,
  refreshTokenRequest,
  revocationRequest,
  type HttpOptions,
} from './protocol.js'
import { accountOf, isRenewable, sessionFromTokenResponse, type SessionAccount, type StoredSession } from './session.js'
import {
  DEFAULT_PROFILE,
  keyId,
  normalizeKey,
  type SessionKey,
  type SessionLock,
  type SessionStore,
  type StoreDescription,
} from './store/types.js'

type Env = Record<string, string | undefined>

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
}

/** What `evergreen status` prints. Never contains a token. */
export interface SessionStatus {
  /** `env` when EVERGREEN_TOKEN overrides the store. */
  source: 'env' | 'store' | 'none'
  store: StoreDescription
  profile: string
  issuer?: string
  client_id?: string
  account?: SessionAccount
  /** False for an access-only session (a pasted JWT). */
  renewable?: boolean
  access_token_expires_at?: number
  refresh_token_expires_at?: number
  scope?: string
}

export interface LoginResult {
  kind: 'credential' | 'refresh_token' | 'access_token'
  key: SessionKey
  status: SessionStatus
  /** Set for an access-only login: when it dies and how to get a renewable credential. */
  warning?: string
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
  /** An access token good for at least the leeway, refreshing under the lock only when needed. */
  getValidToken(): Promise<string>
  /** Refreshes when needed, or always with `force`; returns the access token. */
  refresh(options?: { force?: boolean }): Promise<string>
  logout(): Promise<LogoutResult>
  status(): Promise<SessionStatus>
  /** `fetch` with `Authorization: Bearer`; on 401 refreshes once and retries a replayable request once. */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>
  loginWithCredential(text: string, options?: { issuer?: string; clientId?: string }): Promise<LoginResult>
}

// Module-level so every client in a process shares one discovery cache entry per issuer.
const DEFAULT_FETCH: typeof fetch = (input, init) => globalThis.fetch(input, init)

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

/**
 * Creates the session client a CLI or agent embeds (DESIGN.md "Client behaviour").
 *
 * The hot path — a stored access token with more than `leewaySeconds` left and a refresh token
 * not within `refreshBackstopSeconds` of its expiry — takes no lock and makes no request. Otherwise
 * callers in this process share one refresh (single flight), which runs under `lock` and re-reads
 * the store first, because another process may have refreshed while we waited: one network
 * refresh for N concurrent callers, in one process or many.
 *
 * @example
 * const { store, lock } = await openDefaultStore()
 * const client = createSessionClient({ store, lock })
 * const res = await client.fetch('https://api.example.com/me')
 */
export function createSessionClient(options: SessionClientOptions): SessionClient {
  const env: Env = options.env ?? (globalThis as { process?: { env?: Env } }).process?.env ?? {}
  // eslint-disable-next-line no-restricted-syntax -- the production default of the injected clock (STYLE §5)
  const now = options.now ?? (() => Date.now())
  const store = options.store
  const lock = options.lock ?? createInProcessLock()
  const leewayMs = (options.leewaySeconds ?? 30) * 1000
  const backstopMs = (options.refreshBackstopSeconds ?? 60) * 1000
  const profile = options.profile ?? nonEmpty(env.EVERGREEN_PROFILE) ?? DEFAULT_PROFILE
  const http: HttpOptions = { ...(options.fetch ? { fetch: options.fetch } : {}), ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}) }
  const fetchImpl: typeof fetch = options.fetch ?? DEFAULT_FETCH
  const debug = createDebug(options.debug, env)
  const inflight = new Map<string, Promise<string>>()
  /** Set by a login (or found in the store), so this client keeps using that issuer. */
  let knownIssuer: string | undefined

  const envToken = () => nonEmpty(env.EVERGREEN_TOKEN?.trim())

  async function resolveKey(): Promise<SessionKey | undefined> {
    const issuer = knownIssuer ?? options.issuer ?? nonEmpty(env.EVERGREEN_ISSUER)
    if (issuer !== undefined) return normalizeKey({ issuer, profile })
    const keys = (await store.list()).filter((k) => k.profile === profile)
    if (keys.length === 0) return undefined
    if (keys.length > 1) {
      throw new ConfigError(
        'CONFIG_AMBIGUOUS_ISSUER',
        `profile "${profile}" has sessions with ${keys.length} issuers (${keys.map((k) => k.issuer).join(', ')}); choose one with --issuer or EVERGREEN_ISSUER`,
      )
    }
    // Remembered, so the hot path lists the store once per client rather than on every call.
    knownIssuer = keys[0]!.issuer
    return keys[0]!
  }

  /** Why the session needs a refresh now, or undefined when its access token is good to use. */
  function refreshNeed(session: StoredSession): Exclude<RefreshReason, 'forced' | 'unauthorized_retry'> | undefined {
    const t = now()
    // A token that lives shorter than twice the leeway would be refreshed on every call; use half
    // its lifetime then.
    const lifetime = session.access_token_expires_at - session.obtained_at
    const leeway = Math.min(leewayMs, Math.max(0, lifetime / 2))
    if (session.access_token_expires_at - t <= leeway) return 'access_expiring'
    if (isRenewable(session) && session.refresh_token_expires_at !== undefined && session.refresh_token_expires_at - t <= backstopMs) {
      return 'refresh_backstop'
    }
    return undefined
  }

  function notLoggedIn(key?: SessionKey): AuthError {
    const where = key ? ` to ${key.issuer}` : ''
    const flag = profile === DEFAULT_PROFILE ? '' : ` --profile ${profile}`
    return new AuthError('not_logged_in', `not logged in${where}${flag ? ` (profile ${profile})` : ''}; run \`evergreen login${flag}\``)
  }

  function accessOnlyExpired(session: StoredSession): AuthError {
    return new AuthError(
      'access_only_expired',
      `the stored access token expired at ${new Date(session.access_token_expires_at).toISOString()} and cannot be renewed (it was a raw access token, not a login credential). ` +
        `Get a renewable credential at ${session.issuer}/settings/cli and run \`evergreen login --token <credential>\``,
    )
  }

  async function getValidToken(): Promise<string> {
    const fromEnv = envToken()
    if (fromEnv !== undefined) {
      debug({ type: 'token_from_env' })
      return fromEnv
    }
    const key = await resolveKey()
    if (!key) throw notLoggedIn()
    const session = await store.read(key)
    if (!session) throw notLoggedIn(key)
    const need = refreshNeed(session)
    if (need === undefined) {
      debug({ type: 'token_from_store', access_expires_in_s: secondsLeft(session.access_token_expires_at) })
      return session.access_token
    }
    if (!isRenewable(session)) {
      // Nothing to refresh with: use the token to its last second, then say how to get a real one.
      if (now() < session.access_token_expires_at) return session.access_token
      throw accessOnlyExpired(session)
    }
    debug({
      type: 'refresh_needed',
      reason: need,
      access_expires_in_s: secondsLeft(session.access_token_expires_at),
      ...(session.refresh_token_expires_at !== undefined ? { refresh_expires_in_s: secondsLeft(session.refresh_token_expires_at) } : {}),
    })
    return singleFlight(key, need)
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
      if (!current) throw notLoggedIn(key)
      if (!isRenewable(current)) {
        if (now() < current.access_token_expires_at && current.access_token !== staleAccessToken) return current.access_token
        throw accessOnlyExpired(current)
      }
      const replaced = staleAccessToken === undefined || current.access_token !== staleAccessToken
      if (reason !== 'forced' && replaced && refreshNeed(current) === undefined) {
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
      const as = await discover(current.issuer, fetchImpl, http)
      // Expiry counts from when the request left, not when the answer came: never later than the
      // server's own reckoning, whatever the network delay.
      const sentAt = now()
      const tokens = await processTokenResponse(await refreshTokenRequest(as, current.client_id, current.refresh_token, http))
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
          if (refreshNeed(latest) === undefined) {
            debug({ type: 'refresh_skipped', reason: 'reread_fresh' })
            return latest.access_token
          }
          if (!retried) return refreshOverNetwork(key, latest, reason, true)
        }
        throw authErrorFromRefusal(err)
      }
      if (err instanceof OAuthResponseError && err.error === 'invalid_grant') {
        // Delete only what the server refused: if the store now holds another refresh token (a
        // writer that raced us despite the lock), that session is not ours to wipe — seed 002.
        const latest = await store.read(key).catch(() => undefined)
        if (latest && latest.refresh_token === current.refresh_token) {
          await store.delete(key)
          debug({ type: 'session_deleted', why: `invalid_grant${err.error_reason ? `:${err.error_reason}` : ''}` })
        } else if (latest && isRenewable(latest) && refreshNeed(latest) === undefined) {
          debug({ type: 'refresh_skipped', reason: 'reread_fresh' })
          return latest.access_token
        }
        throw authErrorFromRefusal(err)
      }
      throw err
    }
  }

  async function refresh(opts: { force?: boolean } = {}): Promise<string> {
    if (!opts.force) return getValidToken()
    const key = await resolveKey()
    if (!key) throw notLoggedIn()
    const session = await store.read(key)
    if (!session) throw notLoggedIn(key)
    if (!isRenewable(session)) {
      if (now() < session.access_token_expires_at) {
        throw new AuthError(
          'access_only_expired',
          `this session is a raw access token and cannot be refreshed; it expires at ${new Date(session.access_token_expires_at).toISOString()}. ` +
            `Get a renewable credential at ${session.issuer}/settings/cli`,
        )
      }
      throw accessOnlyExpired(session)
    }
    debug({ type: 'refresh_needed', reason: 'forced', access_expires_in_s: secondsLeft(session.access_token_expires_at) })
    return singleFlight(key, 'forced')
  }

  async function clientFetch(input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> {
    const token = await getValidToken()
    const first = await fetchImpl(input, withBearer(input, init, token))
    if (first.status !== 401 || envToken() !== undefined || !isReplayable(input, init)) return first
    const key = await resolveKey()
    const session = key ? await store.read(key) : undefined
    if (!key || !session || !isRenewable(session)) return first
    // The token was refused before its time (revoked key, server clock ahead): refresh once, unless
    // another process already did, and retry once. A second 401 goes back to the caller.
    await first.body?.cancel()
    const fresh = await singleFlight(key, 'unauthorized_retry', token)
    return fetchImpl(input, withBearer(input, init, fresh))
  }

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
      if (isRenewable(session)) {
        try {
          const as = await discover(session.issuer, fetchImpl, http)
          await processRevocationResponse(await revocationRequest(as, session.client_id, session.refresh_token, { ...http, tokenTypeHint: 'refresh_token' }))
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
    const s: SessionStatus = {
      ...base,
      source: fromEnv ? 'env' : 'store',
      issuer: session.issuer,
      client_id: session.client_id,
      renewable: isRenewable(session),
      access_token_expires_at: session.access_token_expires_at,
    }
    if (session.account) s.account = session.account
    if (session.refresh_token_expires_at !== undefined) s.refresh_token_expires_at = session.refresh_token_expires_at
    if (session.scope !== undefined) s.scope = session.scope
    return s
  }

  async function loginWithCredential(text: string, opts: { issuer?: string; clientId?: string } = {}): Promise<LoginResult> {
    const input = text.trim()
    const explicitIssuer = opts.issuer ?? options.issuer
    if (/^egc\d+_/.test(input)) {
      const parsed = decodeCredential(input)
      if (!parsed.ok) {
        throw parsed.error === 'unsupported_version'
          ? new CredentialError('CREDENTIAL_UNSUPPORTED_VERSION', 'this login credential is from a newer version of Evergreen; update the CLI')
          : new CredentialError('CREDENTIAL_MALFORMED', 'this login credential is damaged (was it cut short when pasted?)')
      }
      const { iss, client_id, refresh_token } = parsed.value
      if (explicitIssuer !== undefined && trimSlash(explicitIssuer) !== trimSlash(iss)) {
        // Never send a refresh token to an issuer other than the one that minted it.
        throw new ConfigError('CONFIG_ISSUER_MISMATCH', `the credential belongs to ${iss}, not ${explicitIssuer}; drop --issuer, the credential says where it belongs`)
      }
      return loginWithRefreshToken('credential', iss, client_id, refresh_token)
    }
    if (input.startsWith('egr_')) {
      if (!isWellFormedRefreshToken(input)) {
        throw new CredentialError('CREDENTIAL_MALFORMED', 'this refresh token fails its checksum (was it cut short when pasted?)')
      }
      const issuer = explicitIssuer ?? nonEmpty(env.EVERGREEN_ISSUER)
      if (issuer === undefined) throw new ConfigError('CONFIG_ISSUER_REQUIRED', 'a bare refresh token needs --issuer (or use the egc1_ credential from /settings/cli, which carries it)')
      const clientId = opts.clientId ?? options.clientId ?? nonEmpty(env.EVERGREEN_CLIENT_ID)
      if (clientId === undefined) throw new ConfigError('CONFIG_CLIENT_ID_REQUIRED', 'a bare refresh token needs --client-id (or use the egc1_ credential from /settings/cli, which carries it)')
      return loginWithRefreshToken('refresh_token', issuer, clientId, input)
    }
    if (JWT_SHAPE.test(input)) return loginWithAccessToken(input, opts)
    throw new CredentialError('CREDENTIAL_UNRECOGNIZED', 'not a login credential: expected an egc1_ credential, an egr_ refresh token or a JWT access token')
  }

  async function loginWithRefreshToken(kind: 'credential' | 'refresh_token', issuer: string, clientId: string, refreshToken: string): Promise<LoginResult> {
    const key = normalizeKey({ issuer, profile })
    // Refresh at once: proves the token works, and spends the pasted copy (it may sit in shell
    // history) in exchange for one only the store holds.
    await lock.withLock(key, async () => {
      const as = await discover(key.issuer, fetchImpl, http)
      const sentAt = now()
      let tokens
      try {
        tokens = await processTokenResponse(await refreshTokenRequest(as, clientId, refreshToken, http))
      } catch (err) {
        // A refused login leaves whatever was stored before untouched.
        if (err instanceof OAuthResponseError && err.error === 'invalid_grant') throw authErrorFromRefusal(err)
        throw err
      }
      await store.write(key, sessionFromTokenResponse(tokens, { issuer: key.issuer, clientId, receivedAt: sentAt }))
    })
    knownIssuer = key.issuer
    return { kind, key, status: await status() }
  }

  async function loginWithAccessToken(jwt: string, opts: { issuer?: string; clientId?: string }): Promise<LoginResult> {
    let claims: ReturnType<typeof decodeJwt>
    try {
      claims = decodeJwt(jwt)
    } catch {
      throw new CredentialError('CREDENTIAL_MALFORMED', 'this looks like a JWT but its claims cannot be read')
    }
    if (typeof claims.exp !== 'number') throw new CredentialError('CREDENTIAL_MALFORMED', 'this access token has no expiry (exp) claim')
    const claimedIssuer = typeof claims.iss === 'string' ? claims.iss : undefined
    const explicit = opts.issuer ?? options.issuer
    if (explicit !== undefined && claimedIssuer !== undefined && trimSlash(explicit) !== trimSlash(claimedIssuer)) {
      throw new ConfigError('CONFIG_ISSUER_MISMATCH', `the access token was issued by ${claimedIssuer}, not ${explicit}`)
    }
    const issuer = explicit ?? claimedIssuer ?? nonEmpty(env.EVERGREEN_ISSUER)
    if (issuer === undefined) throw new ConfigError('CONFIG_ISSUER_REQUIRED', 'this access token names no issuer; pass --issuer')
    const key = normalizeKey({ issuer, profile })
    // A pasted JWT comes with no expires_in, so its own exp is all there is. It is used for the
    // message and as the last moment to hand it out; if this clock is off, the API's 401 decides.
    const expiresAt = claims.exp * 1000
    const t = now()
    const clientId =
      typeof claims.client_id === 'string' ? claims.client_id : typeof claims.azp === 'string' ? claims.azp : (opts.clientId ?? options.clientId ?? '')
    const session: StoredSession = { version: 1, issuer: key.issuer, client_id: clientId, access_token: jwt, access_token_expires_at: expiresAt, token_type: 'Bearer', obtained_at: t }
    const account = accountOf(jwt)
    if (account) session.account = account
    if (typeof claims.scope === 'string') session.scope = claims.scope
    if (expiresAt <= t) throw accessOnlyExpired(session)
    await lock.withLock(key, () => store.write(key, session))
    knownIssuer = key.issuer
    const warning =
      `This is an access token, not a login credential: it cannot be renewed and stops working at ${new Date(expiresAt).toISOString()} ` +
      `(in ${humanDuration(expiresAt - t)}). For a session that renews itself, mint a CLI credential at ${key.issuer}/settings/cli ` +
      'and run `evergreen login --token <credential>`.'
    return { kind: 'access_token', key, status: await status(), warning }
  }

  function secondsLeft(at: number): number {
    return Math.round((at - now()) / 1000)
  }

  return { getValidToken, refresh, logout, status, fetch: clientFetch, loginWithCredential }
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

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '')
}

function humanDuration(ms: number): string {
  const minutes = Math.round(ms / 60_000)
  if (minutes < 1) return 'less than a minute'
  if (minutes < 120) return `${minutes} minute${minutes === 1 ? '' : 's'}`
  const hours = Math.round(minutes / 60)
  if (hours < 48) return `${hours} hours`
  return `${Math.round(hours / 24)} days`
}

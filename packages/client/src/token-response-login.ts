import type { TokenResponse } from '@evergreen/core'
import { createInProcessLock } from './lock.js'
import { sessionFromTokenResponse, type DpopKeyRecord, type StoredSession } from './session.js'
import { DEFAULT_PROFILE, normalizeKey, type SessionKey, type SessionLock, type SessionStore } from './store/types.js'

export interface LoginWithTokenResponseOptions {
  store: SessionStore
  /** The same lock the session client uses (a CLI: the cross-process file lock). */
  lock?: SessionLock
  issuer: string
  clientId: string
  /** Default `default`. */
  profile?: string
  tokens: TokenResponse
  /** Epoch ms when the token request was sent; expiries count from here. */
  receivedAt: number
  /**
   * The DPoP key the tokens are bound to (`DeviceLogin.dpop_key`): stored in the same record, in
   * the same write, so token and key never drift apart. Required for a `DPoP` token response.
   */
  dpopKey?: DpopKeyRecord | undefined
}

/**
 * Stores a token response obtained outside the session client — a device login
 * (`startDeviceLogin(...).wait()`), an authorization-code exchange — as the session for
 * `issuer` + `profile`, replacing whatever was stored there. Written under the lock, so a refresh
 * running in another process never interleaves with the login.
 *
 * @example
 * const tokens = await login.wait()
 * await loginWithTokenResponse({ store, lock, issuer, clientId: 'evergreen-cli', tokens, receivedAt: Date.now() })
 */
export async function loginWithTokenResponse(options: LoginWithTokenResponseOptions): Promise<{ key: SessionKey; session: StoredSession }> {
  const key = normalizeKey({ issuer: options.issuer, profile: options.profile ?? DEFAULT_PROFILE })
  if (options.tokens.token_type === 'DPoP' && options.dpopKey === undefined) {
    // Storing a DPoP-bound token without its key would leave a session nothing can use or renew.
    throw Object.assign(new TypeError('a DPoP token response needs the key it is bound to (dpopKey)'), { code: 'ERR_INVALID_ARG_VALUE' })
  }
  const session = sessionFromTokenResponse(options.tokens, { issuer: key.issuer, clientId: options.clientId, receivedAt: options.receivedAt, dpop: options.dpopKey })
  const lock = options.lock ?? createInProcessLock()
  await lock.withLock(key, () => options.store.write(key, session))
  return { key, session }
}

import type { TokenResponse } from '@evergreen/core'
import { createInProcessLock } from './lock.js'
import { sessionFromTokenResponse, type StoredSession } from './session.js'
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
  const session = sessionFromTokenResponse(options.tokens, { issuer: key.issuer, clientId: options.clientId, receivedAt: options.receivedAt })
  const lock = options.lock ?? createInProcessLock()
  await lock.withLock(key, () => options.store.write(key, session))
  return { key, session }
}

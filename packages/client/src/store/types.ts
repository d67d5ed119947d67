import type { StoredSession } from '../session.js'

/**
 * Which stored session: several accounts coexist, one per issuer and profile
 * (a person with a work and a personal account).
 */
export interface SessionKey {
  /** The issuer URL, without a trailing slash. */
  issuer: string
  /** A short name: letters, digits, `.`, `_`, `-`; `default` unless the user picks one. */
  profile: string
}

/** Where sessions live, for a status display. */
export interface StoreDescription {
  backend: 'keyring' | 'file' | 'memory'
  /** A directory, a keyring service name, or `in-process`. */
  location: string
  /** Why this backend was chosen, when a chooser (openDefaultStore) picked it. */
  reason?: string
}

/**
 * Where sessions are kept. The contract, method by method:
 *
 * - `read(key)`: the session, or `undefined` when none is stored. A value that exists but cannot be
 *   read or parsed is a {@link StorageError} (`STORAGE_CORRUPT` / `STORAGE_UNAVAILABLE`), never
 *   `undefined`: a broken disk must not look like a logout.
 * - `write(key, session)`: replaces the session atomically — a reader (in any process) sees the
 *   old value or the new one, never a mix; a crash mid-write leaves the old one.
 * - `delete(key)`: removes it; `true` if something was removed. Idempotent.
 * - `list()`: every key that has a session, in no particular order.
 * - `describe()`: backend and location, for status output. Synchronous, no I/O.
 * - `locate(key)` (optional): where that key's entry lives — a file path, a keyring entry — for
 *   status output and permission checks. Synchronous, no I/O; the entry need not exist.
 *
 * Stores do not lock: read-refresh-write sequences are serialised by a {@link SessionLock}.
 */
export interface SessionStore {
  read(key: SessionKey): Promise<StoredSession | undefined>
  write(key: SessionKey, session: StoredSession): Promise<void>
  delete(key: SessionKey): Promise<boolean>
  list(): Promise<SessionKey[]>
  describe(): StoreDescription
  locate?(key: SessionKey): string
}

/**
 * Mutual exclusion per session key for a read-refresh-write sequence. `withLock` runs `fn` while
 * holding the lock and always releases it, also when `fn` throws.
 */
export interface SessionLock {
  withLock<T>(key: SessionKey, fn: () => Promise<T>): Promise<T>
}

export const DEFAULT_PROFILE = 'default'

const PROFILE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/

/**
 * Checks and normalises a key: the issuer must be an http(s) URL (trailing slashes dropped) and
 * the profile a short safe name, because both end up in file names and keyring accounts.
 *
 * @throws TypeError with code ERR_INVALID_ARG_VALUE
 */
export function normalizeKey(key: SessionKey): SessionKey {
  let issuer: string
  try {
    const url = new URL(key.issuer)
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('scheme')
    // RFC 8414 §2: an issuer has no query or fragment (and `#` separates the keyring account).
    if (url.search !== '' || url.hash !== '' || key.issuer.includes('#') || key.issuer.includes('?')) throw new Error('query')
    issuer = key.issuer.replace(/\/+$/, '')
  } catch {
    throw invalidArg(`issuer must be an http(s) URL without query or fragment, got ${JSON.stringify(key.issuer)}`)
  }
  if (!PROFILE.test(key.profile)) {
    throw invalidArg(`profile must be 1-64 letters, digits, ".", "_" or "-" (not starting with "." or "-"), got ${JSON.stringify(key.profile)}`)
  }
  return { issuer, profile: key.profile }
}

/** A stable string form of a key, `${issuer}#${profile}` (also the keyring account name). */
export function keyId(key: SessionKey): string {
  return `${key.issuer}#${key.profile}`
}

function invalidArg(message: string): TypeError {
  return Object.assign(new TypeError(message), { code: 'ERR_INVALID_ARG_VALUE' })
}

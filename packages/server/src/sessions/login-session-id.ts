import { hashSecret } from '../crypto/hash.js'
import type { LoginSessionRecord } from '../store/types.js'

/**
 * The id a browser sign-in is shown and addressed by (on /settings/sessions and in the admin API).
 * Derived from the stored hash rather than the hash itself, which is the lookup key for the
 * cookie: the id names a sign-in without being usable to find it from outside.
 */
export function loginSessionId(login: Pick<LoginSessionRecord, 'hash'>): string {
  return `lgs_${hashSecret(`evergreen/login-session-id\0${login.hash}`).slice(0, 32)}`
}

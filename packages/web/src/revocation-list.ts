/** A session the identity provider (or this app) has ended before its tokens expire. */
export type Revocation =
  /** One session, by the `sid` in its tokens. */
  | { sid: string }
  /** Every session of a user that signed in at or before `before` (epoch seconds). */
  | { sub: string; before: number }

/** What the middleware knows about a session when it asks whether it is revoked. */
export interface SessionIdentity {
  sid: string | undefined
  sub: string
  /** When the person signed in to this app (epoch seconds). */
  loginAt: number
}

/**
 * Where revoked sessions are listed. The middleware asks on every request, so `isRevoked` is
 * synchronous: an implementation shared between processes keeps a local mirror (see
 * `@evergreen/web/redis`) rather than asking a server per request.
 *
 * Contract, method by method:
 * - `isRevoked(identity)` — true when `identity.sid` is listed, or `identity.sub` is listed with
 *   `before >= identity.loginAt`. Never throws; no I/O.
 * - `revoke(entry, ttlSeconds)` — lists `entry` for `ttlSeconds`; visible to `isRevoked` in this
 *   process when the promise resolves, in others soon after (the Redis list: within a second).
 * - `claimOnce(key, ttlSeconds)` — true the first time `key` is claimed within `ttlSeconds`,
 *   false after; back-channel logout uses it to refuse a replayed `jti`.
 */
export interface RevocationList {
  isRevoked(identity: SessionIdentity): boolean
  revoke(entry: Revocation, ttlSeconds: number): Promise<void>
  claimOnce(key: string, ttlSeconds: number): Promise<boolean>
}

/**
 * A bounded map of entries with expiry, oldest dropped first when full. Shared by the memory list
 * and the Redis list's local mirror.
 */
export class ExpiringSet {
  private readonly entries = new Map<string, { expiresAt: number; value: number }>()
  constructor(
    private readonly now: () => number,
    private readonly max: number,
  ) {}

  set(key: string, value: number, expiresAt: number): void {
    this.entries.delete(key)
    this.entries.set(key, { expiresAt, value })
    while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!)
  }

  /** The stored value, or undefined when absent or expired. */
  get(key: string): number | undefined {
    const e = this.entries.get(key)
    if (!e) return undefined
    if (e.expiresAt <= this.now()) {
      this.entries.delete(key)
      return undefined
    }
    return e.value
  }

  get size(): number {
    return this.entries.size
  }
}

/** The map key of a revocation entry; `value` is `before` for a user entry, 0 for a session. */
export function revocationKey(entry: Revocation): { key: string; value: number } {
  return 'sid' in entry ? { key: `sid:${entry.sid}`, value: 0 } : { key: `sub:${entry.sub}`, value: entry.before }
}

/** Checks an identity against a set filled with {@link revocationKey} entries. */
export function isListed(set: ExpiringSet, identity: SessionIdentity): boolean {
  if (identity.sid !== undefined && set.get(`sid:${identity.sid}`) !== undefined) return true
  const before = set.get(`sub:${identity.sub}`)
  return before !== undefined && identity.loginAt <= before
}

/**
 * The default revocation list: this process only, at most `max` entries (default 100,000; the
 * oldest are dropped first, so a flood of back-channel logouts cannot exhaust memory).
 *
 * @example createEvergreenWeb({ ...options, revocationList: createMemoryRevocationList({ now }) })
 */
export function createMemoryRevocationList(options: { now: () => number; max?: number }): RevocationList {
  const revoked = new ExpiringSet(options.now, options.max ?? 100_000)
  const claimed = new ExpiringSet(options.now, options.max ?? 100_000)
  return {
    isRevoked: (identity) => isListed(revoked, identity),
    async revoke(entry, ttlSeconds) {
      const { key, value } = revocationKey(entry)
      revoked.set(key, Math.max(value, revoked.get(key) ?? 0), options.now() + ttlSeconds)
    },
    async claimOnce(key, ttlSeconds) {
      if (claimed.get(key) !== undefined) return false
      claimed.set(key, 1, options.now() + ttlSeconds)
      return true
    },
  }
}

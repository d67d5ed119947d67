import { ResourceError } from './errors.js'

/**
 * Remembers DPoP proof `jti`s for as long as the proof could be accepted (RFC 9449 §11.1).
 * `use` returns false when the `jti` was already used. Implement it over a shared store (Redis
 * `SET key 1 NX EXAT expiresAt`, say) when several processes serve one resource.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-11.1
 */
export interface ReplayCache {
  /** Records `jti` until `expiresAt` (epoch seconds); false when it is already recorded. */
  use(jti: string, expiresAt: number): boolean | Promise<boolean>
}

/** The default bound on remembered proofs in one process. */
export const DEFAULT_REPLAY_CACHE_SIZE = 100_000

/**
 * The per-process replay cache: a bounded map of `jti` → expiry. A proof is recorded only after
 * everything else about the request checked out — a valid access token bound to the proof's key —
 * so only a holder of a live DPoP-bound token can fill it. When it is full of live entries it
 * refuses new proofs (`REPLAY_CACHE_FULL`, 503) rather than evicting one: evicting would reopen
 * the replay window for the evicted proof.
 *
 * Per process is acceptable for one process per resource: a proof names the method, the URL and
 * the access token's hash, and lives about a minute, so a replay at another process could only
 * repeat the same request with the same token within that minute. Several processes behind a load
 * balancer should pass a shared {@link ReplayCache} to close even that.
 *
 * @param now the injected clock, epoch seconds
 * @example createMemoryReplayCache(() => Math.floor(Date.now() / 1000), 10_000)
 */
export function createMemoryReplayCache(now: () => number, maxSize = DEFAULT_REPLAY_CACHE_SIZE): ReplayCache {
  const seen = new Map<string, number>()
  return {
    use(jti, expiresAt) {
      const t = now()
      const previous = seen.get(jti)
      if (previous !== undefined && previous >= t) return false
      if (previous === undefined && seen.size >= maxSize) {
        for (const [key, exp] of seen) if (exp < t) seen.delete(key)
        if (seen.size >= maxSize) throw new ResourceError('REPLAY_CACHE_FULL', 'too many recent DPoP proofs; retry shortly')
      }
      seen.delete(jti)
      seen.set(jti, expiresAt)
      return true
    },
  }
}

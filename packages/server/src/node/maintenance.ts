import type { Deps } from '../deps.js'

export interface MaintenanceOptions {
  /**
   * How often to re-read signing keys, so a rotation or a revocation on another node is seen.
   * 10 s by default: a revoked (compromised) key must stop verifying everywhere promptly, and the
   * read is one small query.
   */
  keyReloadSeconds?: number
  /**
   * How often to delete expired tokens, codes and browser sessions, and the used ids of client
   * assertions and DPoP proofs (their shared replay cache; docs/architecture.md "DPoP binding").
   */
  pruneSeconds?: number
  /**
   * How long expired rows are kept: a day, so a refresh token replayed shortly after it expired
   * still meets its row (and reuse detection) rather than "not found".
   */
  retainSeconds?: number
}

/**
 * Background upkeep of a running node. Timers are unref'd so they never keep the process alive,
 * and a failing round is logged and retried next time: upkeep must never take the service down.
 */
export function startMaintenance(deps: Deps, options: MaintenanceOptions = {}): () => void {
  const { keyReloadSeconds = 10, pruneSeconds = 3600, retainSeconds = 86_400 } = options
  const reload = setInterval(() => {
    deps.keys.reload().catch((err: unknown) => deps.logger.warn({ err }, 'signing-key reload failed'))
  }, keyReloadSeconds * 1000)
  const prune = setInterval(() => {
    deps.store
      .pruneExpired(deps.now() - retainSeconds)
      .then((removed) => {
        if (removed > 0) deps.logger.info({ removed }, 'pruned expired rows')
      })
      .catch((err: unknown) => deps.logger.warn({ err }, 'pruning failed'))
  }, pruneSeconds * 1000)
  reload.unref()
  prune.unref()
  return () => {
    clearInterval(reload)
    clearInterval(prune)
  }
}

import { auditEvent } from '../audit.js'
import type { Deps } from '../deps.js'
import { revokedWithParent } from '../sessions/revoke.js'

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
    sweepExpiredClients(deps)
      .then((deleted) => {
        if (deleted > 0) deps.logger.info({ deleted }, 'deleted expired registered clients')
      })
      .catch((err: unknown) => deps.logger.warn({ err }, 'sweeping expired clients failed'))
  }, pruneSeconds * 1000)
  reload.unref()
  prune.unref()
  return () => {
    clearInterval(reload)
    clearInterval(prune)
  }
}

/** Clients deleted per sweep round; the rest wait for the next round. */
const SWEEP_BATCH = 100

/**
 * Deletes dynamically registered clients whose unused expiry passed (EVERGREEN_REGISTERED_CLIENT_TTL):
 * through `deleteClient`, so their sessions are revoked and back-channel logouts queued as for an
 * operator's deletion, with a `client.deleted` audit event saying why. They already answer
 * `invalid_client` from the moment they expire; this only clears them out.
 *
 * @returns how many were deleted
 * @example await sweepExpiredClients(deps) // 3
 */
export async function sweepExpiredClients(deps: Deps): Promise<number> {
  const now = deps.now()
  let deleted = 0
  for (const clientId of await deps.store.listExpiredClients(now, SWEEP_BATCH)) {
    const audit = auditEvent(deps, 'client.deleted', { client_id: clientId, data: { reason: 'expired' } })
    if (await deps.store.deleteClient(clientId, now, audit, revokedWithParent(deps, null))) deleted++
  }
  return deleted
}

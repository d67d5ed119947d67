import type { WebConfig } from './config.js'
import type { Provider, RefreshOutcome } from './provider.js'
import { sha256 } from './seal.js'

/** A refresh's outcome; `shared` when another request's refresh produced it (report it once). */
export interface SharedRefresh {
  outcome: RefreshOutcome
  shared: boolean
}

/** How long a refresh's result is handed to requests still carrying the spent token. */
const RESULT_SECONDS = 10
const MAX_ENTRIES = 10_000

/**
 * One refresh per refresh token at a time, in this process. A page load fires the document and a
 * dozen fetches at once, all with the same expired access cookie; without this each would rotate
 * the same refresh token. Concurrent callers share one in-flight promise; callers that arrive
 * with the old cookie just after it settled (their request left the browser before the new
 * cookies arrived) get the same result from a short cache. Across processes the service's
 * grace window gives the identical successor, so both sides agree on the new token.
 *
 * After a failure for lack of the service, the same token is not tried again for
 * `refreshCooldown` seconds: an outage must not turn every request into a doomed token request.
 * Everything is keyed on SHA-256 of the token, so no token sits in a map key.
 */
export function createRefreshCoordinator(config: WebConfig, provider: Provider): (refreshToken: string) => Promise<SharedRefresh> {
  const inFlight = new Map<string, Promise<RefreshOutcome>>()
  const recent = new Map<string, { outcome: RefreshOutcome; until: number }>()

  const remember = (key: string, outcome: RefreshOutcome) => {
    const seconds = outcome.ok || outcome.kind === 'refused' ? RESULT_SECONDS : outcome.kind === 'unavailable' ? config.refreshCooldown : 0
    if (seconds <= 0) return
    recent.delete(key)
    while (recent.size >= MAX_ENTRIES) recent.delete(recent.keys().next().value!)
    recent.set(key, { outcome, until: config.now() + seconds })
  }

  return async function refreshOnce(refreshToken) {
    const key = await sha256(refreshToken)
    const hit = recent.get(key)
    if (hit) {
      if (hit.until > config.now()) {
        const o = hit.outcome
        return { outcome: o.ok || o.kind !== 'unavailable' ? o : { ...o, failure: 'cooldown' }, shared: true }
      }
      recent.delete(key)
    }
    const joined = inFlight.get(key)
    if (joined) return { outcome: await joined, shared: true }
    const pending = provider.refresh(refreshToken).then((outcome) => {
      remember(key, outcome)
      return outcome
    })
    inFlight.set(key, pending)
    void pending.finally(() => inFlight.delete(key))
    return { outcome: await pending, shared: false }
  }
}

import { auditEvent } from '../audit.js'
import type { Deps } from '../deps.js'
import type { BackchannelLogoutRecord } from '../store/types.js'
import { signLogoutToken } from './logout-token.js'

export interface BackchannelSenderOptions {
  /** Defaults to the global fetch; tests pass their own to count or fail requests. */
  fetch?: typeof fetch
  /** How often to look for rows queued by other processes or before a restart. */
  pollMs?: number
  /** Rows leased per round. */
  batchSize?: number
  /** How long a claimed row is ours; raised to cover two delivery timeouts whatever is asked. */
  leaseSeconds?: number
}

export interface BackchannelSender {
  /**
   * One round: trims the outbox to its cap, leases the due rows and delivers them in parallel.
   * Resolves when every delivery it started has been recorded.
   */
  runOnce(): Promise<{ delivered: number; failed: number }>
  /** Polls every `pollMs` and runs a round at once whenever this process revokes a session. */
  start(): void
  /** Stops polling, aborts the deliveries in flight (they are retried later) and waits for them to be recorded. */
  stop(): Promise<void>
}

const MAX_BACKOFF_SECONDS = 300

/**
 * Delivers OIDC Back-Channel Logout 1.0 logout tokens from the persisted outbox that revocations
 * fill (see Store.claimBackchannelLogouts). Started by the Node entry, never by a request: a slow
 * or dead receiver costs a client its notification, never a user their response time.
 *
 * A 2xx is delivered (row deleted). Anything else — another status, a redirect (never followed:
 * the logout token must reach the registered URI and nothing else), a timeout, a refused
 * connection — is retried after 1 s, 2 s, 4 s … (capped at 5 min), until
 * `backchannelMaxAttempts` failures, then given up with a `backchannel_logout.failed` audit event.
 *
 * @example
 * const sender = createBackchannelSender(deps)
 * sender.start()
 * // on shutdown
 * await sender.stop()
 * @see https://openid.net/specs/openid-connect-backchannel-1_0.html#BCRequest
 */
export function createBackchannelSender(deps: Deps, options: BackchannelSenderOptions = {}): BackchannelSender {
  const { fetch: send = fetch, pollMs = 1000, batchSize = 50 } = options
  const { backchannelTimeoutSeconds, backchannelMaxAttempts, backchannelMaxPending } = deps.settings
  // Longer than any delivery can take, so a live worker never has a row re-leased mid-POST.
  const leaseSeconds = Math.max(options.leaseSeconds ?? 30, 2 * backchannelTimeoutSeconds + 5)
  let claiming: Promise<Promise<boolean>[]> | undefined
  let again = false
  const inflight = new Set<Promise<boolean>>()
  const stopping = new AbortController()
  let timer: ReturnType<typeof setInterval> | undefined
  let unsubscribe: (() => void) | undefined

  const trim = async () => {
    const dropped = await deps.store.trimBackchannelLogouts(backchannelMaxPending)
    if (dropped === 0) return
    deps.metrics.backchannelLogouts.inc({ outcome: 'dropped' }, dropped)
    deps.logger.warn({ dropped, max_pending: backchannelMaxPending }, 'back-channel logout outbox over its cap; oldest dropped')
    await deps.store.appendAudit(auditEvent(deps, 'backchannel_logout.dropped', { data: { dropped, max_pending: backchannelMaxPending } }))
  }

  const failed = async (row: BackchannelLogoutRecord, reason: string): Promise<void> => {
    const attempts = row.attempts + 1
    const context = { session_id: row.session_id, client_id: row.client_id, attempts, reason }
    if (attempts >= backchannelMaxAttempts) {
      deps.metrics.backchannelLogouts.inc({ outcome: 'failed' })
      deps.logger.warn(context, 'back-channel logout given up')
      await deps.store.completeBackchannelLogout(row.id, auditEvent(deps, 'backchannel_logout.failed', {
        session_id: row.session_id,
        user_id: row.user_id,
        client_id: row.client_id,
        data: { attempts, reason, origin: new URL(row.uri).origin },
      }))
      return
    }
    deps.metrics.backchannelLogouts.inc({ outcome: 'retried' })
    deps.logger.info(context, 'back-channel logout failed; will retry')
    await deps.store.retryBackchannelLogout(row.id, deps.now() + Math.min(MAX_BACKOFF_SECONDS, 2 ** (attempts - 1)))
  }

  const deliver = async (row: BackchannelLogoutRecord): Promise<boolean> => {
    let reason: string
    try {
      const res = await send(row.uri, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'cache-control': 'no-store' },
        body: new URLSearchParams({ logout_token: signLogoutToken(deps, row) }).toString(),
        redirect: 'manual',
        // Stopping aborts too: the row is then rescheduled at once rather than left leased.
        signal: AbortSignal.any([AbortSignal.timeout(backchannelTimeoutSeconds * 1000), stopping.signal]),
      })
      // The body is not ours to read, but an unread body would hold the connection open.
      await res.body?.cancel().catch(() => {})
      if (res.status >= 200 && res.status < 300) {
        deps.metrics.backchannelLogouts.inc({ outcome: 'delivered' })
        await deps.store.completeBackchannelLogout(row.id, auditEvent(deps, 'backchannel_logout.delivered', {
          session_id: row.session_id,
          user_id: row.user_id,
          client_id: row.client_id,
          data: { attempts: row.attempts + 1 },
        }))
        return true
      }
      reason = `HTTP ${res.status}`
    } catch (err) {
      // Name and code only: a fetch error's message and cause can quote the URI, query included.
      const e = err as { name?: string; code?: string; cause?: { code?: string } }
      reason = [e.name ?? 'Error', e.code ?? e.cause?.code].filter(Boolean).join(' ')
    }
    await failed(row, reason)
    return false
  }

  const track = (delivery: Promise<boolean>): Promise<boolean> => {
    inflight.add(delivery)
    const done = () => void inflight.delete(delivery)
    delivery.then(done, done)
    return delivery
  }

  const claimRound = async (): Promise<Promise<boolean>[]> => {
    await trim()
    const now = deps.now()
    const rows = await deps.store.claimBackchannelLogouts(now, now + leaseSeconds, batchSize)
    return rows.map((row) => track(deliver(row)))
  }

  // Claims are serialised (a wake-up during one earns exactly one more); deliveries are not, so
  // a receiver that hangs until its timeout never holds up the next revocation's logout.
  const claimDue = (): Promise<Promise<boolean>[]> => {
    if (claiming) {
      again = true
      return claiming
    }
    claiming = (async () => {
      try {
        const started = await claimRound()
        while (again) {
          again = false
          started.push(...(await claimRound()))
        }
        return started
      } finally {
        claiming = undefined
      }
    })()
    return claiming
  }

  const runOnce = async (): Promise<{ delivered: number; failed: number }> => {
    const results = await Promise.all(await claimDue())
    const delivered = results.filter(Boolean).length
    return { delivered, failed: results.length - delivered }
  }

  const tick = () => {
    claimDue()
      .then((deliveries) => Promise.all(deliveries))
      .catch((err: unknown) => deps.logger.warn({ err }, 'back-channel logout round failed'))
  }

  return {
    runOnce,
    start() {
      if (timer) return
      timer = setInterval(tick, pollMs)
      timer.unref()
      unsubscribe = deps.revocations.subscribe(tick)
      tick()
    },
    async stop() {
      if (timer) clearInterval(timer)
      timer = undefined
      unsubscribe?.()
      unsubscribe = undefined
      stopping.abort()
      await claiming?.catch(() => {})
      await Promise.allSettled([...inflight])
    },
  }
}

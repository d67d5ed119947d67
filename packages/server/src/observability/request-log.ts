import type { Logger } from 'pino'
import type { Metrics } from './metrics.js'

/** Records one answered request: its metrics, and its log line at `info`. */
export type RecordRequest = (route: string, method: string, path: string, status: number, seconds: number) => void

/**
 * The per-request metrics and log line, shared by the Hono app's `observe` middleware and the
 * Node fast path for the token endpoint (node/token-route.ts), so both record a request alike.
 * Label objects are built once per route, method and status, not per request.
 */
export function createRequestRecorder(deps: { metrics: Metrics; logger: Logger }): RecordRequest {
  const labelSets = new Map<string, { route: string; method: string; status: string }>()
  // The request line holds only the four fields built below (the path without its query), none
  // of which a redaction path names, so it skips redaction: that pass cost ≈ 15 µs of every
  // request at `info` (measured with this line, against ≈ 3 µs without). Every other log line,
  // from any handler, keeps it.
  const requestLog = deps.logger.child({}, { redact: [] })
  return function recordRequest(route, method, path, status, seconds) {
    const key = `${status} ${method} ${route}`
    let labels = labelSets.get(key)
    // Bounded: routes are templates and methods and statuses few; an unknown method is one key.
    if (labels === undefined && labelSets.size < 1_000) labelSets.set(key, (labels = { route, method, status: String(status) }))
    labels ??= { route, method, status: String(status) }
    deps.metrics.requests.inc(labels)
    deps.metrics.duration.observe(labels, seconds)
    // Path only: query strings can carry codes and state. Bodies and headers are never logged.
    if (requestLog.isLevelEnabled('info')) requestLog.info({ method, path, status, ms: Math.round(seconds * 1e4) / 10 }, 'request')
  }
}

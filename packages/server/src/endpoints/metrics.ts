import { OAuthError } from '@evergreen/core'
import type { Context } from 'hono'
import { hashSecret, secretMatches } from '../crypto/hash.js'
import type { Deps } from '../deps.js'
import { errorResponse } from '../http/errors.js'

/**
 * `GET /metrics` in Prometheus text format. Route labels, refresh outcomes and process figures
 * say how the service is used and how loaded it is, so on the public listener the endpoint
 * exists only with `EVERGREEN_METRICS_TOKEN` and answers only that bearer token; the other
 * option is a separate listener (`EVERGREEN_METRICS_PORT`) that needs no token.
 *
 * @param requireToken the bearer token to demand, or undefined on the private listener
 * @example app.get('/metrics', metricsEndpoint(deps, deps.settings.metricsToken))
 */
export function metricsEndpoint(deps: Pick<Deps, 'metrics'>, requireToken: string | undefined) {
  const expectedHash = requireToken === undefined ? undefined : hashSecret(requireToken)
  return async function metrics(c: Context): Promise<Response> {
    if (expectedHash !== undefined) {
      const m = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')
      if (!m || !secretMatches(m[1]!, expectedHash)) {
        return errorResponse(
          new OAuthError('invalid_token', 'metrics token missing or wrong', { status: 401, headers: { 'www-authenticate': 'Bearer realm="evergreen-metrics"' } }),
        )
      }
    }
    return c.body(await deps.metrics.registry.metrics(), 200, { 'content-type': deps.metrics.registry.contentType, 'cache-control': 'no-store' })
  }
}

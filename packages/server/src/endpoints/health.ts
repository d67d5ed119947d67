import type { Context } from 'hono'
import type { Deps } from '../deps.js'

/** `/livez`: the process is up and its event loop answers. Never touches the database. */
export function livez(c: Context): Response {
  return c.json({ status: 'ok' })
}

/**
 * `/readyz` (and `/healthz`): the database answers, migrations are current and a signing key is
 * loaded. A load balancer should route only to nodes that say 200 here.
 */
export function readyz(deps: Deps) {
  return async function readyz(c: Context): Promise<Response> {
    const checks: Record<string, string> = {}
    let ok = true
    try {
      await deps.store.ready()
      checks.database = 'ok'
    } catch (err) {
      ok = false
      checks.database = 'unavailable'
      deps.logger.warn({ err }, 'readiness: database check failed')
    }
    checks.keys = deps.keys.list().length > 0 ? 'ok' : 'missing'
    if (checks.keys !== 'ok') ok = false
    return c.json({ status: ok ? 'ok' : 'unavailable', checks }, ok ? 200 : 503)
  }
}

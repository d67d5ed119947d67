import { OAuthError } from '@evergreen/core'
import type { Logger } from 'pino'

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' }

/**
 * Turns anything thrown into an OAuth error response. An OAuthError keeps its code and public
 * description; anything else becomes a generic 500 `server_error` and its detail goes to the log
 * only, so an internal message can never leak a token or a SQL fragment to the caller.
 */
export function errorResponse(err: unknown, logger?: Logger): Response {
  if (err instanceof OAuthError) {
    if (err.detail && logger) logger.info({ error: err.code, reason: err.reason, detail: err.detail }, 'request refused')
    return Response.json(err.toJSON(), { status: err.status, headers: { ...NO_STORE, ...err.headers } })
  }
  logger?.error({ err }, 'unexpected error')
  return Response.json(
    { error: 'server_error', error_description: 'internal error' },
    { status: 500, headers: NO_STORE },
  )
}

/** A JSON response that must not be cached: every token-bearing answer (RFC 6749 §5.1). */
export function noStoreJson(body: unknown, status = 200): Response {
  return Response.json(body, { status, headers: NO_STORE })
}

import { OAuthError } from '@evergreen/core'
import type { Logger } from 'pino'

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' }
const JSON_TYPE = 'application/json'

/**
 * A JSON answer before it becomes a Web `Response`: what the token endpoint produces, so the Hono
 * route and the Node fast path (node/token-route.ts) send the same bytes and headers from one
 * place without the fast path paying for a `Response` it would only take apart again.
 */
export interface Reply {
  status: number
  /** Lower-case names; always `content-type` and `cache-control: no-store`. */
  headers: Record<string, string>
  /** The serialised JSON. */
  body: string
}

/**
 * Turns anything thrown into an OAuth error reply. An OAuthError keeps its code and public
 * description; anything else becomes a generic 500 `server_error` and its detail goes to the log
 * only, so an internal message can never leak a token or a SQL fragment to the caller.
 */
export function errorReply(err: unknown, logger?: Logger): Reply {
  if (err instanceof OAuthError) {
    if (err.detail && logger) logger.info({ error: err.code, reason: err.reason, detail: err.detail }, 'request refused')
    return { status: err.status, headers: { 'content-type': JSON_TYPE, ...NO_STORE, ...err.headers }, body: JSON.stringify(err.toJSON()) }
  }
  logger?.error({ err }, 'unexpected error')
  return noStoreReply({ error: 'server_error', error_description: 'internal error' }, 500)
}

/** A JSON reply that must not be cached: every token-bearing answer (RFC 6749 §5.1). */
export function noStoreReply(body: unknown, status = 200): Reply {
  return { status, headers: { 'content-type': JSON_TYPE, ...NO_STORE }, body: JSON.stringify(body) }
}

/** The reply as a Web `Response` (Hono's lightweight one under @hono/node-server). */
export function replyResponse(reply: Reply): Response {
  return new Response(reply.body, { status: reply.status, headers: reply.headers })
}

/** {@link errorReply} as a `Response`, for every Hono route. */
export function errorResponse(err: unknown, logger?: Logger): Response {
  return replyResponse(errorReply(err, logger))
}

/** {@link noStoreReply} as a `Response`. */
export function noStoreJson(body: unknown, status = 200): Response {
  return replyResponse(noStoreReply(body, status))
}

/**
 * What the middleware reports to `onEvent`, for an audit log. Stable `type` strings; never a
 * token, cookie value or secret, only identifiers (`sub`, `sid`) and reasons.
 */
export type WebEvent =
  | { type: 'login'; at: number; sub: string; sid: string | undefined }
  | { type: 'refresh.succeeded'; at: number; sub: string; sid: string | undefined }
  | { type: 'refresh.failed'; at: number; sid: string | undefined; reason: RefreshFailure }
  | { type: 'logout'; at: number; sub: string | undefined; sid: string | undefined; revoked: boolean }
  | { type: 'backchannel_logout'; at: number; sub: string | undefined; sid: string | undefined }

/**
 * Why a refresh failed: the service's `error` (and `error_reason` when it sent one) for a refusal,
 * or what kept the service from answering.
 */
export type RefreshFailure =
  | `refused:${string}`
  | 'superseded'
  | 'unreachable'
  | 'server_error'
  | 'rate_limited'
  | 'temporarily_unavailable'
  | 'invalid_response'
  | 'cooldown'

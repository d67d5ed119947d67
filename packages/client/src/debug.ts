/** Why a refresh happens. */
export type RefreshReason = 'access_expiring' | 'refresh_backstop' | 'forced' | 'unauthorized_retry'

/**
 * What the client reports to a `debug` hook (and, with `EVERGREEN_DEBUG=1`, to stderr): when and
 * why it refreshed, or why it did not. Never a token value: only reasons, durations and codes.
 */
export type DebugEvent =
  | { type: 'token_from_env' }
  | { type: 'token_from_store'; access_expires_in_s: number }
  | { type: 'refresh_needed'; reason: RefreshReason; access_expires_in_s: number; refresh_expires_in_s?: number }
  /** Another caller in this process is already refreshing; this one waits for its result. */
  | { type: 'refresh_joined'; reason: RefreshReason }
  | { type: 'lock_acquired'; waited_ms: number }
  /** After taking the lock the store already held a fresh token: another process refreshed. */
  | { type: 'refresh_skipped'; reason: 'reread_fresh' }
  | { type: 'refresh_started'; reason: RefreshReason }
  | { type: 'refresh_succeeded'; reason: RefreshReason; access_expires_in_s: number; refresh_expires_in_s?: number; rotated: boolean }
  | { type: 'refresh_failed'; reason: RefreshReason; code: string }
  | { type: 'session_deleted'; why: string }

export type DebugHook = (event: DebugEvent) => void

/**
 * Combines the caller's hook with the `EVERGREEN_DEBUG=1` stderr trace. `console.error` is stderr
 * on Node and the console elsewhere, so this stays runtime-agnostic.
 */
export function createDebug(hook: DebugHook | undefined, env: Record<string, string | undefined>): DebugHook {
  const toStderr = /^(1|true|yes|on)$/i.test(env.EVERGREEN_DEBUG ?? '')
  return (event) => {
    try {
      hook?.(event)
    } catch {
      // A broken debug hook must not break token renewal.
    }
    if (toStderr) console.error(formatDebugEvent(event))
  }
}

/** `evergreen: refresh_started reason=access_expiring` */
export function formatDebugEvent(event: DebugEvent): string {
  const { type, ...fields } = event
  const rest = Object.entries(fields)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ')
  return `evergreen: ${type}${rest ? ` ${rest}` : ''}`
}

import { OAuthError } from '@evergreen/core'
import { RateLimiterRes } from 'rate-limiter-flexible'
import type { Logger } from 'pino'
import { createResilientCounter, type LimitBackend } from './limit-backend.js'

/** Consumes one point for `key`; throws a 429 OAuth error when the budget is spent. */
export type RateLimit = (key: string) => Promise<void>

/**
 * A per-key, per-minute limit (rate-limiter-flexible) counted in `backend`: shared by every node
 * on Redis or PostgreSQL, per process in memory. `perMinute` 0 disables it (load tests on
 * loopback).
 *
 * When the shared backend is down it counts per node (`per-node`) and logs a warning: this limit
 * only sheds abusive load from endpoints whose own checks (client secrets, refresh-token hashes,
 * PKCE) do not depend on it, and refusing every refresh during a Redis restart would sign every
 * user out of every app — the failure this service exists to prevent.
 */
export function createRateLimit(perMinute: number, name: string, backend: LimitBackend, deps: { logger: Logger; now(): number }): RateLimit {
  if (perMinute <= 0) return async () => {}
  const counter = createResilientCounter(backend, { name, points: perMinute, durationSeconds: 60, whenDown: 'per-node' }, deps)
  return async (key) => {
    try {
      await counter.consume(key)
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err
      throw new OAuthError('temporarily_unavailable', 'too many requests; slow down', {
        status: 429,
        headers: { 'retry-after': String(Math.max(1, Math.ceil(err.msBeforeNext / 1000))) },
      })
    }
  }
}

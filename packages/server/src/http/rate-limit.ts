import { OAuthError } from '@evergreen/core'
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible'

/** Consumes one point for `key`; throws a 429 OAuth error when the budget is spent. */
export type RateLimit = (key: string) => Promise<void>

/**
 * A per-key, per-minute limit (rate-limiter-flexible, in process memory). Each node counts on its
 * own, so N nodes allow N times the budget: fine for abuse protection, which is its job here.
 * `perMinute` 0 disables it (load tests on loopback).
 */
export function createRateLimit(perMinute: number, name: string): RateLimit {
  if (perMinute <= 0) return async () => {}
  const limiter = new RateLimiterMemory({ points: perMinute, duration: 60, keyPrefix: name })
  return async (key) => {
    try {
      await limiter.consume(key)
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err
      throw new OAuthError('temporarily_unavailable', 'too many requests; slow down', {
        status: 429,
        headers: { 'retry-after': String(Math.max(1, Math.ceil(err.msBeforeNext / 1000))) },
      })
    }
  }
}

import { RateLimiterRes } from 'rate-limiter-flexible'
import type { Logger } from 'pino'
import { createResilientCounter, LimitUnavailableError, type LimitBackend, type WhenBackendDown } from './limit-backend.js'

/** The outcome of taking one attempt from a budget. */
export type Attempt =
  | { ok: true; /** Attempts counted in this window, this one included. */ consumed: number }
  | { ok: false; /** Seconds until the window frees a point. */ retryAfter: number; /** The first refusal of this window: worth one audit row. */ firstRefusal: boolean; unavailable?: false }
  | { ok: false; /** The shared backend is down and this limit fails closed. */ unavailable: true; retryAfter: number; firstRefusal: false }

/**
 * A budget of attempts per key and window (rate-limiter-flexible, counted in `backend`: every
 * node shares it on Redis or PostgreSQL) for checks that must be counted *before* they run: a
 * password or key compared after the budget is spent still answers "right or wrong", and
 * concurrent attempts that all read "under the limit" before any of them failed were all
 * verified. `take` counts atomically; a caller refunds an attempt
 * that turned out legitimate. `points` 0 disables it.
 *
 * `whenDown` says what happens while the shared backend is unreachable (see WhenBackendDown).
 * Failing closed, `take` answers `{ ok: false, unavailable: true }` and `spent` answers spent;
 * `refund` and `reset` then do nothing: a refund lost in an outage only costs a legitimate
 * user one attempt of their budget, never a 500.
 *
 * @example
 * const attempt = await limit.take(key)
 * if (!attempt.ok) return tooMany(attempt.retryAfter)
 * if (await verify()) await limit.refund(key)
 */
export interface AttemptLimit {
  take(key: string): Promise<Attempt>
  /** Whether the budget is spent, without counting anything. */
  spent(key: string): Promise<{ spent: false } | { spent: true; retryAfter: number }>
  /** Attempts already counted in this window (0 when none, or when disabled). */
  counted(key: string): Promise<number>
  refund(key: string): Promise<void>
  reset(key: string): Promise<void>
}

export function createAttemptLimit(
  options: { points: number; durationSeconds: number; name: string; whenDown: WhenBackendDown },
  backend: LimitBackend,
  deps: { logger: Logger; now(): number },
): AttemptLimit {
  const { points, durationSeconds, name, whenDown } = options
  if (points <= 0) {
    return {
      take: async () => ({ ok: true, consumed: 0 }),
      spent: async () => ({ spent: false }),
      counted: async () => 0,
      refund: async () => {},
      reset: async () => {},
    }
  }
  const limiter = createResilientCounter(backend, { name, points, durationSeconds, whenDown }, deps)
  const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000))
  const unlessUnavailable = async <T>(op: () => Promise<T>, closed: (err: LimitUnavailableError) => T): Promise<T> => {
    try {
      return await op()
    } catch (err) {
      if (err instanceof LimitUnavailableError) return closed(err)
      throw err
    }
  }
  return {
    async take(key) {
      try {
        const res = await limiter.consume(key)
        return { ok: true, consumed: res.consumedPoints }
      } catch (err) {
        if (err instanceof LimitUnavailableError) return { ok: false, unavailable: true, retryAfter: err.retryAfter, firstRefusal: false }
        if (!(err instanceof RateLimiterRes)) throw err
        return { ok: false, retryAfter: seconds(err.msBeforeNext), firstRefusal: err.consumedPoints === points + 1 }
      }
    },
    spent: (key) =>
      unlessUnavailable(
        async () => {
          const res = await limiter.get(key)
          return res && res.consumedPoints >= points ? { spent: true, retryAfter: seconds(res.msBeforeNext) } : { spent: false }
        },
        (err) => ({ spent: true, retryAfter: err.retryAfter }),
      ),
    counted: (key) => unlessUnavailable(async () => (await limiter.get(key))?.consumedPoints ?? 0, () => 0),
    refund: (key) => unlessUnavailable(async () => void (await limiter.reward(key)), () => {}),
    reset: (key) => unlessUnavailable(async () => void (await limiter.delete(key)), () => {}),
  }
}

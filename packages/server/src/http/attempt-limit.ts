import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible'

/** The outcome of taking one attempt from a budget. */
export type Attempt =
  | { ok: true; /** Attempts counted in this window, this one included. */ consumed: number }
  | { ok: false; /** Seconds until the window frees a point. */ retryAfter: number; /** The first refusal of this window: worth one audit row. */ firstRefusal: boolean }

/**
 * A budget of attempts per key and window (rate-limiter-flexible, in process memory) for checks
 * that must be counted *before* they run: a password or key compared after the budget is spent
 * still answers "right or wrong", and concurrent attempts that all read "under the limit" before
 * any of them failed were all verified. `take` counts atomically; a caller refunds an attempt
 * that turned out legitimate. `points` 0 disables it.
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

export function createAttemptLimit(points: number, durationSeconds: number, name: string): AttemptLimit {
  if (points <= 0) {
    return {
      take: async () => ({ ok: true, consumed: 0 }),
      spent: async () => ({ spent: false }),
      counted: async () => 0,
      refund: async () => {},
      reset: async () => {},
    }
  }
  const limiter = new RateLimiterMemory({ points, duration: durationSeconds, keyPrefix: name })
  const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000))
  return {
    async take(key) {
      try {
        const res = await limiter.consume(key)
        return { ok: true, consumed: res.consumedPoints }
      } catch (err) {
        if (!(err instanceof RateLimiterRes)) throw err
        return { ok: false, retryAfter: seconds(err.msBeforeNext), firstRefusal: err.consumedPoints === points + 1 }
      }
    },
    async spent(key) {
      const res = await limiter.get(key)
      return res && res.consumedPoints >= points ? { spent: true, retryAfter: seconds(res.msBeforeNext) } : { spent: false }
    },
    async counted(key) {
      return (await limiter.get(key))?.consumedPoints ?? 0
    },
    async refund(key) {
      await limiter.reward(key, 1)
    },
    async reset(key) {
      await limiter.delete(key)
    },
  }
}

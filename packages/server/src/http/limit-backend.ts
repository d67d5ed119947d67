import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible'
import type { Logger } from 'pino'
import { ServerError } from '../errors.js'

/**
 * One rate-limiter-flexible limiter as the limits use it. Every method may reject with a backend
 * error (Redis or PostgreSQL unreachable); a spent budget is the RateLimiterRes rejection of
 * `consume`, as in rate-limiter-flexible.
 */
export interface Counter {
  consume(key: string): Promise<RateLimiterRes>
  get(key: string): Promise<RateLimiterRes | null>
  reward(key: string): Promise<unknown>
  delete(key: string): Promise<unknown>
}

export interface CounterOptions {
  /** Names the limit; keeps its keys apart from every other limit's. */
  name: string
  points: number
  durationSeconds: number
}

/** Where the limits count: this process's memory, or a store every node shares. */
export interface LimitBackend {
  readonly kind: 'memory' | 'redis' | 'postgres'
  counter(options: CounterOptions): Counter
  close(): Promise<void>
}

/**
 * Counts in process memory: one SQLite process, or tests. With `processes` > 1 (`--workers`), each
 * process counts against its share of every budget, so all of them together never allow more than
 * the budget: a client whose requests all reach one process is limited sooner, never later.
 */
export function memoryLimitBackend(processes = 1): LimitBackend {
  return { kind: 'memory', counter: (options) => memoryCounter(options, processes), close: async () => {} }
}

function memoryCounter(options: CounterOptions, processes = 1): Counter {
  const points = Math.max(1, Math.floor(options.points / processes))
  const limiter = new RateLimiterMemory({ points, duration: options.durationSeconds, keyPrefix: options.name })
  return {
    consume: (key) => limiter.consume(key),
    get: (key) => limiter.get(key),
    reward: (key) => limiter.reward(key, 1),
    delete: (key) => limiter.delete(key),
  }
}

/**
 * What a limit does when its shared backend cannot be reached:
 * - `per-node`: count in this process's memory until the backend is back (fail open to the
 *   pre-shared behaviour: N nodes allow N times the budget), with a warning in the log;
 * - `closed`: refuse, so the check the limit guards never runs uncounted.
 */
export type WhenBackendDown = 'per-node' | 'closed'

/** The shared backend did not answer and the limit fails closed. */
export class LimitUnavailableError extends ServerError<'LIMIT_BACKEND_UNAVAILABLE'> {
  /** Seconds a caller is asked to wait: about how long a reconnect takes. */
  readonly retryAfter = 30
  constructor(name: string, options?: { cause?: unknown }) {
    super('LIMIT_BACKEND_UNAVAILABLE', `the ${name} limit's backend is unavailable`, options)
    this.name = 'LimitUnavailableError'
  }
}

export interface ResilientOptions extends CounterOptions {
  whenDown: WhenBackendDown
}

/**
 * A counter on `backend` that never lets a backend failure escape as anything but a
 * {@link LimitUnavailableError} (`closed`) or a fall back to memory (`per-node`). The warning is
 * logged at most once a minute per limit, so an outage under load does not flood the log.
 */
export function createResilientCounter(backend: LimitBackend, options: ResilientOptions, deps: { logger: Logger; now(): number }): Counter {
  const shared = backend.counter(options)
  if (backend.kind === 'memory') return shared
  let fallback: Counter | undefined
  let warnedAt = -Infinity
  const onFailure = (err: unknown): Counter => {
    if (deps.now() - warnedAt >= 60) {
      warnedAt = deps.now()
      deps.logger.warn(
        { err, limit: options.name, backend: backend.kind, when_down: options.whenDown },
        options.whenDown === 'closed' ? 'rate-limit backend unavailable: refusing the guarded attempts' : 'rate-limit backend unavailable: counting per node',
      )
    }
    if (options.whenDown === 'closed') throw new LimitUnavailableError(options.name, { cause: err })
    return (fallback ??= memoryCounter(options))
  }
  const guard = <T>(op: (c: Counter) => Promise<T>) => async (): Promise<T> => {
    try {
      return await op(shared)
    } catch (err) {
      if (err instanceof RateLimiterRes) throw err
      return op(onFailure(err))
    }
  }
  return {
    consume: (key) => guard((c) => c.consume(key))(),
    get: (key) => guard((c) => c.get(key))(),
    reward: (key) => guard((c) => c.reward(key))(),
    delete: (key) => guard((c) => c.delete(key))(),
  }
}

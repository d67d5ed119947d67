import type { Store } from '../store/types.js'

/**
 * "Sessions were just revoked in this process": lets the back-channel sender deliver at once
 * instead of at its next poll, without request handlers knowing the sender exists.
 */
export interface RevocationSignal {
  notify(): void
  /** Returns the unsubscribe function. */
  subscribe(listener: () => void): () => void
}

/**
 * An in-process signal with no memory: a notify with nobody subscribed is simply lost, which is
 * fine because the outbox row is already written and the sender polls.
 *
 * @example
 * const signal = createRevocationSignal()
 * const stop = signal.subscribe(() => sender.runOnce())
 */
export function createRevocationSignal(): RevocationSignal {
  const listeners = new Set<() => void>()
  return {
    notify() {
      for (const listener of listeners) listener()
    },
    subscribe(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
  }
}

// Every store method that can revoke a session. The store queues the back-channel logouts in
// the revoking transaction itself; this list only decides who rings the bell afterwards.
const REVOKING: ReadonlySet<PropertyKey> = new Set<keyof Store>(['revokeSession', 'disableUser', 'deleteClient'])

/**
 * The store, with `signal.notify()` after each successful revoking call. Wrapping the store
 * (rather than calling notify in each handler) means a revocation path added later cannot
 * forget the prompt delivery: the outbox row is written either way, and this only makes it fast.
 *
 * @example const store = signalRevocations(new SqliteStore(file), signal)
 */
export function signalRevocations(store: Store, signal: RevocationSignal): Store {
  // One wrapper per method, made on first use: the hot path reads store methods on every request.
  // Keyed by the function too, so a method replaced on the store later is wrapped afresh.
  const wrapped = new Map<PropertyKey, { method: unknown; wrapper: unknown }>()
  return new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver)
      if (typeof value !== 'function') return value
      const known = wrapped.get(property)
      if (known !== undefined && known.method === value) return known.wrapper
      const method = value as (...args: unknown[]) => unknown
      const wrapper = !REVOKING.has(property)
        ? method.bind(target)
        : async (...args: unknown[]) => {
            const result = await method.apply(target, args)
            signal.notify()
            return result
          }
      wrapped.set(property, { method: value, wrapper })
      return wrapper
    },
  })
}

import { keyId, type SessionKey, type SessionLock } from './store/types.js'

/**
 * A lock that serialises callers within one process only, per session key. The default when no
 * cross-process lock is given (browsers, Workers, a memory store); a CLI uses the file lock from
 * `@evergreen/client/node`, because parallel invocations are separate processes.
 *
 * @example createSessionClient({ store, lock: createInProcessLock() })
 */
export function createInProcessLock(): SessionLock {
  const tails = new Map<string, Promise<unknown>>()
  return {
    async withLock(key: SessionKey, fn) {
      const id = keyId(key)
      const previous = tails.get(id) ?? Promise.resolve()
      let release!: () => void
      const mine = new Promise<void>((resolve) => (release = resolve))
      const tail = previous.then(() => mine)
      tails.set(id, tail)
      await previous
      try {
        return await fn()
      } finally {
        release()
        if (tails.get(id) === tail) tails.delete(id)
      }
    },
  }
}

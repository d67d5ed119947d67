import type { StoredSession } from '../session.js'
import { keyId, normalizeKey, type SessionKey, type SessionStore } from './types.js'

/**
 * A store that lives as long as the process: for tests, agents that receive their token from
 * elsewhere, and runtimes without a file system. Values are copied in and out, so a caller that
 * mutates a returned session does not change the stored one.
 *
 * @example const client = createSessionClient({ store: createMemoryStore(), issuer, clientId })
 */
export function createMemoryStore(initial: Iterable<[SessionKey, StoredSession]> = []): SessionStore {
  const sessions = new Map<string, { key: SessionKey; session: StoredSession }>()
  for (const [key, session] of initial) sessions.set(keyId(normalizeKey(key)), { key: normalizeKey(key), session: structuredClone(session) })
  return {
    async read(key) {
      const hit = sessions.get(keyId(normalizeKey(key)))
      return hit ? structuredClone(hit.session) : undefined
    },
    async write(key, session) {
      const k = normalizeKey(key)
      sessions.set(keyId(k), { key: k, session: structuredClone(session) })
    },
    async delete(key) {
      return sessions.delete(keyId(normalizeKey(key)))
    },
    async list() {
      return [...sessions.values()].map((v) => ({ ...v.key }))
    },
    describe: () => ({ backend: 'memory', location: 'in-process' }),
  }
}

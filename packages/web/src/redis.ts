import { Redis } from 'ioredis'
import { ExpiringSet, isListed, revocationKey, type RevocationList } from './revocation-list.js'

/** A revocation list shared through Redis, with its lifecycle. */
export interface RedisRevocationList extends RevocationList {
  /** Resolves once the subscription is live and the existing entries are loaded. */
  readonly ready: Promise<void>
  /** Unsubscribes and closes the connections this list opened. */
  close(): Promise<void>
}

/** Options of {@link createRedisRevocationList}. */
export interface RedisRevocationListOptions {
  /** An ioredis client, or a `redis://` URL to open one. */
  redis: Redis | string
  /** Key and channel prefix. Default `evergreen:web:`. */
  prefix?: string
  /** Injected clock, epoch seconds. */
  now?: () => number
  /** Most entries mirrored locally; the oldest go first. Default 100,000. */
  max?: number
}

/**
 * A {@link RevocationList} for several processes. Checks stay on the request path, local and
 * synchronous: each process mirrors the list in memory, filled by a SCAN at start and kept
 * current by pub/sub; entries are Redis keys with a TTL, so they expire on their own everywhere.
 * A revocation is a SET (for processes starting later) then a PUBLISH (for the running ones):
 * other processes see it within the pub/sub latency, milliseconds on one network. After the
 * subscriber reconnects, the list is reloaded, so messages missed while disconnected are not lost.
 * `claimOnce` is `SET NX EX`, atomic across processes.
 *
 * @example
 * const revocationList = createRedisRevocationList({ redis: 'redis://127.0.0.1:6379' })
 * await revocationList.ready
 * const web = createEvergreenWeb({ ...options, revocationList })
 */
export function createRedisRevocationList(options: RedisRevocationListOptions): RedisRevocationList {
  const now = options.now ?? (() => Math.floor(Date.now() / 1000))
  const prefix = options.prefix ?? 'evergreen:web:'
  const owned = typeof options.redis === 'string'
  const client = typeof options.redis === 'string' ? new Redis(options.redis, { lazyConnect: false }) : options.redis
  const subscriber = client.duplicate()
  const channel = `${prefix}revocations`
  const keyPrefix = `${prefix}revoked:`
  const local = new ExpiringSet(now, options.max ?? 100_000)

  const apply = (key: string, value: number, ttlMs: number) => {
    if (ttlMs > 0) local.set(key, Math.max(value, local.get(key) ?? 0), now() + Math.ceil(ttlMs / 1000))
  }

  const load = async () => {
    let cursor = '0'
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 500)
      cursor = next
      if (keys.length === 0) continue
      const pipeline = client.pipeline()
      for (const k of keys) pipeline.get(k).pttl(k)
      const replies = (await pipeline.exec()) ?? []
      keys.forEach((k, i) => {
        const value = Number(replies[2 * i]?.[1] ?? 0)
        const ttl = Number(replies[2 * i + 1]?.[1] ?? -2)
        apply(k.slice(keyPrefix.length), Number.isFinite(value) ? value : 0, ttl)
      })
    } while (cursor !== '0')
  }

  subscriber.on('message', (ch: string, message: string) => {
    if (ch !== channel) return
    try {
      const m = JSON.parse(message) as { key?: unknown; value?: unknown; ttlMs?: unknown }
      if (typeof m.key === 'string' && typeof m.value === 'number' && typeof m.ttlMs === 'number') apply(m.key, m.value, m.ttlMs)
    } catch {
      // Not ours; ignore.
    }
  })
  let started = false
  subscriber.on('ready', () => {
    if (started) void load().catch(() => undefined)
  })
  const ready = (async () => {
    await subscriber.subscribe(channel)
    await load()
    started = true
  })()
  ready.catch(() => undefined)

  return {
    ready,
    isRevoked: (identity) => isListed(local, identity),
    async revoke(entry, ttlSeconds) {
      const { key, value } = revocationKey(entry)
      const ttlMs = Math.max(1, Math.round(ttlSeconds * 1000))
      apply(key, value, ttlMs)
      await client.set(`${keyPrefix}${key}`, String(Math.max(value, local.get(key) ?? 0)), 'PX', ttlMs)
      await client.publish(channel, JSON.stringify({ key, value, ttlMs }))
    },
    async claimOnce(key, ttlSeconds) {
      return (await client.set(`${prefix}claimed:${key}`, '1', 'EX', Math.max(1, Math.ceil(ttlSeconds)), 'NX')) === 'OK'
    },
    async close() {
      subscriber.disconnect()
      if (owned) await client.quit().catch(() => undefined)
    },
  }
}

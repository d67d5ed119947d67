import { serve, type ServerType } from '@hono/node-server'
import { Hono } from 'hono'
import cluster, { type Worker } from 'node:cluster'
import type { AddressInfo } from 'node:net'
import { AggregatorRegistry } from 'prom-client'
import { createLogger } from '../observability/logger.js'
import type { Settings } from '../settings.js'
import { createService } from './bootstrap.js'
import { startServer, type RunningServer } from './serve.js'

/**
 * `evergreen serve --workers N`: N processes of this machine share the port (node:cluster; the
 * primary accepts and hands connections round-robin), each a whole server with its own store
 * connection. See docs/architecture.md "Workers" for what each per-process cache does.
 *
 * Per-process state, and how it stays correct across workers:
 * - signing keys (the keyring): a worker that rotates or revokes a key tells the primary, which
 *   tells every other worker to reload now; the 10 s periodic reload stays as the backstop (and is
 *   what other machines rely on);
 * - clients, sessions, refresh tokens, the access-token deny list: not cached, read from the
 *   store on every request, so a change made through any worker holds on the next request;
 * - rate limits: in Redis or PostgreSQL when configured (shared); otherwise in memory, each worker
 *   on its share of the budget (memoryLimitBackend);
 * - metrics: per worker; EVERGREEN_METRICS_PORT is served by the primary, summed over workers.
 */

const WORKER_ENV = 'EVERGREEN_CLUSTER_WORKER'
/** How long a stop waits for workers to finish in-flight requests before killing them. */
const STOP_TIMEOUT_MS = 10_000

/** How long a key change waits for the other workers to reload before answering anyway. */
const RELOAD_WAIT_MS = 2_000

type Message =
  | { evergreen: 'listening'; url: string }
  | { evergreen: 'failed'; message: string }
  // worker → primary → every other worker → primary → the worker that changed the keys
  | { evergreen: 'keys-changed'; id: number }
  | { evergreen: 'reload-keys'; id: number }
  | { evergreen: 'keys-reloaded'; id: number }
  | { evergreen: 'keys-synced'; id: number }

const isMessage = (m: unknown): m is Message => typeof m === 'object' && m !== null && typeof (m as { evergreen?: unknown }).evergreen === 'string'

/** True in a process that {@link startCluster} forked. */
export function isClusterWorker(): boolean {
  return cluster.isWorker && process.env[WORKER_ENV] === '1'
}

export interface RunningCluster {
  /** The base URL every worker listens on. */
  url: string
  metricsUrl?: string
  workers: number
  /** Set only on the start that generated the admin key: shown once, never logged. */
  generatedAdminKey: string | undefined
  /** Stops every worker (each finishes its in-flight requests), then the metrics listener. */
  stop(): Promise<void>
}

/**
 * The primary: prepares the store once (migrations, first signing key, admin key, built-in
 * client), so workers never race to create them, then forks `settings.workers` workers and
 * resolves when all listen. A worker that dies later is replaced.
 */
export async function startCluster(settings: Settings, options: { log?: (line: string) => void } = {}): Promise<RunningCluster> {
  const log = options.log ?? (() => {})
  const bootstrap = await createService(settings, { logger: createLogger(settings.logLevel) })
  const generatedAdminKey = bootstrap.generatedAdminKey
  await bootstrap.close()

  // Workers re-run this entry point (process.argv) with the same arguments and environment, so
  // they load the same settings.
  const workers = new Set<Worker>()
  let stopping = false
  let url = ''

  // A key change: every other worker reloads, then the changing worker is told (after at most
  // RELOAD_WAIT_MS: a stuck worker must not hold the admin API, and its periodic reload follows).
  let nextRelay = 0
  const pending = new Map<number, { waiting: Set<Worker>; done(): void }>()
  const relay = (from: Worker, message: Message) => {
    if (message.evergreen === 'keys-reloaded') {
      const p = pending.get(message.id)
      p?.waiting.delete(from)
      if (p && p.waiting.size === 0) p.done()
      return
    }
    if (message.evergreen !== 'keys-changed') return
    const id = nextRelay++
    const waiting = new Set([...workers].filter((w) => w !== from && w.isConnected()))
    const timer = setTimeout(() => done(), RELOAD_WAIT_MS)
    const done = () => {
      clearTimeout(timer)
      pending.delete(id)
      if (from.isConnected()) from.send({ evergreen: 'keys-synced', id: message.id } satisfies Message)
    }
    pending.set(id, { waiting, done })
    if (waiting.size === 0) return done()
    for (const w of waiting) w.send({ evergreen: 'reload-keys', id } satisfies Message)
  }

  const fork = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const worker = cluster.fork({ [WORKER_ENV]: '1' })
      workers.add(worker)
      let listening = false
      worker.on('message', (message: unknown) => {
        if (!isMessage(message)) return
        if (message.evergreen === 'listening') {
          listening = true
          resolve(message.url)
        } else if (message.evergreen === 'failed') {
          reject(new Error(message.message))
        } else relay(worker, message)
      })
      worker.once('exit', (code, signal) => {
        workers.delete(worker)
        for (const p of pending.values()) if (p.waiting.delete(worker) && p.waiting.size === 0) p.done()
        if (!listening) {
          reject(new Error(`worker exited (${signal ?? code}) before listening`))
          return
        }
        if (stopping) return
        log(`worker ${worker.id} exited (${signal ?? code}); starting another`)
        setTimeout(() => {
          if (!stopping) fork().catch((err: unknown) => log(`a replacement worker failed to start: ${String(err)}`))
        }, 1000).unref()
      })
    })

  const stop = async () => {
    stopping = true
    await Promise.all(
      [...workers].map(
        (w) =>
          new Promise<void>((done) => {
            if (w.isDead()) return done()
            const timer = setTimeout(() => w.process.kill('SIGKILL'), STOP_TIMEOUT_MS)
            w.once('exit', () => {
              clearTimeout(timer)
              done()
            })
            w.process.kill('SIGTERM')
          }),
      ),
    )
    await new Promise<void>((done) => (metricsServer ? metricsServer.close(() => done()) : done()))
  }

  let metricsServer: ServerType | undefined
  try {
    const urls = await Promise.all(Array.from({ length: settings.workers }, fork))
    url = urls[0]!
    // As startServer does for one process: a derived issuer naming port 0 names the real port.
    if (settings.port === 0 && settings.issuer.endsWith(':0')) settings.issuer = `${settings.issuer.slice(0, -2)}:${new URL(url).port}`
    if (settings.metricsPort !== undefined) metricsServer = await listenMetrics(settings)
  } catch (err) {
    await stop()
    throw err
  }
  return { url, workers: settings.workers, generatedAdminKey, stop, ...(metricsServer ? { metricsUrl: urlOf(metricsServer) } : {}) }
}

/**
 * A worker's server: {@link startServer} with the worker's id in every log line, key changes
 * told to the primary, and reloads when another worker changed the keys. Stops on SIGTERM or
 * SIGINT (the caller's handlers) and when the primary goes away.
 */
export async function startClusterWorker(settings: Settings): Promise<RunningServer> {
  const id = cluster.worker?.id ?? 0
  const logger = createLogger(settings.logLevel).child({ worker: id })
  let nextChange = 0
  const synced = new Map<number, () => void>()
  const onKeysChanged = () =>
    new Promise<void>((resolve) => {
      if (!process.send || !process.connected) return resolve()
      const id = nextChange++
      synced.set(id, resolve)
      process.send({ evergreen: 'keys-changed', id } satisfies Message)
    })
  let running: RunningServer
  try {
    running = await startServer(settings, { logger, metricsListener: false, onKeysChanged })
  } catch (err) {
    process.send?.({ evergreen: 'failed', message: err instanceof Error ? err.message : String(err) } satisfies Message)
    throw err
  }
  const { deps } = running.service
  // The primary sums every worker's registry for EVERGREEN_METRICS_PORT.
  AggregatorRegistry.setRegistries([deps.metrics.registry])
  new AggregatorRegistry()
  process.on('message', (message: unknown) => {
    if (!isMessage(message)) return
    if (message.evergreen === 'keys-synced') {
      synced.get(message.id)?.()
      synced.delete(message.id)
    } else if (message.evergreen === 'reload-keys') {
      const { id } = message
      deps.keys
        .reload()
        .catch((err: unknown) => deps.logger.warn({ err }, 'signing-key reload failed'))
        .finally(() => process.send?.({ evergreen: 'keys-reloaded', id } satisfies Message))
    }
  })
  // Orphaned (the primary was killed): finish in-flight requests and leave.
  process.once('disconnect', () => {
    for (const resolve of synced.values()) resolve()
    void running.stop().finally(() => process.exit(0))
  })
  process.send?.({ evergreen: 'listening', url: running.url } satisfies Message)
  return running
}

/** EVERGREEN_METRICS_PORT on the primary: every worker's metrics, summed. */
function listenMetrics(settings: Settings): Promise<ServerType> {
  const aggregator = new AggregatorRegistry()
  const app = new Hono()
  app.get('/metrics', async (c) => c.body(await aggregator.clusterMetrics(), 200, { 'content-type': aggregator.contentType }))
  return new Promise((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: settings.metricsPort!, hostname: settings.metricsHost }, () => resolve(s))
    s.once('error', reject)
  })
}

function urlOf(server: ServerType): string {
  const address = server.address() as AddressInfo
  return `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`
}

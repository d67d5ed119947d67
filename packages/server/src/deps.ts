import type { Logger } from 'pino'
import type { DocumentFetcher } from './clients/document-fetch.js'
import type { Random } from './crypto/random.js'
import type { LimitBackend } from './http/limit-backend.js'
import type { Keyring } from './keys/keyring.js'
import type { RevocationSignal } from './logout/revocation-signal.js'
import type { Metrics } from './observability/metrics.js'
import type { Settings } from './settings.js'
import type { Store } from './store/types.js'

/**
 * Everything the request handlers need, passed in once so tests control the clock, the
 * randomness and the store. No handler reads Date.now(), crypto.random* or process.env.
 */
export interface Deps {
  /** Epoch seconds. */
  now(): number
  random: Random
  store: Store
  keys: Keyring
  settings: Settings
  logger: Logger
  metrics: Metrics
  /** SHA-256 hex of the admin key in force. */
  adminKeyHash: string
  /** Rung after each revocation in this process, so the back-channel sender delivers at once. */
  revocations: RevocationSignal
  /** Where the rate limits count: shared by every node on Redis or PostgreSQL, else in memory. */
  limits: LimitBackend
  /** Fetches client `jwks_uri` documents; the global fetch when absent (tests pass a loopback-only one). */
  fetch?: typeof fetch
  /**
   * Fetches Client ID Metadata Documents with the SSRF defences (clients/document-fetch.ts),
   * configured from the settings; tests add a CA for their loopback TLS server.
   */
  fetchClientDocument: DocumentFetcher
  /** HMAC key for CSRF tokens on the pages, derived from EVERGREEN_SECRET so every node agrees. */
  pageKey: Buffer
}

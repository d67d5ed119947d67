import { createDocumentFetcher, type DocumentFetcher, type DocumentFetcherOptions } from '../clients/document-fetch.js'
import { documentFetcherOptions } from '../clients/resolve.js'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Logger } from 'pino'
import { createApp, createOAuthRateLimit } from '../app.js'
import type { RateLimit } from '../http/rate-limit.js'
import { deriveKey, open, seal } from '../crypto/aead.js'
import { hashSecret } from '../crypto/hash.js'
import { createRandom, type Random } from '../crypto/random.js'
import type { Deps } from '../deps.js'
import { createKeyring } from '../keys/keyring.js'
import { createLogger } from '../observability/logger.js'
import type { LimitBackend } from '../http/limit-backend.js'
import { openLimitBackend } from './limit-backend.js'
import { createMetrics } from '../observability/metrics.js'
import type { Settings } from '../settings.js'
import { PostgresStore } from '../store/postgres.js'
import { SqliteStore } from '../store/sqlite.js'
import { StoreConflictError, type Store } from '../store/types.js'
import { auditEvent } from '../audit.js'
import { createRevocationSignal, signalRevocations } from '../logout/revocation-signal.js'
import type { Hono } from 'hono'
import { ServerError } from '../errors.js'
import { newClientRecord } from '../clients/new-client.js'

export interface Service {
  deps: Deps
  app: Hono
  /** The OAuth endpoints' rate limit inside `app`, for the Node fast path (node/token-route.ts). */
  oauthLimit: RateLimit
  /** Set only on the start that generated the admin key: shown once, never logged. */
  generatedAdminKey: string | undefined
  close(): Promise<void>
}

export interface ServiceOverrides {
  store?: Store
  now?: () => number
  random?: Random
  logger?: Logger
  /** Where the rate limits count; by default what the settings name (see openLimitBackend). */
  limits?: LimitBackend
  /** Fetches client jwks_uri documents; the global fetch by default. */
  fetch?: typeof fetch
  /** Builds the client metadata document fetcher from the settings' options (tests add a CA). */
  clientDocumentFetcher?: (options: DocumentFetcherOptions) => DocumentFetcher
  /** Awaited after this process rotated or revoked a signing key (node/cluster.ts tells the others). */
  onKeysChanged?: () => void | Promise<void>
}

/** Opens the store the settings name: PostgreSQL for a postgres:// URL, else SQLite in the data dir. */
export function openStore(settings: Settings): Store {
  if (settings.databaseUrl) return new PostgresStore({ connectionString: settings.databaseUrl, max: settings.databasePoolSize })
  return new SqliteStore(join(resolve(settings.dataDir), 'evergreen.db'), { backgroundCheckpoints: true })
}

/**
 * Boots the service: store and migrations, the secret, the admin key, the signing keys. Everything
 * that can be wrong about a deployment fails here, at start, with a message that says what to fix.
 */
export async function createService(settings: Settings, overrides: ServiceOverrides = {}): Promise<Service> {
  const now = overrides.now ?? (() => Math.floor(Date.now() / 1000))
  const random = overrides.random ?? createRandom()
  const logger = overrides.logger ?? createLogger(settings.logLevel)
  const store = overrides.store ?? openStore(settings)
  let limits: LimitBackend | undefined
  try {
    await store.migrate()
    const secret = settings.secret ?? localSecret(settings, random)
    await checkSecret(store, secret)
    const admin = await adminKey(store, settings, random)
    const keys = await createKeyring({
      store, secret, now, alg: settings.signingAlg, maxAccessTokenTtl: 86_400, ...(overrides.onKeysChanged ? { onChange: overrides.onKeysChanged } : {}),
    })
    await ensureCliClient(store, settings, now(), random)
    const revocations = createRevocationSignal()
    limits = overrides.limits ?? (await openLimitBackend(settings, logger))
    const deps: Deps = {
      now,
      random,
      store: signalRevocations(store, revocations),
      revocations,
      keys,
      settings,
      logger,
      metrics: createMetrics({ defaultMetrics: !overrides.store }),
      adminKeyHash: admin.hash,
      limits,
      pageKey: deriveKey(secret, 'evergreen/csrf/v1'),
      fetchClientDocument: (overrides.clientDocumentFetcher ?? createDocumentFetcher)(documentFetcherOptions(settings)),
      ...(overrides.fetch ? { fetch: overrides.fetch } : {}),
    }
    const opened = limits
    const close = async () => {
      await opened.close().catch(() => {})
      await store.close()
    }
    const oauthLimit = createOAuthRateLimit(deps)
    return { deps, app: createApp(deps, oauthLimit), oauthLimit, generatedAdminKey: admin.generated, close }
  } catch (err) {
    await limits?.close().catch(() => {})
    await store.close().catch(() => {})
    throw err
  }
}

/** SQLite only: a secret generated on first start, kept beside the database with mode 0600. */
function localSecret(settings: Settings, random: Random): string {
  const dir = resolve(settings.dataDir)
  const file = join(dir, 'secret')
  if (existsSync(file)) return readFileSync(file, 'utf8').trim()
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const secret = random.secret('egk')
  writeFileSync(file, secret + '\n', { mode: 0o600, flag: 'wx' })
  return secret
}

/** Refuses to start with a secret other than the one the signing keys were sealed under. */
async function checkSecret(store: Store, secret: string): Promise<void> {
  const key = deriveKey(secret, 'evergreen/secret-check/v1')
  const stored = await store.putMetaIfAbsent('secret_check', seal(key, 'evergreen', 'secret_check'))
  if (open(key, stored, 'secret_check') !== 'evergreen') {
    throw new StartupError('EVERGREEN_SECRET does not match the secret this database was created with')
  }
}

/**
 * The admin key: EVERGREEN_ADMIN_KEY when set; otherwise the hash stored on first start, when a
 * key was generated, printed once by the caller and saved to `<data dir>/admin-key` (0600) so
 * `evergreen admin` on the same machine finds it.
 */
async function adminKey(store: Store, settings: Settings, random: Random): Promise<{ hash: string; generated?: string }> {
  if (settings.adminKey) return { hash: hashSecret(settings.adminKey) }
  const candidate = random.secret('ega')
  const stored = await store.putMetaIfAbsent('admin_key_hash', hashSecret(candidate))
  if (stored !== hashSecret(candidate)) return { hash: stored }
  const dir = resolve(settings.dataDir)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const file = join(dir, 'admin-key')
  writeFileSync(file, candidate + '\n', { mode: 0o600 })
  chmodSync(file, 0o600)
  return { hash: stored, generated: candidate }
}

/**
 * The built-in first-party public client that `evergreen login` (device flow) and credentials
 * minted at /settings/cli use, created on first start so a fresh install works with no setup.
 */
async function ensureCliClient(store: Store, settings: Settings, now: number, random: Random): Promise<void> {
  if (await store.getClient(settings.cliClientId)) return
  const client = newClientRecord({
    client_id: settings.cliClientId,
    name: 'Evergreen CLI',
    grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
    token_endpoint_auth_method: 'none',
    first_party: true,
    created_at: now,
  })
  try {
    await store.createClient(client, auditEvent({ now: () => now, random }, 'client.created', { client_id: client.client_id, data: { built_in: true } }))
  } catch (err) {
    // Another node created it first.
    if (!(err instanceof StoreConflictError)) throw err
  }
}

export class StartupError extends ServerError<'STARTUP_FAILED'> {
  constructor(message: string) {
    super('STARTUP_FAILED', message)
    this.name = 'StartupError'
  }
}

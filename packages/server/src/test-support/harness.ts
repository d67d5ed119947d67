import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TokenResponse } from '@evergreen/core'
import { pino } from 'pino'
import { createService, type Service, type ServiceOverrides } from '../node/bootstrap.js'
import { loadSettings, type Settings } from '../settings.js'
import { SqliteStore } from '../store/sqlite.js'
import type { Store } from '../store/types.js'

export const ADMIN_KEY = 'ega_test-admin-key-0123456789'

/** A clock tests move by hand: epoch seconds. */
export interface TestClock {
  now(): number
  advance(seconds: number): void
}

export function createClock(start = 1_800_000_000): TestClock {
  let t = start
  return { now: () => t, advance: (s) => void (t += s) }
}

export interface TestService extends Service {
  clock: TestClock
  settings: Settings
  /** Calls the app in process: a full Request through app.fetch. */
  fetch(path: string, init?: RequestInit): Promise<Response>
  admin(method: string, path: string, body?: unknown): Promise<Response>
  form(path: string, params: Record<string, string>, headers?: Record<string, string>): Promise<Response>
}

/** A temp-dir SQLite store, migrated. */
export async function openTempSqlite(): Promise<Store> {
  const dir = mkdtempSync(join(tmpdir(), 'evergreen-test-'))
  return new SqliteStore(join(dir, 'evergreen.db'))
}

/**
 * The real service (real store, real keys, real Hono app) with an injected clock and a silent
 * logger, driven through `app.fetch` — no sockets, no timers.
 */
export async function createTestService(
  options: { store?: Store; env?: Record<string, string>; clock?: TestClock; overrides?: Pick<ServiceOverrides, 'clientDocumentFetcher'> } = {},
): Promise<TestService> {
  const clock = options.clock ?? createClock()
  const dir = mkdtempSync(join(tmpdir(), 'evergreen-svc-'))
  const settings = loadSettings(
    {},
    {
      EVERGREEN_DATA_DIR: dir,
      EVERGREEN_ISSUER: 'http://evergreen.test',
      EVERGREEN_ADMIN_KEY: ADMIN_KEY,
      EVERGREEN_SECRET: 'test-secret-0123456789-0123456789-abcdef',
      EVERGREEN_RATE_LIMIT_TOKEN: '0',
      EVERGREEN_LOG_LEVEL: 'silent',
      ...options.env,
    },
  )
  const store = options.store ?? (await openTempSqlite())
  const service = await createService(settings, { store, now: clock.now, logger: pino({ level: 'silent' }), ...options.overrides })
  const fetch = (path: string, init?: RequestInit) => Promise.resolve(service.app.fetch(new Request(`http://evergreen.test${path}`, init)))
  return {
    ...service,
    clock,
    settings,
    fetch,
    admin: (method, path, body) =>
      fetch(`/admin/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }),
    form: (path, params, headers = {}) =>
      fetch(path, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: new URLSearchParams(params).toString(),
      }),
  }
}

/** Creates a user and a public CLI-style client; returns their ids. */
export async function seedUserAndClient(
  svc: TestService,
  client: Record<string, unknown> = {},
): Promise<{ userId: string; clientId: string; clientSecret: string | undefined }> {
  const user = await json<{ id: string }>(await svc.admin('POST', '/users', { email: `u${Math.random().toString(36).slice(2)}@example.com` }), 201)
  const created = await json<{ client_id: string; client_secret?: string }>(
    await svc.admin('POST', '/clients', {
      name: 'cli',
      grant_types: ['refresh_token'],
      token_endpoint_auth_method: 'none',
      ...client,
    }),
    201,
  )
  return { userId: user.id, clientId: created.client_id, clientSecret: created.client_secret }
}

/** Mints an operator session through the admin API. */
export async function mint(
  svc: TestService,
  userId: string,
  clientId: string,
  extra: Record<string, unknown> = {},
): Promise<TokenResponse & { refresh_token: string; refresh_token_expires_in: number; session_id: string; credential: string }> {
  return json(await svc.admin('POST', '/tokens', { user: userId, client_id: clientId, ...extra }), 201)
}

/** One refresh through the token endpoint as a public client. */
export function refresh(svc: TestService, clientId: string, refreshToken: string, extra: Record<string, string> = {}): Promise<Response> {
  return svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: refreshToken, ...extra })
}

/** Parses a JSON response after checking its status, with the body in the failure message. */
export async function json<T>(res: Response, status = 200): Promise<T> {
  const text = await res.text()
  if (res.status !== status) throw new Error(`expected HTTP ${status}, got ${res.status}: ${text}`)
  return JSON.parse(text) as T
}

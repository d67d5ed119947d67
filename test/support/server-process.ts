import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { captureOutput, childStopper, retryOnPortTaken, waitForListening } from './child-process.js'

/** The repository root, from this file's place in `test/support/`. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** The built CLI entry the tests run as a child process (needs `npm run build` first). */
export const CLI_BIN = join(REPO_ROOT, 'packages/cli/bin/evergreen.js')

/** An admin key the children are started with unless the test passes its own. */
export const TEST_ADMIN_KEY = 'ega_integration-admin-key-0123456789'

const LISTENING = /evergreen token service listening on (http:\/\/\S+)/

export interface ServerProcess {
  /** Base URL the child listens on, e.g. `http://127.0.0.1:41234`; also its issuer. */
  url: string
  adminKey: string
  dataDir: string
  child: ChildProcess
  /** Everything the child wrote so far, stdout and stderr interleaved in arrival order. */
  output(): string
  /** SIGTERM, then SIGKILL after 5 s; resolves once the child has exited. Idempotent. */
  stop(): Promise<void>
}

export interface StartOptions {
  /** Extra environment (EVERGREEN_*), on top of a scrubbed copy of the parent's. */
  env?: Record<string, string>
  /** Reuse a data dir (SQLite); a fresh temp dir otherwise, removed on stop. */
  dataDir?: string
  adminKey?: string
  /**
   * Start with `--port 0` and no EVERGREEN_ISSUER, leaving both to the server; `url` is then
   * taken from its "listening on" line.
   */
  ephemeralPort?: boolean
  /**
   * Listen on this port, once, without retrying elsewhere: a node restarted after a kill must come
   * back where its clients (and, through EVERGREEN_ISSUER, its tokens) expect it.
   */
  port?: number
}

/**
 * A free loopback port, chosen by the OS. The server is then started on it explicitly, because
 * with `--port 0` the issuer (and so discovery and every token's `iss`) would say port 0.
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const address = s.address()
      const port = typeof address === 'object' && address ? address.port : 0
      s.close(() => resolve(port))
    })
  })
}

/**
 * Starts `evergreen serve` as a real child process on 127.0.0.1 and waits (at most 20 s) for its
 * "listening on" line. The issuer is set to the URL it listens on.
 */
export async function startServerProcess(options: StartOptions = {}): Promise<ServerProcess> {
  if (!existsSync(join(REPO_ROOT, 'packages/cli/dist/main.js'))) {
    throw new Error('packages/cli/dist is missing: run `npm run build` before the integration tests')
  }
  if (options.ephemeralPort) return startOnce(0, options)
  if (options.port !== undefined) return startOnce(options.port, options)
  return retryOnPortTaken(freePort, (port) => startOnce(port, options))
}

async function startOnce(port: number, options: StartOptions): Promise<ServerProcess> {
  const ownDir = options.dataDir === undefined
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'evergreen-it-'))
  const adminKey = options.adminKey ?? TEST_ADMIN_KEY
  const url = `http://127.0.0.1:${port}`
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    // The parent's own settings must not leak into the child (DATABASE_URL and PORT are aliases).
    if (v === undefined || k.startsWith('EVERGREEN_') || k === 'DATABASE_URL' || k === 'PORT') continue
    env[k] = v
  }
  Object.assign(env, port === 0 ? {} : { EVERGREEN_ISSUER: url }, { EVERGREEN_ADMIN_KEY: adminKey, EVERGREEN_LOG_LEVEL: 'warn' }, options.env)

  const child = spawn(process.execPath, [CLI_BIN, 'serve', '--host', '127.0.0.1', '--port', String(port), '--data-dir', dataDir], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const output = captureOutput(child)
  const stop = childStopper(child, { after: () => {
    if (ownDir) rmSync(dataDir, { recursive: true, force: true })
  } })

  try {
    await waitForListening(child, output, { name: 'server', stream: 'stderr', listening: (text) => LISTENING.test(text), portTaken: /already in use/ })
  } catch (err) {
    await stop()
    throw err
  }
  const listening = LISTENING.exec(output())![1]!
  if (port !== 0 && listening !== url) {
    await stop()
    throw new Error(`server listens on ${listening}, expected ${url}`)
  }
  return { url: listening, adminKey, dataDir, child, output, stop }
}

/** A JSON answer: status, headers and parsed body (undefined when the body is not JSON). */
export interface JsonReply<T = Record<string, unknown>> {
  status: number
  headers: Headers
  body: T
  text: string
}

async function reply<T>(res: Response): Promise<JsonReply<T>> {
  const text = await res.text()
  let body: unknown
  try {
    body = text === '' ? undefined : JSON.parse(text)
  } catch {
    body = undefined
  }
  return { status: res.status, headers: res.headers, body: body as T, text }
}

/** Calls the admin API with the server's admin key. */
export async function adminCall<T = Record<string, unknown>>(
  server: Pick<ServerProcess, 'url' | 'adminKey'>,
  method: string,
  path: string,
  body?: unknown,
): Promise<JsonReply<T>> {
  const res = await fetch(`${server.url}/admin/v1${path}`, {
    method,
    headers: {
      authorization: `Bearer ${server.adminKey}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  return reply<T>(res)
}

/** Like {@link adminCall} but fails unless the status is 2xx; returns the body. */
export async function admin<T = Record<string, unknown>>(
  server: Pick<ServerProcess, 'url' | 'adminKey'>,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const r = await adminCall<T>(server, method, path, body)
  if (r.status < 200 || r.status > 299) throw new Error(`${method} ${path} → ${r.status}: ${r.text}`)
  return r.body
}

/** POSTs an `application/x-www-form-urlencoded` body. */
export async function postForm(
  baseUrl: string,
  path: string,
  params: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<JsonReply> {
  const res = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(params).toString(),
  })
  return reply(res)
}

export interface Fixture {
  userId: string
  email: string
  password: string
  publicClientId: string
  confidentialClientId: string
  confidentialClientSecret: string
}

/**
 * One user with a password, a public client (refresh grant, `none`) and a confidential client
 * (`client_secret_basic`, refresh and client_credentials).
 */
export async function createFixture(server: Pick<ServerProcess, 'url' | 'adminKey'>, tag = 'it'): Promise<Fixture> {
  const email = `${tag}-${Math.random().toString(36).slice(2)}@example.test`
  const password = `pw-${Math.random().toString(36).slice(2)}-Correct-Horse`
  const user = await admin<{ id: string }>(server, 'POST', '/users', { email, password, name: 'Integration User' })
  const pub = await admin<{ client_id: string }>(server, 'POST', '/clients', {
    name: `${tag} public`,
    grant_types: ['refresh_token'],
    token_endpoint_auth_method: 'none',
  })
  const conf = await admin<{ client_id: string; client_secret: string }>(server, 'POST', '/clients', {
    name: `${tag} confidential`,
    grant_types: ['refresh_token', 'client_credentials'],
    token_endpoint_auth_method: 'client_secret_basic',
  })
  return {
    userId: user.id,
    email,
    password,
    publicClientId: pub.client_id,
    confidentialClientId: conf.client_id,
    confidentialClientSecret: conf.client_secret,
  }
}

export interface MintedSession {
  access_token: string
  refresh_token: string
  session_id: string
  credential: string
  expires_in: number
  refresh_token_expires_in: number
}

/** Mints a session through `POST /admin/v1/tokens`. */
export async function mintSession(
  server: Pick<ServerProcess, 'url' | 'adminKey'>,
  user: string,
  clientId: string,
  extra: Record<string, unknown> = {},
): Promise<MintedSession> {
  return admin<MintedSession>(server, 'POST', '/tokens', { user, client_id: clientId, ...extra })
}

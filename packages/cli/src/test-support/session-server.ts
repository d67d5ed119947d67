import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PageClient } from '../../../server/src/test-support/browser-client.js'
import { startServe, type ServeProcess } from './cli-process.js'

// A real `evergreen serve` child plus what the session-command tests do to it over HTTP: the
// admin API (users, minted credentials, sessions) and a person approving a device code in the
// pages (cookie jar + CSRF, like a browser).

export const ADMIN_KEY = 'ega_cli-session-tests-admin-key-0123456789'
export const PASSWORD = 'correct horse battery'

const tmpDirs: string[] = []

/** A fresh temp directory, removed by {@link removeTmpDirs}. */
export function tmp(prefix = 'evergreen-cli-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  tmpDirs.push(dir)
  return dir
}

export function removeTmpDirs(): void {
  for (const dir of tmpDirs.splice(0)) rmSync(dir, { recursive: true, force: true })
}

export interface Minted {
  access_token: string
  refresh_token: string
  refresh_token_expires_in: number
  session_id: string
  credential: string
}

export interface SessionRecordView {
  id: string
  user_id: string
  client_id: string
  active: boolean
  revoked_at: number | null
  revoked_reason: string | null
}

export interface SessionServer {
  serve: ServeProcess
  issuer: string
  admin<T>(method: string, path: string, body?: unknown): Promise<T>
  /** Creates a user with {@link PASSWORD}; returns its id. */
  createUser(email: string): Promise<string>
  /** Mints an operator session on the built-in CLI client (POST /admin/v1/tokens). */
  mint(user: string, extra?: Record<string, unknown>): Promise<Minted>
  session(id: string): Promise<SessionRecordView>
  /** Signs in on /login as `email` and approves (or denies) `userCode` on /device. */
  decideDevice(userCode: string, email: string, decision?: 'approve' | 'deny'): Promise<string>
}

/** Starts `evergreen serve` on a free port with a fresh data dir and a known admin key. */
export async function startSessionServer(env: Record<string, string> = {}): Promise<SessionServer> {
  const serve = await startServe(['--port', '0', '--data-dir', join(tmp('evergreen-serve-'), 'data'), '--rate-limit-token', '0', '--rate-limit-login', '0'], {
    EVERGREEN_ADMIN_KEY: ADMIN_KEY,
    ...env,
  })
  const issuer = serve.url
  const admin = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${issuer}/admin/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    const text = await res.text()
    if (!res.ok) throw new Error(`${method} ${path} → ${res.status}: ${text}`)
    return JSON.parse(text) as T
  }
  return {
    serve,
    issuer,
    admin,
    createUser: async (email) => (await admin<{ id: string }>('POST', '/users', { email, password: PASSWORD })).id,
    mint: (user, extra = {}) => admin<Minted>('POST', '/tokens', { user, client_id: 'evergreen-cli', ...extra }),
    session: (id) => admin<SessionRecordView>('GET', `/sessions/${id}`),
    async decideDevice(userCode, email, decision = 'approve') {
      const browser = PageClient.overHttp(issuer)
      const login = await browser.login(email, PASSWORD)
      if (login.status !== 303) throw new Error(`sign-in failed: HTTP ${login.status}`)
      await browser.get(`/device?user_code=${encodeURIComponent(userCode)}`)
      const confirm = await browser.post('/device', { user_code: userCode })
      if (confirm.status !== 200) throw new Error(`/device refused ${userCode}: HTTP ${confirm.status}`)
      const done = await browser.post('/device/decision', { user_code: userCode, decision })
      const page = await done.text()
      if (done.status !== 200) throw new Error(`/device/decision: HTTP ${done.status}: ${page}`)
      return page
    },
  }
}

/** A config dir for CLI children (file store), and access to the session file in it. */
export interface ConfigDir {
  dir: string
  /** The env a child needs to use this dir: EVERGREEN_CONFIG_DIR and EVERGREEN_STORE=file. */
  env: Record<string, string>
  /** Paths of the stored session files. */
  files(): string[]
  /** The one stored session (throws unless there is exactly one). */
  read(): StoredSessionFile
  write(session: StoredSessionFile): void
  /** Moves the stored access token's expiry into the past, so the next command must refresh. */
  expireAccessToken(): void
}

export interface StoredSessionFile {
  issuer: string
  client_id: string
  access_token: string
  access_token_expires_at: number
  refresh_token?: string
  refresh_token_expires_at?: number
  [field: string]: unknown
}

export function configDir(): ConfigDir {
  const dir = tmp('evergreen-config-')
  const sessions = join(dir, 'sessions')
  const files = () => {
    try {
      return readdirSync(sessions).filter((n) => n.endsWith('.json')).map((n) => join(sessions, n))
    } catch {
      return []
    }
  }
  const only = () => {
    const found = files()
    if (found.length !== 1) throw new Error(`expected one session file in ${sessions}, found ${found.length}`)
    return found[0]!
  }
  const read = () => JSON.parse(readFileSync(only(), 'utf8')) as StoredSessionFile
  const write = (session: StoredSessionFile) => {
    const file = only()
    writeFileSync(file, JSON.stringify(session, null, 2) + '\n')
    chmodSync(file, 0o600)
  }
  return {
    dir,
    env: { EVERGREEN_CONFIG_DIR: dir, EVERGREEN_STORE: 'file' },
    files,
    read,
    write,
    expireAccessToken: () => {
      const s = read()
      write({ ...s, access_token_expires_at: Date.now() - 60_000 })
    },
  }
}

/** The claims of a JWT (no verification: the test only reads them). */
export function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>
}

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ServiceOverrides } from '../../packages/server/src/node/bootstrap.js'
import { startServer, type RunningServer } from '../../packages/server/src/node/serve.js'
import { loadSettings } from '../../packages/server/src/settings.js'
import { admin, freePort } from './server-process.js'

/** The admin key every in-process test server is started with. */
export const IN_PROCESS_ADMIN_KEY = 'ega_test-admin-key-0123456789'

export interface InProcessServer {
  /** Base URL it listens on, e.g. `http://127.0.0.1:41234`; also its issuer. */
  url: string
  adminKey: string
  dataDir: string
  running: RunningServer
  /** Stops the server and removes its data dir. Idempotent. */
  stop(): Promise<void>
}

/**
 * Starts the real HTTP server in this process on 127.0.0.1 with a fresh SQLite data dir. The
 * port is picked first, because the issuer (discovery, every `iss`, verification_uri, the CSP
 * form-action origin) must be the URL the server really listens on; with port 0 it would not be.
 */
export async function startInProcessServer(env: Record<string, string> = {}, overrides: ServiceOverrides = {}): Promise<InProcessServer> {
  let lastError: unknown
  // Another process can take the port between freePort() and listen(); retry then.
  for (let attempt = 0; attempt < 3; attempt++) {
    const dataDir = mkdtempSync(join(tmpdir(), 'evergreen-browser-'))
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    try {
      const running = await startServer(
        loadSettings(
          {},
          {
            EVERGREEN_PORT: String(port),
            EVERGREEN_HOST: '127.0.0.1',
            EVERGREEN_ISSUER: url,
            EVERGREEN_DATA_DIR: dataDir,
            EVERGREEN_ADMIN_KEY: IN_PROCESS_ADMIN_KEY,
            EVERGREEN_SECRET: 'test-secret-that-is-at-least-32-characters-long',
            EVERGREEN_RATE_LIMIT_TOKEN: '0',
            EVERGREEN_LOG_LEVEL: 'silent',
            ...env,
          },
        ),
        overrides,
      )
      if (running.url !== url) {
        await running.stop()
        throw new Error(`server listens on ${running.url}, expected ${url}`)
      }
      let stopping: Promise<void> | undefined
      const stop = () =>
        (stopping ??= (async () => {
          await running.stop()
          rmSync(dataDir, { recursive: true, force: true })
        })())
      return { url, adminKey: IN_PROCESS_ADMIN_KEY, dataDir, running, stop }
    } catch (err) {
      rmSync(dataDir, { recursive: true, force: true })
      lastError = err
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err
    }
  }
  throw lastError
}

export interface TestUser {
  id: string
  email: string
  password: string
}

/** Creates a user with a password through the admin API; a fresh one per test keeps tests apart. */
export async function createTestUser(server: Pick<InProcessServer, 'url' | 'adminKey'>, tag: string): Promise<TestUser> {
  const email = `${tag}-${Math.random().toString(36).slice(2, 10)}@example.test`
  const password = `pw-${Math.random().toString(36).slice(2)}-Correct-Horse`
  const user = await admin<{ id: string }>(server, 'POST', '/users', { email, password, name: 'Browser Test User' })
  return { id: user.id, email, password }
}

/** Registers a public (PKCE, `none`) authorization-code client for `redirectUri`. */
export async function createCodeClient(
  server: Pick<InProcessServer, 'url' | 'adminKey'>,
  options: { name: string; redirectUri: string; firstParty: boolean },
): Promise<string> {
  const client = await admin<{ client_id: string }>(server, 'POST', '/clients', {
    name: options.name,
    redirect_uris: [options.redirectUri],
    grant_types: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_method: 'none',
    first_party: options.firstParty,
  })
  return client.client_id
}

import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { captureOutput, childStopper, isAlive, retryOnPortTaken, waitForListening } from './child-process.js'
import { admin, freePort, REPO_ROOT, type ServerProcess } from './server-process.js'

/** The example's entry point, run as it is (`node server.js`), with no build step. */
export const DASHBOARD_DIR = join(REPO_ROOT, 'examples/dashboard')

export interface DashboardProcess {
  /** The dashboard's public origin, e.g. `http://localhost:41234` (its DASHBOARD_URL). */
  url: string
  clientId: string
  clientSecret: string
  child: ChildProcess
  /** Everything the child wrote so far (its `auth` event lines included), stdout and stderr. */
  output(): string
  /** Whether the child is still running. */
  alive(): boolean
  /** SIGTERM, then SIGKILL after 5 s; resolves once the child has exited. Idempotent. */
  stop(): Promise<void>
}

export interface DashboardOptions {
  /**
   * The host name of the dashboard's origin. `localhost` by default, so that against an issuer on
   * `127.0.0.1` a browser keeps the two apps' cookies apart: cookies are per host, not per port.
   */
  host?: 'localhost' | '127.0.0.1'
  /** The registered client's name (as `/settings/sessions` shows it). */
  name?: string
  /** A fresh random 32-byte secret unless given. */
  sessionSecret?: string
}

/**
 * Registers the dashboard's client through the admin API as the README does (confidential,
 * `client_secret_basic`, first party, with its post-logout and back-channel logout URIs), then
 * starts `examples/dashboard/server.js` as a child process against `server` and waits (at most
 * 20 s) for its "listening on" line.
 */
export async function startDashboard(server: Pick<ServerProcess, 'url' | 'adminKey'>, options: DashboardOptions = {}): Promise<DashboardProcess> {
  // Another process can take the port between freePort() and the child's listen(); retry then.
  return retryOnPortTaken(freePort, (port) => startOnce(server, port, options))
}

/** The admin API body the README's `evergreen admin clients create …` line sends. */
export function dashboardClientBody(url: string, name = 'dashboard') {
  return {
    name,
    redirect_uris: [`${url}/auth/callback`],
    post_logout_redirect_uris: [`${url}/`],
    backchannel_logout_uri: `${url}/auth/backchannel-logout`,
    grant_types: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_method: 'client_secret_basic',
    first_party: true,
  }
}

async function startOnce(server: Pick<ServerProcess, 'url' | 'adminKey'>, port: number, options: DashboardOptions): Promise<DashboardProcess> {
  const url = `http://${options.host ?? 'localhost'}:${port}`
  const client = await admin<{ client_id: string; client_secret: string }>(server, 'POST', '/clients', dashboardClientBody(url, options.name))
  // Only what the example reads: nothing of the parent's EVERGREEN_* or PORT leaks in.
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    EVERGREEN_ISSUER: server.url,
    DASHBOARD_CLIENT_ID: client.client_id,
    DASHBOARD_CLIENT_SECRET: client.client_secret,
    DASHBOARD_SESSION_SECRET: options.sessionSecret ?? randomBytes(32).toString('base64'),
    PORT: String(port),
    DASHBOARD_URL: url,
  }
  const child = spawn(process.execPath, [join(DASHBOARD_DIR, 'server.js')], { cwd: DASHBOARD_DIR, env, stdio: ['ignore', 'pipe', 'pipe'] })
  const output = captureOutput(child)
  const alive = () => isAlive(child)
  const stop = childStopper(child)

  try {
    await waitForListening(child, output, { name: 'dashboard', stream: 'stdout', listening: (text) => text.includes(`dashboard listening on ${url}`), portTaken: /EADDRINUSE/ })
  } catch (err) {
    await stop()
    throw err
  }
  return { url, clientId: client.client_id, clientSecret: client.client_secret, child, output, alive, stop }
}

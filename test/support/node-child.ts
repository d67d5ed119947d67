import { fork, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { captureOutput, childStopper, retryOnPortTaken, waitForListening } from './child-process.js'
import { freePort, REPO_ROOT, TEST_ADMIN_KEY, type ServerProcess } from './server-process.js'
import type { ChildProcess } from 'node:child_process'

/** A Node script started by {@link startNodeChild}. */
export interface NodeChild {
  child: ChildProcess
  /** Everything it wrote so far, stdout and stderr interleaved. */
  output(): string
  /**
   * Moves the child's clock forward by `seconds` (children started with `ipc: true`, which answer
   * `{ advance }` with `{ now }`: test/support/clocked-*.mjs); resolves with its new time.
   */
  advance(seconds: number): Promise<number>
  /** SIGTERM, SIGKILL after 5 s; resolves once it exited. Idempotent. */
  stop(): Promise<void>
}

/**
 * Starts `node <script> [...args]` with `env` on top of the parent's environment (minus
 * EVERGREEN_* and PORT) and waits for a stderr line matching `ready`. With `ipc` the child is
 * forked, so its clock can be moved through {@link NodeChild.advance}.
 */
export async function startNodeChild(script: string, options: { args?: string[]; env: Record<string, string>; ready: RegExp; ipc?: boolean }): Promise<NodeChild> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('EVERGREEN_') && k !== 'PORT') env[k] = v
  Object.assign(env, options.env)
  const child = options.ipc
    ? fork(script, options.args ?? [], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
    : spawn(process.execPath, [script, ...(options.args ?? [])], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  const output = captureOutput(child)
  const stop = childStopper(child)
  try {
    await waitForListening(child, output, { name: script, stream: 'stderr', listening: (text) => options.ready.test(text), portTaken: /EADDRINUSE/ })
  } catch (err) {
    await stop()
    throw err
  }
  const advance = (seconds: number) =>
    new Promise<number>((resolve, reject) => {
      if (!child.send) return reject(new Error(`${script} was not started with ipc`))
      child.once('message', (m) => resolve((m as { now: number }).now))
      child.send({ advance: seconds })
    })
  return { child, output, advance, stop }
}

/** `evergreen serve`'s server whose clock the test moves: {@link startClockedServerProcess}. */
export interface ClockedServerProcess extends ServerProcess {
  /** Moves the server's clock forward by `seconds`; resolves with its new time (epoch seconds). */
  advance(seconds: number): Promise<number>
}

/**
 * Starts `evergreen serve`'s server (test/support/clocked-evergreen.mjs) on a free loopback port,
 * forked so the test moves its clock over IPC instead of sleeping: a session really reaching its
 * end, in a real process. The issuer is the URL it listens on; the settings are `env` on top of the
 * port, host, data dir and admin key, as for {@link startServerProcess}.
 */
export async function startClockedServerProcess(options: { env?: Record<string, string>; dataDir?: string; adminKey?: string } = {}): Promise<ClockedServerProcess> {
  const adminKey = options.adminKey ?? TEST_ADMIN_KEY
  return retryOnPortTaken(freePort, async (port) => {
    const ownDir = options.dataDir === undefined
    const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'evergreen-clocked-'))
    const removeOwnDir = () => {
      if (ownDir) rmSync(dataDir, { recursive: true, force: true })
    }
    const url = `http://127.0.0.1:${port}`
    let node: NodeChild
    try {
      node = await startNodeChild(join(REPO_ROOT, 'test/support/clocked-evergreen.mjs'), {
        ipc: true,
        ready: /listening on http/,
        env: {
          EVERGREEN_ISSUER: url, EVERGREEN_PORT: String(port), EVERGREEN_HOST: '127.0.0.1', EVERGREEN_DATA_DIR: dataDir,
          EVERGREEN_ADMIN_KEY: adminKey, EVERGREEN_LOG_LEVEL: 'warn', ...options.env,
        },
      })
    } catch (err) {
      removeOwnDir()
      throw err
    }
    const stop = async () => {
      await node.stop()
      removeOwnDir()
    }
    return { url, adminKey, dataDir, child: node.child, output: node.output, advance: node.advance, stop }
  })
}

import { fork, spawn } from 'node:child_process'
import { captureOutput, childStopper, waitForListening } from './child-process.js'
import { REPO_ROOT } from './server-process.js'
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

import { fork, spawn, type ChildProcess } from 'node:child_process'
import { REPO_ROOT } from './server-process.js'

/** A child started by {@link startChild}. */
export interface Child {
  child: ChildProcess
  /** Everything it wrote so far, stdout and stderr interleaved. */
  output(): string
  /** Moves the child's clock forward (children started with `ipc: true` only); resolves with its new `now`. */
  advance(seconds: number): Promise<number>
  /** SIGTERM, SIGKILL after 5 s; resolves once it exited. Idempotent. */
  stop(): Promise<void>
}

/**
 * Starts `node <script> [...args]` with `env` on top of the parent's environment (minus EVERGREEN_*)
 * and waits at most 20 s for a stderr line matching `ready`. With `ipc` the child is forked, so its
 * clock can be moved through {@link Child.advance}.
 */
export async function startChild(script: string, options: { args?: string[]; env: Record<string, string>; ready: RegExp; ipc?: boolean }): Promise<Child> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('EVERGREEN_') && k !== 'PORT') env[k] = v
  Object.assign(env, options.env)
  const child = options.ipc
    ? fork(script, options.args ?? [], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
    : spawn(process.execPath, [script, ...(options.args ?? [])], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  const chunks: string[] = []
  const output = () => chunks.join('')
  child.stdout!.setEncoding('utf8').on('data', (d: string) => chunks.push(d))
  child.stderr!.setEncoding('utf8').on('data', (d: string) => chunks.push(d))
  const exited = new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())))
  let stopping: Promise<void> | undefined
  const stop = () =>
    (stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
        await exited
        clearTimeout(timer)
      }
    })())
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${script} did not start within 20 s:\n${output()}`)), 20_000)
      child.stderr!.on('data', () => {
        if (options.ready.test(output())) {
          clearTimeout(timer)
          resolve()
        }
      })
      child.once('exit', (code, signal) => {
        clearTimeout(timer)
        reject(new Error(`${script} exited (${code ?? signal}) before it was ready:\n${output()}`))
      })
    })
  } catch (err) {
    await stop()
    throw err
  }
  const advance = (seconds: number) =>
    new Promise<number>((resolve, reject) => {
      if (!child.send) return reject(new Error('not started with ipc'))
      child.once('message', (m) => resolve((m as { now: number }).now))
      child.send({ advance: seconds })
    })
  return { child, output, advance, stop }
}

import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'

// Runs the real, built `evergreen` bin as child processes, as a user would. Every child is
// tracked so afterEach/afterAll can kill what a failing test left behind.

export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url))
export const BIN = fileURLToPath(new URL('../../bin/evergreen.js', import.meta.url))

const RUN_TIMEOUT_MS = 20_000
const WAIT_TIMEOUT_MS = 20_000
const children = new Set<ChildProcess>()

/** Throws a clear error when `npm run build` has not produced the CLI the bin imports. */
export function assertBuilt(): void {
  if (!existsSync(fileURLToPath(new URL('../../dist/main.js', import.meta.url)))) {
    throw new Error('packages/cli/dist/main.js is missing: run `npm run build` before these tests')
  }
}

/** The parent's environment without EVERGREEN_* (a developer's settings must not leak in), plus `extra`. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('EVERGREEN_')) env[k] = v
  return { ...env, EVERGREEN_LOG_LEVEL: 'silent', ...extra }
}

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

export interface RunOptions {
  env?: Record<string, string>
  /** Written to the child's stdin, which is then closed (it is closed at once without input). */
  input?: string
  cwd?: string
}

/** Runs `node bin/evergreen.js …args` to completion (at most 20 s) and resolves, whatever the exit code. */
export function runCli(args: string[], options: RunOptions = {}): Promise<CliResult> {
  return runFile(process.execPath, [BIN, ...args], options)
}

/** Runs any executable (e.g. `npx`) the same way as {@link runCli}. */
export function runFile(file: string, args: string[], options: RunOptions = {}, timeoutMs = RUN_TIMEOUT_MS): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      { env: childEnv(options.env), cwd: options.cwd ?? REPO_ROOT, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const e = err as (Error & { code?: unknown; signal?: NodeJS.Signals | null }) | null
        resolve({
          code: e ? (typeof e.code === 'number' ? e.code : null) : 0,
          signal: e?.signal ?? null,
          stdout,
          stderr,
        })
      },
    )
    track(child)
    child.stdin?.end(options.input ?? '')
  })
}

export interface ServeProcess {
  child: ChildProcess
  /** The URL from the "listening on" line (the real port, also with `--port 0`). */
  url: string
  /** All stderr so far. */
  stderr(): string
  /** Resolves once stderr matches `pattern`; rejects on exit or after the timeout, with the output. */
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>
  /** Resolves with the exit code and signal once the child has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** Sends `signal` (SIGTERM by default) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/**
 * Spawns `evergreen serve …args` and waits for its "listening on" line.
 *
 * @example const server = await startServe(['--port', '0', '--data-dir', dir, '--rate-limit-token', '0'])
 */
export async function startServe(args: string[], env: Record<string, string> = {}): Promise<ServeProcess> {
  assertBuilt()
  const child = spawn(process.execPath, [BIN, 'serve', ...args], { env: childEnv(env), cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  track(child)
  let stderr = ''
  const listeners = new Set<() => void>()
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
    for (const l of listeners) l()
  })
  child.stdout!.resume()
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      resolve({ code, signal })
      for (const l of listeners) l()
    })
  })

  const waitForStderr = (pattern: RegExp, timeoutMs = WAIT_TIMEOUT_MS) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const m = pattern.exec(stderr)
        if (m) return done(() => resolve(m))
        if (child.exitCode !== null || child.signalCode !== null) {
          done(() => reject(new Error(`evergreen serve exited (${child.exitCode ?? child.signalCode}) before printing ${pattern}; stderr:\n${stderr}`)))
        }
      }
      const timer = setTimeout(() => done(() => reject(new Error(`no ${pattern} on stderr within ${timeoutMs} ms; stderr:\n${stderr}`))), timeoutMs)
      const done = (settle: () => void) => {
        clearTimeout(timer)
        listeners.delete(check)
        settle()
      }
      listeners.add(check)
      check()
    })

  const [, url] = await waitForStderr(/listening on (http:\/\/\S+)/)
  return {
    child,
    url: url!,
    stderr: () => stderr,
    waitForStderr,
    exited,
    stop: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return withTimeout(exited, WAIT_TIMEOUT_MS, `evergreen serve did not exit after ${signal}; stderr:\n${stderr}`)
    },
  }
}

/** Kills every child still running (SIGKILL) and waits for them to go. */
export async function killAllChildren(): Promise<void> {
  const running = [...children].filter((c) => c.exitCode === null && c.signalCode === null)
  await Promise.all(running.map((c) => new Promise<void>((resolve) => {
    c.once('exit', () => resolve())
    if (!c.kill('SIGKILL')) resolve()
  })))
  children.clear()
}

/** A loopback port nothing listens on: bound by the OS, then released. */
export function closedPort(): Promise<number> {
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

function track(child: ChildProcess): void {
  children.add(child)
  child.once('exit', () => children.delete(child))
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms)
    }),
  ])
}

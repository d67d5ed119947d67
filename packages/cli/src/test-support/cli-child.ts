import { spawn, type ChildProcess } from 'node:child_process'
import { BIN, childEnv, REPO_ROOT, assertBuilt } from './cli-process.js'

// A long-running `evergreen …` child whose stderr a test watches while it runs (e.g. `login`
// waiting for an approval), as opposed to cli-process.ts's runCli, which waits for the end.

const WAIT_TIMEOUT_MS = 20_000
const spawned = new Set<ChildProcess>()

export interface CliChild {
  child: ChildProcess
  stdout(): string
  stderr(): string
  /** Resolves once stderr matches `pattern`; rejects on exit or timeout, with the output so far. */
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>
  /** Resolves with the exit once the child has exited (at most 20 s after the call). */
  exited(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Spawns `node bin/evergreen.js …args` with stdin, stdout and stderr as pipes. */
export function spawnCli(args: string[], options: { env?: Record<string, string>; input?: string } = {}): CliChild {
  assertBuilt()
  const child = spawn(process.execPath, [BIN, ...args], { env: childEnv(options.env), cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] })
  spawned.add(child)
  let stdout = ''
  let stderr = ''
  const listeners = new Set<() => void>()
  const notify = () => {
    for (const l of listeners) l()
  }
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d))
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d
    notify()
  })
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      spawned.delete(child)
      // Let the pipes drain before anyone reads the output.
      setImmediate(() => {
        resolve({ code, signal })
        notify()
      })
    })
  })
  if (options.input !== undefined) child.stdin!.end(options.input)

  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    waitForStderr: (pattern, timeoutMs = WAIT_TIMEOUT_MS) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const m = pattern.exec(stderr)
          if (m) return done(() => resolve(m))
          if (child.exitCode !== null || child.signalCode !== null) {
            done(() => reject(new Error(`evergreen ${args[0]} exited (${child.exitCode ?? child.signalCode}) before printing ${pattern}; stderr:\n${stderr}`)))
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
      }),
    exited: (timeoutMs = WAIT_TIMEOUT_MS) =>
      Promise.race([
        exit,
        new Promise<never>((_, reject) => {
          setTimeout(() => reject(new Error(`evergreen ${args[0]} still running after ${timeoutMs} ms; stderr:\n${stderr}`)), timeoutMs).unref()
        }),
      ]),
  }
}

/** SIGKILLs every child spawnCli started that is still running. */
export async function killSpawnedCli(): Promise<void> {
  await Promise.all(
    [...spawned].map(
      (c) =>
        new Promise<void>((resolve) => {
          c.once('exit', () => resolve())
          if (!c.kill('SIGKILL')) resolve()
        }),
    ),
  )
  spawned.clear()
}

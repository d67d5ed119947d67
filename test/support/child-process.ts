import type { ChildProcess } from 'node:child_process'

/** The child could not listen because another process took its port first: try another. */
export class PortTakenError extends Error {}

/** A child's output, stdout and stderr interleaved in arrival order. */
export function captureOutput(child: ChildProcess): () => string {
  const chunks: string[] = []
  child.stdout!.setEncoding('utf8').on('data', (d: string) => chunks.push(d))
  child.stderr!.setEncoding('utf8').on('data', (d: string) => chunks.push(d))
  return () => chunks.join('')
}

/** Whether the child is still running. */
export function isAlive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null
}

/**
 * A stop function for `child`: SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited,
 * then runs `after` (cleanup). Idempotent: every call shares the first one's promise.
 */
export function childStopper(child: ChildProcess, options: { graceMs?: number; after?: () => void } = {}): () => Promise<void> {
  const exited = new Promise<void>((resolve) => {
    if (!isAlive(child)) resolve()
    else child.once('exit', () => resolve())
  })
  let stopping: Promise<void> | undefined
  return () =>
    (stopping ??= (async () => {
      if (isAlive(child)) {
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), options.graceMs ?? 5_000)
        await exited
        clearTimeout(timer)
      }
      options.after?.()
    })())
}

export interface ListeningWait {
  /** What the child is, for the error messages ("server", "dashboard"). */
  name: string
  /** Which stream announces the listening line. */
  stream: 'stdout' | 'stderr'
  /** True once the output so far says the child listens. */
  listening(output: string): boolean
  /** Output meaning the port was taken: the wait rejects with {@link PortTakenError}. */
  portTaken: RegExp
  timeoutMs?: number
}

/**
 * Resolves once the child's output says it listens; rejects when it exits first (with
 * {@link PortTakenError} when its port was taken), fails to spawn, or stays silent for
 * `timeoutMs` (20 s). Driven by the child's own output, never by a sleep.
 */
export function waitForListening(child: ChildProcess, output: () => string, wait: ListeningWait): Promise<void> {
  const timeoutMs = wait.timeoutMs ?? 20_000
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${wait.name} did not start within ${timeoutMs} ms:\n${output()}`)), timeoutMs)
    child[wait.stream]!.on('data', () => {
      if (wait.listening(output())) {
        clearTimeout(timer)
        resolve()
      }
    })
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      const text = output()
      if (wait.portTaken.test(text)) reject(new PortTakenError(text))
      else reject(new Error(`${wait.name} exited (${code ?? signal}) before listening:\n${text}`))
    })
  })
}

/**
 * Runs `start` on a port from `choosePort`, again (three tries in all) when another process took
 * the port between choosing it and the child's listen().
 */
export async function retryOnPortTaken<T>(choosePort: () => Promise<number>, start: (port: number) => Promise<T>): Promise<T> {
  let lastError: unknown
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await start(await choosePort())
    } catch (err) {
      lastError = err
      if (!(err instanceof PortTakenError)) throw err
    }
  }
  throw lastError
}

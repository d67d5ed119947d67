import type { Sleep } from '@evergreen/client'
import type { Io } from './io.js'

type Env = Record<string, string | undefined>

/**
 * What the session commands (login, logout, status, whoami, token, refresh) need from the
 * outside world, so in-process tests can replace any of it. Production defaults in
 * {@link processSessionDeps}.
 */
export interface SessionDeps {
  io: Io
  env: Env
  /** Injected into the SDK; default: the global fetch. */
  fetch?: typeof fetch
  /** Epoch milliseconds. */
  now(): number
  /** Waits between device-flow polls; default a timer (tests pass one that does not wait). */
  sleep?: Sleep
  platform: NodeJS.Platform
  stdinIsTty(): boolean
  stderrIsTty(): boolean
  readStdin(): Promise<string>
  /** Shows `question` on stderr and resolves with the line typed; rejects with PromptCancelled on Ctrl-C or EOF. */
  prompt(question: string): Promise<string>
  /** Opens `url` in the person's browser; resolves false (never rejects) when it could not. */
  openBrowser(url: string): Promise<boolean>
  /** Calls `handler` on Ctrl-C (SIGINT) until the returned function is called. */
  onInterrupt(handler: () => void): () => void
}

/** Thrown by {@link SessionDeps.prompt} when the person pressed Ctrl-C or closed the input. */
export class PromptCancelled extends Error {
  constructor() {
    super('cancelled')
    this.name = 'PromptCancelled'
  }
}

/** The real process: its env, stdin, SIGINT and platform. */
export function processSessionDeps(io: Io, overrides: Partial<Omit<SessionDeps, 'io'>> = {}): SessionDeps {
  const env = overrides.env ?? process.env
  return {
    io,
    env,
    now: () => Date.now(),
    platform: process.platform,
    stdinIsTty: () => process.stdin.isTTY === true,
    stderrIsTty: () => process.stderr.isTTY === true,
    readStdin: async () => (await import('./read-stdin.js')).readStdin(),
    prompt: promptLine,
    // Loaded on use, like readline in promptLine: `evergreen token` and `status` never open a
    // browser or ask a question, and child_process and readline are a good part of their start-up.
    openBrowser: async (url) => (await import('./open-browser.js')).openBrowser(url, { platform: process.platform, env }),
    onInterrupt(handler) {
      process.on('SIGINT', handler)
      return () => void process.off('SIGINT', handler)
    },
    ...overrides,
  }
}

/** True when the command may ask a question: stdin is a terminal and `CI` is unset. */
export function canPrompt(deps: SessionDeps): boolean {
  return deps.stdinIsTty() && !deps.env.CI
}

async function promptLine(question: string): Promise<string> {
  const { createInterface } = await import('node:readline')
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true })
    let answered = false
    // In raw mode Ctrl-C reaches readline as a keypress, not as a signal to the process.
    rl.on('SIGINT', () => {
      rl.close()
    })
    rl.on('close', () => {
      if (!answered) {
        process.stderr.write('\n')
        reject(new PromptCancelled())
      }
    })
    rl.question(question, (answer) => {
      answered = true
      rl.close()
      resolve(answer)
    })
  })
}

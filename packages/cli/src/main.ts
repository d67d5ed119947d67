import type { Command } from 'commander'
import { EXIT } from './exit-codes.js'
import { CliError, processIo, type Io } from './io.js'
import type { SessionOptions } from './session-context.js'
import type { SessionDeps } from './session-deps.js'

type Register = (program: Command, io: Io, sessionDeps: () => Promise<SessionDeps>) => Promise<void>

const session = (load: () => Promise<(program: Command, deps: SessionDeps) => void>): Register =>
  async (program, _io, sessionDeps) => {
    const [register, deps] = await Promise.all([load(), sessionDeps()])
    register(program, deps)
  }

// One loader per top-level command, in help order. Each module is imported only when its command
// is the one being run (or when every command is needed: help, a typo, no command): `evergreen
// token` in a script's `$(...)` runs on every call, and loading the server (hono, pg, pino,
// better-sqlite3, argon2) and jose with it made it ~5x slower than `node -e ''`.
const COMMANDS: Record<string, Register> = {
  login: session(async () => (await import('./commands/login.js')).registerLogin),
  logout: session(async () => (await import('./commands/logout.js')).registerLogout),
  status: session(async () => (await import('./commands/status.js')).registerStatus),
  whoami: session(async () => (await import('./commands/whoami.js')).registerWhoami),
  token: session(async () => (await import('./commands/token.js')).registerToken),
  refresh: session(async () => (await import('./commands/refresh.js')).registerRefresh),
  delegate: session(async () => (await import('./commands/delegate.js')).registerDelegate),
  serve: async (program, io) => (await import('./commands/serve.js')).registerServe(program, io),
  admin: async (program, io) => (await import('./commands/admin.js')).registerAdmin(program, io),
}

/**
 * Runs the `evergreen` command with `argv` (as process.argv) and resolves to the exit code.
 * Never calls process.exit itself, so tests can run it in process.
 */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  let deps: Promise<SessionDeps> | undefined
  const sessionDeps = () => (deps ??= import('./session-deps.js').then((m) => m.processSessionDeps(io)))
  const plainToken = argv[2] === 'token' ? parsePlainToken(argv.slice(3)) : undefined
  if (plainToken) {
    try {
      const [{ runToken }, d] = await Promise.all([import('./commands/token.js'), sessionDeps()])
      await runToken(plainToken, d)
      return EXIT.ok
    } catch (err) {
      return reportError(err, io)
    }
  }
  const { Command, CommanderError } = await import('commander')
  const program = new Command('evergreen')
    .description('Evergreen: sessions that never force a re-login, and never leak.')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.err(s), writeErr: (s) => io.err(s) })
    .showHelpAfterError()
  // Only when the command is the first argument: anything before it (`-h`, a typo) is for the
  // program itself, whose help and "did you mean" suggestions need every command registered.
  const named = Object.hasOwn(COMMANDS, argv[2] ?? '') ? argv[2]! : undefined
  try {
    for (const name of named ? [named] : Object.keys(COMMANDS)) await COMMANDS[name]!(program, io, sessionDeps)
    await program.parseAsync(argv)
    return EXIT.ok
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help' ? EXIT.ok : EXIT.error
    }
    return reportError(err, io)
  }
}

function reportError(err: unknown, io: Io): number {
  if (err instanceof CliError) {
    io.err(`error: ${err.message}`)
    return err.exitCode
  }
  io.err(`error: ${(err as Error).message ?? String(err)}`)
  return EXIT.error
}

/**
 * The options of `evergreen token` when they are spelled so plainly that commander could only read
 * them one way: `--json`, `--issuer <v>`, `--profile <v>` (or `--flag=v`), each at most once, no
 * value that is empty or starts with `-`. Anything else — help, a typo, a repeat, `--` — is
 * undefined and goes through commander, which owns every message and exit code. This skips
 * loading and building the parser (about as long as the rest of the command's own modules) on
 * the call scripts make most often, `$(evergreen token)`.
 */
function parsePlainToken(args: string[]): SessionOptions | undefined {
  const opts: SessionOptions = {}
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === '--json' && opts.json === undefined) {
      opts.json = true
      continue
    }
    const eq = arg.indexOf('=')
    const name = eq === -1 ? arg : arg.slice(0, eq)
    if (name !== '--issuer' && name !== '--profile') return undefined
    const key = name === '--issuer' ? 'issuer' : 'profile'
    const value = eq === -1 ? args[++i] : arg.slice(eq + 1)
    if (opts[key] !== undefined || value === undefined || value === '' || value.startsWith('-')) return undefined
    opts[key] = value
  }
  return opts
}

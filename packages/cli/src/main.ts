import type { Command } from 'commander'
import { EXIT } from './exit-codes.js'
import { processIo, type Io } from './io.js'
import { reportError } from './report-error.js'
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
 *
 * @param given where output goes; default the process's stdout and stderr (for a plain `token`,
 *   stdout written directly: one-shot-io.ts)
 */
export async function main(argv: string[], given?: Io): Promise<number> {
  const io = given ?? processIo
  let deps: Promise<SessionDeps> | undefined
  const sessionDeps = () => (deps ??= import('./session-deps.js').then((m) => m.processSessionDeps(io)))
  // A plain `evergreen token` skips commander (token-entry.ts); the bin shim usually runs it from
  // the bundle before this is reached, and this is the same code, with the same default Io, when
  // the bundle is not built.
  if (argv[2] === 'token') {
    const plain = await (await import('./token-entry.js')).runPlainToken(argv, given)
    if (plain !== undefined) return plain
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

import { Command, CommanderError } from 'commander'
import { EXIT } from './exit-codes.js'
import { CliError, processIo, type Io } from './io.js'
import { registerAdmin } from './commands/admin.js'
import { registerServe } from './commands/serve.js'
import { registerSessionCommands } from './commands/session-commands.js'

/**
 * Runs the `evergreen` command with `argv` (as process.argv) and resolves to the exit code.
 * Never calls process.exit itself, so tests can run it in process.
 */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const program = new Command('evergreen')
    .description('Evergreen: sessions that never force a re-login, and never leak.')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.err(s), writeErr: (s) => io.err(s) })
    .showHelpAfterError()
  registerSessionCommands(program, io)
  await registerServe(program, io)
  registerAdmin(program, io)
  try {
    await program.parseAsync(argv)
    return EXIT.ok
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help' ? EXIT.ok : EXIT.error
    }
    if (err instanceof CliError) {
      io.err(`error: ${err.message}`)
      return err.exitCode
    }
    io.err(`error: ${(err as Error).message ?? String(err)}`)
    return EXIT.error
  }
}

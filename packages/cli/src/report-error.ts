import { EXIT } from './exit-codes.js'
import { CliError, type Io } from './io.js'

/** A command's failure on stderr, and its exit code: for main.ts and the token fast path alike. */
export function reportError(err: unknown, io: Io): number {
  if (err instanceof CliError) {
    io.err(`error: ${err.message}`)
    return err.exitCode
  }
  io.err(`error: ${(err as Error).message ?? String(err)}`)
  return EXIT.error
}

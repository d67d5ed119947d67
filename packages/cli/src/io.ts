/**
 * Where the CLI writes. stdout carries only the requested data (a token, --json output), so
 * `$(evergreen token)` and pipes stay clean; everything meant for a person goes to stderr.
 */
export interface Io {
  out(text: string): void
  err(text: string): void
}

export const processIo: Io = {
  out: (text) => void process.stdout.write(text.endsWith('\n') ? text : text + '\n'),
  err: (text) => void process.stderr.write(text.endsWith('\n') ? text : text + '\n'),
}

/** Thrown by commands to end with a specific exit code and a message for stderr. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: number = 1) {
    super(message)
    this.name = 'CliError'
  }
}

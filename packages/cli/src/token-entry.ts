import { runToken } from './commands/token.js'
import { EXIT } from './exit-codes.js'
import type { Io } from './io.js'
import { oneShotIo } from './one-shot-io.js'
import { reportError } from './report-error.js'
import type { SessionOptions } from './session-context.js'
import { processSessionDeps } from './session-deps.js'

/**
 * A plain `evergreen token` from start to exit code, without commander: what main.ts runs first
 * for `token`, and the whole of dist/token-fast.js, the one-file bundle the bin shim loads for
 * `token` (docs/architecture.md "CLI start-up"). Undefined when `argv` is anything else (help, a
 * typo, another command): the caller goes on to commander, which owns those messages and codes.
 *
 * @example process.exitCode = (await runPlainToken(process.argv)) ?? (await main(process.argv))
 */
export async function runPlainToken(argv: string[], io: Io = oneShotIo): Promise<number | undefined> {
  const opts = argv[2] === 'token' ? parsePlainToken(argv.slice(3)) : undefined
  if (!opts) return undefined
  try {
    await runToken(opts, processSessionDeps(io))
    return EXIT.ok
  } catch (err) {
    return reportError(err, io)
  }
}

/**
 * The options of `evergreen token` when they are spelled so plainly that commander could only read
 * them one way: `--json`, `--issuer <v>`, `--profile <v>` (or `--flag=v`), each at most once, no
 * value that is empty or starts with `-`. Anything else — help, a typo, a repeat, `--` — is
 * undefined and goes through commander, which owns every message and exit code. This skips
 * loading and building the parser (about as long as the rest of the command's own modules) on
 * the call scripts make most often, `$(evergreen token)`.
 */
export function parsePlainToken(args: string[]): SessionOptions | undefined {
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

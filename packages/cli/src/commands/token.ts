import type { Command } from 'commander'
import { addSessionOptions, errorContext, openSessionContext, targetOf, type SessionOptions } from '../session-context.js'
import type { SessionDeps } from '../session-deps.js'

/** `evergreen token`: a valid access token, alone on stdout, renewed first when needed. */
export function registerToken(program: Command, deps: SessionDeps): void {
  const cmd = program.command('token').description('print a valid access token on stdout (renewing the session first when needed)')
  addSessionOptions(cmd).addHelpText(
    'after',
    `
stdout gets the token and nothing else, so it can be captured; messages go to stderr.
EVERGREEN_TOKEN, when set, is printed as it is (CI and scripts override the store with it).
--json prints {access_token, token_type, expires_at, issuer, source} instead.

Exit codes: 0 printed, 1 error (e.g. the token service is unreachable and a renewal was due;
nothing stored is changed), 4 not logged in or the session has ended.

Examples:
  $ curl -H "Authorization: Bearer $(evergreen token)" https://api.example.com/me
  $ evergreen token --profile work
  $ evergreen token --json | jq -r .expires_at`,
  )
  cmd.action((opts: SessionOptions) => runToken(opts, deps))
}

/**
 * The command itself, without the parser: token-entry.ts calls it directly for a plain `evergreen token`
 * (the fast path), and the registered action calls it for every other spelling.
 *
 * @example await runToken({ profile: 'work' }, processSessionDeps(processIo))
 */
export async function runToken(opts: SessionOptions, deps: SessionDeps): Promise<void> {
  const ctx = await openSessionContext(opts, deps).catch(async (err: unknown) => Promise.reject(await cliError(err, targetOf(opts, deps))))
  try {
    const token = await ctx.client.getValidToken()
    if (!opts.json) return deps.io.out(token)
    const [{ readJwtClaims }, { formatInstant }] = await Promise.all([import('../jwt-claims.js'), import('../time-format.js')])
    let expiresAt: number | undefined
    let issuer: string | undefined
    let tokenType = 'Bearer'
    if (ctx.envToken !== undefined) {
      const claims = readJwtClaims(token)
      if (typeof claims?.exp === 'number') expiresAt = claims.exp * 1000
      issuer = typeof claims?.iss === 'string' ? claims.iss : ctx.issuer
    } else {
      const status = await ctx.client.status()
      expiresAt = status.access_token_expires_at
      issuer = status.issuer
      // A DPoP-bound access token is useless as Bearer: say which it is.
      tokenType = status.token_type ?? 'Bearer'
    }
    deps.io.out(JSON.stringify({
      access_token: token,
      token_type: tokenType,
      expires_at: expiresAt === undefined ? null : formatInstant(expiresAt),
      issuer: issuer ?? null,
      source: ctx.envToken !== undefined ? 'env' : 'store',
    }, null, 2))
  } catch (err) {
    throw await cliError(err, await errorContext(ctx))
  }
}

/**
 * session-errors.ts on the error path only: it loads the SDK's whole index (its error classes),
 * which a plain `evergreen token` with a valid stored token never needs (token-entry.ts).
 */
async function cliError(err: unknown, ctx: { profile: string; issuer: string | undefined }): Promise<unknown> {
  return (await import('../session-errors.js')).toCliError(err, ctx)
}

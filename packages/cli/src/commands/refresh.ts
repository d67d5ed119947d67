import type { Command } from 'commander'
import { addSessionOptions, errorContext, openSessionContext, targetOf, type SessionOptions } from '../session-context.js'
import type { SessionDeps } from '../session-deps.js'
import { toCliError } from '../session-errors.js'
import { describeAccount, sessionJson } from '../session-summary.js'
import { formatInstant } from '../time-format.js'

/** `evergreen refresh`: renew the stored session now, whether or not it was due. */
export function registerRefresh(program: Command, deps: SessionDeps): void {
  const cmd = program.command('refresh').description('renew the stored session now: a new access token and a rotated refresh token')
  addSessionOptions(cmd).addHelpText(
    'after',
    `
Not needed in normal use (every command renews when due); useful to check that the session is
alive, or to slide its idle expiry. Prints no token: use \`evergreen token\` for that.

Exit codes: 0 renewed, 1 error (nothing stored is changed), 4 not logged in or the session ended.

Examples:
  $ evergreen refresh
  $ evergreen refresh --profile work --json`,
  )
  cmd.action(async (opts: SessionOptions) => {
    const { io } = deps
    const ctx = await openSessionContext(opts, deps).catch((err: unknown) => Promise.reject(toCliError(err, targetOf(opts, deps))))
    try {
      if (ctx.envToken !== undefined) io.err('note: EVERGREEN_TOKEN is set: this renews the stored login, but commands keep using EVERGREEN_TOKEN')
      await ctx.client.refresh({ force: true })
      const status = await ctx.client.status()
      const now = deps.now()
      if (opts.json) io.out(JSON.stringify(sessionJson(status, now), null, 2))
      const access = status.access_token_expires_at !== undefined ? `new access token valid until ${formatInstant(status.access_token_expires_at)}` : 'new access token'
      const idle = status.refresh_token_expires_at !== undefined ? `; the session now ends after ${formatInstant(status.refresh_token_expires_at)} if unused` : ''
      io.err(`Renewed the session of ${describeAccount(status.account)} at ${status.issuer}: ${access}${idle}.`)
    } catch (err) {
      throw toCliError(err, await errorContext(ctx))
    }
  })
}

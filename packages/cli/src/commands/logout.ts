import type { Command } from 'commander'
import { addSessionOptions, errorContext, openSessionContext, targetOf, type SessionOptions } from '../session-context.js'
import type { SessionDeps } from '../session-deps.js'
import { toCliError } from '../session-errors.js'
import { formatInstant } from '../time-format.js'

/** `evergreen logout`: revoke the session at the token service, then forget it here. */
export function registerLogout(program: Command, deps: SessionDeps): void {
  const cmd = program.command('logout').description('end the stored session: revoke it at the token service, then delete it from this machine')
  addSessionOptions(cmd).addHelpText(
    'after',
    `
The local copy is deleted even when the token service cannot be reached; the warning then says the
session stays valid at the server until it expires or is revoked at <issuer>/settings/sessions.
Logging out when nothing is stored is not an error. EVERGREEN_TOKEN is not affected.

Examples:
  $ evergreen logout
  $ evergreen logout --profile work
  $ evergreen logout --json`,
  )
  cmd.action(async (opts: SessionOptions) => {
    const { io } = deps
    const ctx = await openSessionContext(opts, deps).catch((err: unknown) => Promise.reject(toCliError(err, targetOf(opts, deps))))
    try {
      const before = await ctx.client.status().catch(() => undefined)
      const result = await ctx.client.logout()
      const issuer = before?.issuer ?? ctx.issuer
      if (opts.json) {
        io.out(JSON.stringify({
          issuer: issuer ?? null,
          profile: ctx.profile,
          was_logged_in: result.wasLoggedIn,
          revocation: result.revocation,
          ...(result.error ? { error: result.error.message } : {}),
        }, null, 2))
      }
      switch (result.revocation) {
        case 'not_logged_in':
          io.err(`Not logged in${issuer ? ` to ${issuer}` : ''}${ctx.profile === 'default' ? '' : ` (profile ${ctx.profile})`}; nothing to do.`)
          break
        case 'revoked':
          io.err(`Logged out of ${issuer}: the token service ended the session and this machine no longer has it.`)
          break
        case 'skipped':
          io.err(
            `Removed the stored access token for ${issuer}. It was not a renewable session, so there was nothing to revoke; ` +
              (before?.access_token_expires_at !== undefined ? `a copy of it elsewhere works until ${formatInstant(before.access_token_expires_at)}.` : 'it expires on its own.'),
          )
          break
        case 'failed':
          io.err(`Removed the session from this machine, but could not revoke it at ${issuer}: ${result.error?.message ?? 'unknown error'}`)
          io.err(`warning: the session stays valid at the token service until it expires unused; end it now at ${issuer}/settings/sessions`)
          break
      }
      if (ctx.envToken !== undefined) io.err('note: EVERGREEN_TOKEN is still set; commands keep using it until you unset it')
    } catch (err) {
      throw toCliError(err, await errorContext(ctx))
    }
  })
}

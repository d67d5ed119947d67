import type { Command } from 'commander'
import { connect, printJson, wantsJson, withJson, type AdminDeps } from './context.js'
import { formatDuration, formatTime } from './format.js'
import { parseSeconds } from './parse.js'
import type { MintedSession } from '@evergreen/core'

/** `evergreen admin tokens mint`: an operator session, e.g. a 90-day credential for a build machine. */
export function registerTokens(admin: Command, deps: AdminDeps): void {
  const { io } = deps
  const tokens = admin.command('tokens').description('mint operator sessions (long-lived credentials for machines and scripts)')

  withJson(tokens.command('mint'))
    .description('start a session for a user on a client and print its credential')
    .requiredOption('--user <id|email>', 'the user the session acts for')
    .requiredOption('--client-id <id>', 'a client that allows the refresh_token grant')
    .option('--scope <scope>', 'space-separated scopes (default: all the client allows)')
    .option('--audience <aud>', 'audience of the access tokens')
    .option('--refresh-token-ttl <seconds>', 'refresh-token (idle) lifetime; capped by the client and at 90 days (7776000 or 90d)', parseSeconds)
    .option('--name <name>', 'a label for the session, shown in sessions list')
    .addHelpText('after', `
stdout gets the credential only, so it can be captured; the session id and expiry go to stderr.
--json prints the whole token response (access_token, refresh_token, session_id, credential).

Examples:
  $ evergreen admin tokens mint --user ci@example.com --client-id cli_… --refresh-token-ttl 90d --name "build agent 7"
  $ CRED=$(evergreen admin tokens mint --user ci@example.com --client-id cli_…)
  $ evergreen login --token "$CRED"      # on the machine that will use it`)
    .action(async (opts: { user: string; clientId: string; scope?: string; audience?: string; refreshTokenTtl?: number; name?: string }, cmd: Command) => {
      const minted = await connect(cmd, deps).request<MintedSession>('POST', '/tokens', {
        user: opts.user,
        client_id: opts.clientId,
        scope: opts.scope,
        audience: opts.audience,
        refresh_token_ttl: opts.refreshTokenTtl,
        name: opts.name,
      })
      if (wantsJson(cmd)) return printJson(io, minted)
      io.err(`minted session ${minted.session_id} for ${opts.user} on client ${opts.clientId}`)
      const ttl = minted.refresh_token_expires_in
      if (ttl !== undefined) {
        io.err(`expires after ${formatDuration(ttl)} without use (${formatTime(Math.floor(Date.now() / 1000) + ttl)}); each refresh renews it`)
      }
      if (requestedMoreThanGranted(opts.refreshTokenTtl, ttl)) {
        io.err(`note: asked for ${formatDuration(opts.refreshTokenTtl!)}, the client's limits allow ${formatDuration(ttl!)}`)
      }
      io.out(minted.credential)
      // The credential is already on stdout; repeat it on stderr only when both are this terminal,
      // so `> file` or `$( … )` keeps it out of the scrollback and CI logs.
      io.err(`sign in with:\n  evergreen login --token ${deps.stdoutIsTty() ? minted.credential : '<credential>   (the credential printed on stdout)'}`)
    })
}

function requestedMoreThanGranted(requested: number | undefined, granted: number | undefined): boolean {
  // A session created now may be a second or so short of the request; only a real cap counts.
  return requested !== undefined && granted !== undefined && requested - granted > 60
}

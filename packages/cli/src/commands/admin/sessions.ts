import type { Command } from 'commander'
import { connect, fetchList, listFooter, printJson, seg, wantsJson, withJson, type AdminDeps } from './context.js'
import { formatDetails, formatDuration, formatTable, formatTime, orDash } from './format.js'
import { parseLimit } from './parse.js'
import type { SessionView } from '@evergreen/core'

/** `evergreen admin sessions list|get|revoke`. */
export function registerSessions(admin: Command, deps: AdminDeps): void {
  const { io } = deps
  const sessions = admin.command('sessions').description('inspect and revoke sessions (one per sign-in, renewed by each refresh)')

  withJson(sessions.command('list'))
    .description('list sessions, oldest first')
    .option('--user <id|email>', 'only this user\'s sessions')
    .option('--client-id <id>', 'only sessions on this client')
    .option('--active', 'only sessions that can still be refreshed')
    .option('--limit <n>', 'sessions per page (1-500)', parseLimit)
    .option('--cursor <cursor>', 'continue after a previous page')
    .option('--all', 'follow next_cursor until every matching session is listed')
    .addHelpText('after', `
Examples:
  $ evergreen admin sessions list --user ada@example.com --active
  $ evergreen admin sessions list --client-id cli_… --all --json | jq -r '.items[].id'`)
    .action(async (opts: { user?: string; clientId?: string; active?: boolean; limit?: number; cursor?: string; all?: boolean }, cmd: Command) => {
      const page = await fetchList<SessionView>(connect(cmd, deps), '/sessions', {
        user: opts.user,
        client_id: opts.clientId,
        active: opts.active ? 'true' : undefined,
        limit: opts.limit,
        cursor: opts.cursor,
      }, opts.all === true)
      if (wantsJson(cmd)) return printJson(io, page)
      if (page.items.length > 0) {
        io.out(formatTable(page.items, [
          { header: 'ID', value: (s) => s.id },
          { header: 'USER', value: (s) => orDash(s.user_id) },
          { header: 'CLIENT', value: (s) => s.client_id },
          { header: 'KIND', value: (s) => s.kind },
          { header: 'STATE', value: state },
          { header: 'IDLE_EXPIRES', value: (s) => formatTime(s.idle_expires_at) },
          { header: 'NAME', value: (s) => orDash(s.name) },
        ]))
      }
      listFooter(io, 'sessions', page)
    })

  withJson(sessions.command('get'))
    .description('show one session')
    .argument('<id>', 'session id (ses_…)')
    .addHelpText('after', `
Example:
  $ evergreen admin sessions get ses_0mwt83u880000841430b656f763cb`)
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const s = await connect(cmd, deps).request<SessionView>('GET', `/sessions/${seg(id)}`)
      if (wantsJson(cmd)) return printJson(io, s)
      io.out(formatDetails([
        ['id', s.id],
        ['state', state(s)],
        ['user', orDash(s.user_id)],
        ['client', s.client_id],
        ['kind', s.kind],
        ['name', orDash(s.name)],
        ['scope', orDash(s.scope)],
        ['audience', orDash(s.audience)],
        ['created', formatTime(s.created_at)],
        ['last refreshed', formatTime(s.last_refreshed_at)],
        ['refreshes', String(s.generation)],
        ['refresh ttl', `${s.refresh_ttl} (${formatDuration(s.refresh_ttl)})`],
        ['idle expires', formatTime(s.idle_expires_at)],
        ['absolute end', s.absolute_expires_at === null ? 'none' : formatTime(s.absolute_expires_at)],
        ['revoked', s.revoked_at === null ? '-' : `${formatTime(s.revoked_at)} (${orDash(s.revoked_reason)})`],
        ['parent', orDash(s.parent_id)],
        ['ip', orDash(s.ip)],
        ['user agent', orDash(s.user_agent)],
      ]))
    })

  withJson(sessions.command('revoke'))
    .description('revoke a session and the sessions derived from it; its refresh tokens stop working')
    .argument('<id>', 'session id (ses_…)')
    .addHelpText('after', `
Access tokens already issued stay valid until they expire (minutes); the refresh fails at once.

Example:
  $ evergreen admin sessions revoke ses_0mwt83u880000841430b656f763cb`)
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const result = await connect(cmd, deps).request<{ revoked: number }>('DELETE', `/sessions/${seg(id)}`)
      if (wantsJson(cmd)) return printJson(io, result)
      if (result.revoked === 0) io.err(`session ${id} was already revoked; nothing changed`)
      else io.err(`revoked session ${id}${result.revoked > 1 ? ` and ${result.revoked - 1} derived session(s)` : ''}`)
    })
}

function state(s: SessionView): string {
  if (s.revoked_at !== null) return 'revoked'
  return s.active ? 'active' : 'expired'
}

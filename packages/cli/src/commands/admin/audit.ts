import type { Command } from 'commander'
import { connect, fetchList, listFooter, printJson, wantsJson, withJson, type AdminDeps } from './context.js'
import { formatTable, formatTime, orDash } from './format.js'
import { parseLimit } from './parse.js'
import type { AuditEventView } from '@evergreen/core'

/** `evergreen admin audit`: the audit log, filtered. */
export function registerAudit(admin: Command, deps: AdminDeps): void {
  const { io } = deps
  withJson(admin.command('audit'))
    .description('show audit events (sessions, refreshes, reuse detection, admin changes)')
    .option('--session <id>', 'only events of this session')
    .option('--user <id|email>', 'only events of this user')
    .option('--type <type>', 'only this event type, e.g. session.created, session.revoked, refresh.reused, key.rotated')
    .option('--limit <n>', 'events per page (1-500)', parseLimit)
    .option('--cursor <cursor>', 'continue after a previous page')
    .option('--all', 'follow next_cursor until every matching event is listed')
    .addHelpText('after', `
Examples:
  $ evergreen admin audit --session ses_…
  $ evergreen admin audit --type refresh.reused --all --json | jq '.items[] | {at, session_id, ip}'`)
    .action(async (opts: { session?: string; user?: string; type?: string; limit?: number; cursor?: string; all?: boolean }, cmd: Command) => {
      const page = await fetchList<AuditEventView>(connect(cmd, deps), '/audit', {
        session: opts.session,
        user: opts.user,
        type: opts.type,
        limit: opts.limit,
        cursor: opts.cursor,
      }, opts.all === true)
      if (wantsJson(cmd)) return printJson(io, page)
      if (page.items.length > 0) {
        io.out(formatTable(page.items, [
          { header: 'AT', value: (e) => formatTime(e.at) },
          { header: 'TYPE', value: (e) => e.type },
          { header: 'SESSION', value: (e) => orDash(e.session_id) },
          { header: 'USER', value: (e) => orDash(e.user_id) },
          { header: 'CLIENT', value: (e) => orDash(e.client_id) },
          { header: 'IP', value: (e) => orDash(e.ip) },
          { header: 'DATA', value: (e) => (Object.keys(e.data ?? {}).length > 0 ? JSON.stringify(e.data) : '-') },
        ]))
      }
      listFooter(io, 'audit events', page)
    })
}

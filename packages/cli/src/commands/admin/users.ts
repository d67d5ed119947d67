import type { Command } from 'commander'
import { CliError } from '../../io.js'
import { connect, fetchList, listFooter, printJson, seg, wantsJson, withJson, type AdminDeps } from './context.js'
import { formatDetails, formatTable, formatTime, orDash } from './format.js'
import { parseLimit } from './parse.js'
import type { UserView } from '@evergreen/core'

/** `evergreen admin users create|list|get|disable`. */
export function registerUsers(admin: Command, deps: AdminDeps): void {
  const { io } = deps
  const users = admin.command('users').description('create, list, show and disable users')

  withJson(users.command('create'))
    .description('create a user')
    .requiredOption('--email <email>', 'email address (unique)')
    .option('--name <name>', 'display name')
    .option('--password-stdin', 'read the password from stdin (at least 8 characters; one trailing newline is dropped)')
    .addHelpText('after', `
Passwords are never taken from the command line, where other users could see them in ps:

  $ evergreen admin users create --email ada@example.com --name "Ada Lovelace"
  $ printf '%s' "$PASSWORD" | evergreen admin users create --email ada@example.com --password-stdin
  $ evergreen admin users create --email ci@example.com --json | jq -r .id`)
    .action(async (opts: { email: string; name?: string; passwordStdin?: boolean }, cmd: Command) => {
      const password = opts.passwordStdin ? await readPassword(deps) : undefined
      const user = await connect(cmd, deps).request<UserView>('POST', '/users', { email: opts.email, name: opts.name, password })
      if (wantsJson(cmd)) return printJson(io, user)
      io.err(`created user ${user.id}`)
      io.out(userDetails(user))
    })

  withJson(users.command('list'))
    .description('list users, oldest first')
    .option('--limit <n>', 'users per page (1-500)', parseLimit)
    .option('--cursor <cursor>', 'continue after a previous page')
    .option('--all', 'follow next_cursor until every user is listed')
    .addHelpText('after', `
Examples:
  $ evergreen admin users list
  $ evergreen admin users list --all --json | jq -r '.items[].email'`)
    .action(async (opts: { limit?: number; cursor?: string; all?: boolean }, cmd: Command) => {
      const page = await fetchList<UserView>(connect(cmd, deps), '/users', { limit: opts.limit, cursor: opts.cursor }, opts.all === true)
      if (wantsJson(cmd)) return printJson(io, page)
      if (page.items.length > 0) {
        io.out(formatTable(page.items, [
          { header: 'ID', value: (u) => u.id },
          { header: 'EMAIL', value: (u) => u.email },
          { header: 'NAME', value: (u) => orDash(u.name) },
          { header: 'PASSWORD', value: (u) => (u.has_password ? 'yes' : 'no') },
          { header: 'CREATED', value: (u) => formatTime(u.created_at) },
          { header: 'DISABLED', value: (u) => formatTime(u.disabled_at) },
        ]))
      }
      listFooter(io, 'users', page)
    })

  withJson(users.command('get'))
    .description('show one user')
    .argument('<id|email>', 'user id (usr_…) or email address')
    .addHelpText('after', `
Examples:
  $ evergreen admin users get ada@example.com
  $ evergreen admin users get usr_0mwt83u880000841430b656f763cb --json`)
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const user = await connect(cmd, deps).request<UserView>('GET', `/users/${seg(id)}`)
      if (wantsJson(cmd)) return printJson(io, user)
      io.out(userDetails(user))
    })

  withJson(users.command('disable'))
    .description('disable a user: ends every session of theirs and refuses new ones')
    .argument('<id|email>', 'user id (usr_…) or email address')
    .addHelpText('after', `
Example:
  $ evergreen admin users disable ada@example.com`)
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const user = await connect(cmd, deps).request<UserView>('POST', `/users/${seg(id)}/disable`)
      if (wantsJson(cmd)) return printJson(io, user)
      io.err(`disabled user ${user.id}; their sessions are revoked`)
      io.out(userDetails(user))
    })
}

function userDetails(u: UserView): string {
  return formatDetails([
    ['id', u.id],
    ['email', u.email],
    ['name', orDash(u.name)],
    ['password', u.has_password ? 'set' : 'none'],
    ['created', formatTime(u.created_at)],
    ['disabled', formatTime(u.disabled_at)],
  ])
}

async function readPassword(deps: AdminDeps): Promise<string> {
  if (deps.stdinIsTty()) {
    // Reading a terminal would echo the password; a pipe keeps it off the screen and out of argv.
    throw new CliError('--password-stdin reads a pipe, not a terminal: printf \'%s\' "$PASSWORD" | evergreen admin users create … --password-stdin')
  }
  const password = (await deps.readStdin()).replace(/\r?\n$/, '')
  if (password === '') throw new CliError('--password-stdin: stdin was empty')
  return password
}

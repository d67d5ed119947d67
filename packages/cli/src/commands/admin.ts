import type { Command } from 'commander'
import type { Io } from '../io.js'
import { readStdin } from '../read-stdin.js'
import { registerAudit } from './admin/audit.js'
import { registerClients } from './admin/clients.js'
import { addGlobalOptions, type AdminDeps } from './admin/context.js'
import { registerKeys } from './admin/keys.js'
import { registerSessions } from './admin/sessions.js'
import { registerTokens } from './admin/tokens.js'
import { registerUsers } from './admin/users.js'

/**
 * `evergreen admin …`: the operator API of a running `evergreen serve` (`/admin/v1/`), one
 * subcommand per endpoint. stdout carries the response (a table, or the raw JSON with --json);
 * commentary goes to stderr.
 *
 * @param overrides injected fetch / stdin for in-process tests; production defaults otherwise
 */
export function registerAdmin(program: Command, io: Io, overrides: Partial<Omit<AdminDeps, 'io'>> = {}): void {
  const deps: AdminDeps = {
    io,
    readStdin: () => readStdin(),
    stdinIsTty: () => process.stdin.isTTY === true,
    stdoutIsTty: () => process.stdout.isTTY === true,
    ...overrides,
  }
  const admin = addGlobalOptions(program.command('admin').description('operate a running token service: users, clients, tokens, sessions, audit, keys'))
  admin.addHelpText('after', `
The admin key is read from --admin-key, else EVERGREEN_ADMIN_KEY, else <data dir>/admin-key, which
the first start of \`evergreen serve\` writes (mode 0600). Every subcommand takes --json.

Examples:
  $ evergreen admin users create --email ci@example.com
  $ evergreen admin clients create --name "Build bot" --auth-method none
  $ evergreen admin tokens mint --user ci@example.com --client-id cli_… --refresh-token-ttl 90d
  $ evergreen admin sessions list --user ci@example.com --active
  $ EVERGREEN_URL=https://auth.example.com EVERGREEN_ADMIN_KEY=… evergreen admin keys rotate`)
  registerUsers(admin, deps)
  registerClients(admin, deps)
  registerTokens(admin, deps)
  registerSessions(admin, deps)
  registerAudit(admin, deps)
  registerKeys(admin, deps)
}

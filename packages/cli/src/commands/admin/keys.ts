import { Option, type Command } from 'commander'
import { connect, printJson, seg, wantsJson, withJson, type AdminDeps } from './context.js'
import { formatDetails, formatTable, formatTime } from './format.js'
import { parseNonNegativeSeconds } from './parse.js'
import type { KeyView } from '@evergreen/core'

/** `evergreen admin keys list|rotate|revoke`: the access-token signing keys. */
export function registerKeys(admin: Command, deps: AdminDeps): void {
  const { io } = deps
  const keys = admin.command('keys').description('list, rotate and revoke the keys that sign access tokens')

  withJson(keys.command('list'))
    .description('list signing keys: published (in the JWKS, not yet signing), active, retired')
    .addHelpText('after', `
Example:
  $ evergreen admin keys list`)
    .action(async (_opts: unknown, cmd: Command) => {
      const page = await connect(cmd, deps).request<{ items: KeyView[]; next_cursor: null }>('GET', '/keys')
      if (wantsJson(cmd)) return printJson(io, page)
      if (page.items.length === 0) return io.err('no signing keys')
      io.out(formatTable(page.items, [
        { header: 'KID', value: (k) => k.kid },
        { header: 'ALG', value: (k) => k.alg },
        { header: 'STATUS', value: (k) => k.status },
        { header: 'CREATED', value: (k) => formatTime(k.created_at) },
        { header: 'ACTIVATES', value: (k) => formatTime(k.activates_at) },
        { header: 'RETIRED', value: (k) => formatTime(k.retired_at) },
        { header: 'EXPIRES', value: (k) => formatTime(k.expires_at) },
      ]))
    })

  withJson(keys.command('rotate'))
    .description('create a new signing key; it is published at once and starts signing later')
    .addOption(new Option('--activate-after <seconds>', 'seconds before the new key signs, 0-86400 (default: 600)').argParser(parseNonNegativeSeconds).conflicts('now'))
    .addOption(new Option('--alg <alg>', 'algorithm of the new key (default: the server\'s EVERGREEN_SIGNING_ALG)').choices(['ES256', 'RS256']))
    .option('--now', 'sign with the new key immediately (same as --activate-after 0)')
    .addHelpText('after', `
The delay lets every verifier that caches the JWKS fetch the new key before any token uses it;
use --now only when no verifier caches keys, or when the current key is compromised.

Examples:
  $ evergreen admin keys rotate
  $ evergreen admin keys rotate --alg RS256 --activate-after 1h
  $ evergreen admin keys rotate --now`)
    .action(async (opts: { activateAfter?: number; alg?: string; now?: boolean }, cmd: Command) => {
      const activateAfter = opts.now ? 0 : opts.activateAfter
      const key = await connect(cmd, deps).request<KeyView>('POST', '/keys/rotate', {
        ...(activateAfter !== undefined ? { activate_after: activateAfter } : {}),
        ...(opts.alg !== undefined ? { alg: opts.alg } : {}),
      })
      if (wantsJson(cmd)) return printJson(io, key)
      io.err(key.status === 'published'
        ? `new ${key.alg} key ${key.kid} is published in the JWKS and starts signing at ${formatTime(key.activates_at)}`
        : `new ${key.alg} key ${key.kid} signs from now on`)
      io.out(formatDetails([
        ['kid', key.kid],
        ['alg', key.alg],
        ['status', key.status],
        ['created', formatTime(key.created_at)],
        ['activates', formatTime(key.activates_at)],
      ]))
    })

  withJson(keys.command('revoke'))
    .description('revoke a (compromised) key: it leaves the JWKS now and every token it signed stops verifying')
    .argument('<kid>')
    .addHelpText('after', `
The key the service signs with now cannot be revoked until another key is active: rotate with
--now first. Other nodes drop the key at their next key reload (within 10 seconds); verifiers
that cache the JWKS drop it when their cache expires (the service allows 300 seconds).
A kid is a base64url thumbprint and may start with "-": put it after "--".

Example:
  $ evergreen admin keys rotate --now
  $ evergreen admin keys revoke -- 3kq6Xr…`)
    .action(async (kid: string, _opts: unknown, cmd: Command) => {
      const key = await connect(cmd, deps).request<KeyView>('POST', `/keys/${seg(kid)}/revoke`)
      if (wantsJson(cmd)) return printJson(io, key)
      io.err(`revoked key ${key.kid}; tokens it signed no longer verify`)
    })
}

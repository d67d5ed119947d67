import { delegateSession } from '@evergreen/client'
import type { Command } from 'commander'
import { addSessionOptions, errorContext, openSessionContext, targetOf, type SessionOptions } from '../session-context.js'
import type { SessionDeps } from '../session-deps.js'
import { toCliError } from '../session-errors.js'
import { formatInstant } from '../time-format.js'
import { collectWords, parseSeconds } from './admin/parse.js'

interface DelegateCommandOptions extends SessionOptions {
  scope?: string[]
  audience?: string
  resource?: string
  ttl?: number
  name?: string
  bindKey?: boolean
}

/** `evergreen delegate`: an agent credential cut from the person's session, alone on stdout. */
export function registerDelegate(program: Command, deps: SessionDeps): void {
  const cmd = program
    .command('delegate')
    .description('give an agent its own login, acting for you with less: prints an egc1_ credential on stdout')
    .option('--scope <scope>', 'scope the agent may use (repeatable, or space-separated; default: the server\'s choice)', collectWords)
    .option('--audience <aud>', 'the audience the agent\'s tokens name (one: a delegated session is bound to one)')
    .option('--resource <uri>', 'the resource the agent\'s tokens are for (RFC 8707; one: a delegated session is bound to one)')
    .option('--ttl <duration>', 'how long the agent\'s login lasts unused: seconds, or with s, m, h or d (e.g. 90d)', parseSeconds)
    .option('--name <name>', 'a label for the delegated session, shown in session lists')
    .option('--bind-key', 'bind the agent\'s login to a new key (DPoP) carried in the credential: its refresh tokens are useless without it')
  addSessionOptions(cmd, 'your login').addHelpText(
    'after',
    `
Run while logged in. stdout gets the credential and nothing else; give it to the agent, which runs
\`evergreen login --token <credential>\` (or logs in with the SDK). Revoking your session revokes it.
With --bind-key the credential also carries a private key made for the agent, and the agent's
login is bound to it from the start (RFC 9449 DPoP); guard the credential as before.
--json prints {credential, issuer, client_id, scope, expires_at, dpop_jkt} instead.

Exit codes: 0 printed, 1 refused or unreachable, 4 not logged in or the session has ended.

Examples:
  $ evergreen delegate --scope deploy --audience https://api.example.com --ttl 90d --name ci-agent
  $ evergreen delegate --scope read --resource https://api.example.com/reports --json`,
  )
  cmd.action((opts: DelegateCommandOptions) => runDelegate(opts, deps))
}

async function runDelegate(opts: DelegateCommandOptions, deps: SessionDeps): Promise<void> {
  const ctx = await openSessionContext(opts, deps).catch((err: unknown) => Promise.reject(toCliError(err, targetOf(opts, deps))))
  try {
    const delegated = await delegateSession(ctx.client, {
      ...(opts.scope !== undefined ? { scope: opts.scope.join(' ') } : {}),
      ...(opts.audience !== undefined ? { audience: opts.audience } : {}),
      ...(opts.resource !== undefined ? { resource: opts.resource } : {}),
      ...(opts.ttl !== undefined ? { ttlSeconds: opts.ttl } : {}),
      ...(opts.name !== undefined ? { name: opts.name } : {}),
      ...(opts.bindKey === true ? { bindKey: true } : {}),
      ...(deps.fetch ? { fetch: deps.fetch } : {}),
      now: deps.now,
    })
    if (opts.json) {
      deps.io.out(JSON.stringify({
        credential: delegated.credential,
        issuer: delegated.issuer,
        client_id: delegated.client_id,
        scope: delegated.scope ?? null,
        expires_at: delegated.expires_at === undefined ? null : formatInstant(delegated.expires_at * 1000),
        dpop_jkt: delegated.dpop_jkt ?? null,
      }, null, 2))
      return
    }
    deps.io.out(delegated.credential)
    const until = delegated.expires_at === undefined ? '' : `; it expires if unused until ${formatInstant(delegated.expires_at * 1000)}`
    deps.io.err(`delegated ${delegated.scope ? `scope "${delegated.scope}"` : 'your session'} at ${delegated.issuer}${until}`)
    if (delegated.dpop_jkt !== undefined) deps.io.err(`the agent's login is bound to the key in the credential (DPoP, thumbprint ${delegated.dpop_jkt})`)
    deps.io.err('the agent logs in with: evergreen login --token <credential>')
  } catch (err) {
    throw toCliError(err, await errorContext(ctx))
  }
}

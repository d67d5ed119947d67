import type { Command } from 'commander'
import { defaultFetch } from '@evergreen/client'
import { EXIT } from '../exit-codes.js'
import { CliError } from '../io.js'
import { readJwtClaims } from '../jwt-claims.js'
import { addSessionOptions, errorContext, loginCommand, openSessionContext, targetOf, type SessionOptions } from '../session-context.js'
import type { SessionDeps } from '../session-deps.js'
import { toCliError } from '../session-errors.js'
import { requestUserinfo } from '../userinfo.js'

interface Identity {
  sub: string | null
  email: string | null
  name?: string
  issuer: string | null
  client_id: string | null
  profile: string
  /** Where the claims came from: the issuer's userinfo endpoint, or the access token itself. */
  claims_from: 'userinfo' | 'access_token'
  /** Which token: the stored login, or EVERGREEN_TOKEN. */
  session: 'store' | 'env'
}

/** `evergreen whoami`: who the current token acts for, as the issuer's userinfo says. */
export function registerWhoami(program: Command, deps: SessionDeps): void {
  const cmd = program.command('whoami').description('show who the current login acts for: subject, email, issuer, client')
  addSessionOptions(cmd).addHelpText(
    'after',
    `
Asks the issuer's userinfo endpoint (which also proves the session is still live); when that is not
possible (no openid scope, service unreachable) it falls back to the access token's own claims and
says so on stderr. Uses EVERGREEN_TOKEN when it is set.

Exit codes: 0 shown, 1 error, 4 not logged in, or the token service no longer accepts the session.

Examples:
  $ evergreen whoami
  $ evergreen whoami --json | jq -r .email`,
  )
  cmd.action(async (opts: SessionOptions) => {
    const { io } = deps
    const ctx = await openSessionContext(opts, deps).catch((err: unknown) => Promise.reject(toCliError(err, targetOf(opts, deps))))
    try {
      const token = await ctx.client.getValidToken()
      const claims = readJwtClaims(token) ?? {}
      const fromEnv = ctx.envToken !== undefined
      const status = fromEnv ? undefined : await ctx.client.status()
      const issuer = status?.issuer ?? str(claims.iss) ?? ctx.issuer
      const identity: Identity = {
        sub: str(claims.sub) ?? status?.account?.sub ?? null,
        email: str(claims.email) ?? status?.account?.email ?? null,
        issuer: issuer ?? null,
        client_id: status?.client_id || str(claims.client_id) || str(claims.azp) || null,
        profile: ctx.profile,
        claims_from: 'access_token',
        session: fromEnv ? 'env' : 'store',
      }
      const why = issuer === undefined ? 'the token names no issuer' : await userinfo(issuer, token, identity, (url) => ctx.client.fetch(url), deps)
      if (why) io.err(`note: showing the access token's own claims (${why})`)
      if (opts.json) return io.out(JSON.stringify(identity, null, 2))
      const rows: Array<[string, string | null | undefined]> = [
        ['sub', identity.sub],
        ['email', identity.email],
        ['name', identity.name],
        ['issuer', identity.issuer],
        ['client', identity.client_id],
        ['profile', identity.profile],
        ['session', fromEnv ? 'EVERGREEN_TOKEN' : 'stored login'],
      ]
      io.out(rows.filter(([, v]) => v !== undefined && v !== null).map(([k, v]) => `${`${k}:`.padEnd(9)}${v}`).join('\n'))
    } catch (err) {
      throw toCliError(err, await errorContext(ctx))
    }
  })
}

/**
 * Fills `identity` from the userinfo endpoint. Returns why it could not (shown as a note), or
 * undefined on success. A 401 means the service no longer accepts the session: that is an error.
 */
async function userinfo(issuer: string, token: string, identity: Identity, clientFetch: (url: string) => Promise<Response>, deps: SessionDeps): Promise<string | undefined> {
  // EVERGREEN_TOKEN is sent as it is; the stored login goes through the client's fetch, which
  // renews it and retries once on a 401.
  const send = identity.session === 'env'
    ? (url: string) => (deps.fetch ?? defaultFetch)(url, { headers: { authorization: `Bearer ${token}` } })
    : clientFetch
  const result = await requestUserinfo(issuer, send, deps.fetch)
  if (!result.ok) {
    if (result.status !== 401) return result.why
    throw new CliError(
      `the token service no longer accepts this ${identity.session === 'env' ? 'EVERGREEN_TOKEN' : 'session'} (revoked or expired)\n` +
        (identity.session === 'env' ? 'get a new token for EVERGREEN_TOKEN' : `run \`${loginCommand({ profile: identity.profile, issuer })}\` to log in again`),
      EXIT.authRequired,
    )
  }
  identity.sub = str(result.claims.sub) ?? identity.sub
  identity.email = str(result.claims.email) ?? identity.email
  if (typeof result.claims.name === 'string') identity.name = result.claims.name
  identity.claims_from = 'userinfo'
  return undefined
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined
}

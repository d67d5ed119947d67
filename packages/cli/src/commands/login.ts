import { loginWithTokenResponse, normalizeKey, startDeviceLogin, type DeviceLogin, type LoginWarning, type SessionAccount, type SessionStatus } from '@evergreen/client'
import type { Command } from 'commander'
import { EXIT } from '../exit-codes.js'
import { CliError } from '../io.js'
import { addSessionOptions, loginCommand, nonEmpty, openSessionContext, targetOf, type SessionContext, type SessionOptions } from '../session-context.js'
import { canPrompt, type SessionDeps } from '../session-deps.js'
import { toCliError } from '../session-errors.js'
import { describeAccount, describeLifetime, sessionJson } from '../session-summary.js'
import { formatSpan } from '../time-format.js'
import { requestUserinfo } from '../userinfo.js'
import { parseSeconds } from './admin/parse.js'

/** The built-in public client every Evergreen server creates on first start. */
export const DEFAULT_CLIENT_ID = 'evergreen-cli'
/** Enough for `whoami` to show who is logged in (userinfo needs `openid`). */
export const DEFAULT_SCOPE = 'openid email'

interface LoginOptions extends SessionOptions {
  token?: string
  withToken?: boolean
  clientId?: string
  scope?: string
  /** False with --no-browser. */
  browser: boolean
  /** False with --no-dpop. */
  dpop: boolean
  refreshTokenTtl?: number
}

/** `evergreen login`: device flow by default; `--token` / `--with-token` for a pasted credential. */
export function registerLogin(program: Command, deps: SessionDeps): void {
  const cmd = program
    .command('login')
    .description('log in: show a code to approve in the browser (device flow), or store a pasted credential')
    .option('--token <credential>', 'log in with a credential from /settings/cli (egc1_…), a refresh token (egr_…, needs --issuer) or an access JWT (not renewable)')
    .option('--with-token', 'read the credential from standard input (keeps it out of shell history and `ps`)')
    .option('--client-id <id>', `OAuth client to log in as [env: EVERGREEN_CLIENT_ID] (default: "${DEFAULT_CLIENT_ID}")`)
    .option('--scope <scopes>', `space-separated scopes to ask for in the device flow (default: "${DEFAULT_SCOPE}")`)
    .option('--refresh-token-ttl <duration>', 'how long the session may go unused before it ends, e.g. 30d or 2592000 (device flow; the server caps it at 90 days)', parseSeconds)
    .option('--no-browser', 'do not open a browser; show the link to open on any device')
    .option('--no-dpop', 'do not bind the session to a key (DPoP), even when the token service offers it')
  addSessionOptions(cmd, 'the token service to log in to').addHelpText(
    'after',
    `
The device flow prints a one-time code and a link on stderr, opens the link in your browser when
there is a display, and waits until you approve (Ctrl-C cancels, exit 130). The session is stored
in the OS keyring, else a 0600 file in the config directory, and renews itself while in use.
When the token service offers DPoP, the session is bound to a key stored with it: its refresh
token is useless without that key (\`evergreen status\` shows the key's thumbprint).

Exit codes: 0 logged in, 1 error (denied, expired code, unreachable service), 2 declined at the
prompt, 130 interrupted.

Examples:
  $ evergreen login --issuer https://auth.example.com
  $ evergreen login --issuer https://auth.example.com --no-browser --refresh-token-ttl 30d
  $ evergreen login --token egc1_…                  # a credential minted at <issuer>/settings/cli
  $ pass show evergreen | evergreen login --with-token
  $ evergreen login --profile work --issuer https://auth.work.example`,
  )
  cmd.action(async (opts: LoginOptions) => {
    try {
      if (opts.token !== undefined && opts.withToken) throw new CliError('use --token or --with-token, not both')
      if (opts.token !== undefined || opts.withToken) await loginWithPastedCredential(opts, deps)
      else await loginWithDevice(opts, deps)
    } catch (err) {
      throw toCliError(err, targetOf(opts, deps))
    }
  })
}

async function loginWithPastedCredential(opts: LoginOptions, deps: SessionDeps): Promise<void> {
  const { io } = deps
  let text = opts.token
  if (opts.withToken) {
    // A terminal on stdin: ask for a paste rather than wait silently for an end of file.
    text = deps.stdinIsTty() ? await deps.prompt('Paste your login credential and press Enter: ') : await deps.readStdin()
  }
  text = (text ?? '').trim()
  if (text === '') throw new CliError(opts.withToken ? 'no credential on standard input' : '--token needs a credential')
  if (opts.refreshTokenTtl !== undefined) {
    io.err('warning: --refresh-token-ttl applies to the device flow only; a credential keeps the lifetime it was minted with')
  }
  const ctx = await openSessionContext(opts, deps, { dpop: dpopMode(opts) })
  const clientId = nonEmpty(opts.clientId) ?? nonEmpty(deps.env.EVERGREEN_CLIENT_ID) ?? DEFAULT_CLIENT_ID
  const result = await ctx.client.loginWithCredential(text, { clientId, ...(ctx.issuer !== undefined ? { issuer: ctx.issuer } : {}) })
  const warning = result.warning ? loginWarningText(result.warning, ctx.profile, deps.now()) : undefined
  if (warning) io.err(`warning: ${warning}`)
  await reportLoggedIn(result.status, result.kind, ctx, { json: opts.json, warning }, deps)
}

async function loginWithDevice(opts: LoginOptions, deps: SessionDeps): Promise<void> {
  const { io } = deps
  const ctx = await openSessionContext(opts, deps)
  // Precedence: --issuer, then EVERGREEN_ISSUER, then the session stored for this profile.
  const existing = await ctx.client.status().catch(() => undefined)
  let issuer = ctx.issuer ?? existing?.issuer
  if (issuer === undefined) {
    if (!canPrompt(deps)) throw new CliError('which token service? pass --issuer <url> or set EVERGREEN_ISSUER')
    issuer = (await deps.prompt('Issuer URL of your Evergreen token service: ')).trim()
    if (issuer === '') throw new CliError('no issuer given', EXIT.cancelled)
  }
  issuer = normalizeKey({ issuer, profile: ctx.profile }).issuer
  if (existing?.client_id !== undefined && existing.issuer === issuer && canPrompt(deps)) {
    const answer = await deps.prompt(`Already logged in to ${issuer} as ${describeAccount(existing.account)}${profileNote(ctx)}. Log in again? [y/N] `)
    if (!/^y(es)?$/i.test(answer.trim())) throw new CliError('login cancelled; the stored login is unchanged', EXIT.cancelled)
  }
  const clientId = nonEmpty(opts.clientId) ?? nonEmpty(deps.env.EVERGREEN_CLIENT_ID) ?? DEFAULT_CLIENT_ID

  const controller = new AbortController()
  const stopListening = deps.onInterrupt(() => {
    // The terminal echoed ^C where the cursor was; the error goes on a line of its own.
    if (deps.stderrIsTty()) io.err('')
    controller.abort()
  })
  try {
    const login = await startDeviceLogin({
      issuer,
      clientId,
      scope: nonEmpty(opts.scope) ?? DEFAULT_SCOPE,
      ...(opts.refreshTokenTtl !== undefined ? { refreshTokenTtl: opts.refreshTokenTtl } : {}),
      ...(deps.fetch ? { fetch: deps.fetch } : {}),
      now: deps.now,
      ...(deps.sleep ? { sleep: deps.sleep } : {}),
      signal: controller.signal,
      dpop: dpopMode(opts),
    })
    io.err(deviceScreen(issuer, login, ctx))
    if (opts.browser) {
      const url = login.verification_uri_complete ?? login.verification_uri
      io.err((await deps.openBrowser(url)) ? 'Opened the link in your browser.' : 'Could not open a browser here: open the link on any device.')
    }
    io.err(`Waiting for approval in the browser (the code expires in ${formatSpan(login.expires_at - deps.now())}; Ctrl-C to cancel)...`)
    const tokens = await login.wait(controller.signal)
    // Expiries count from when the successful poll left, as everywhere in the SDK.
    const receivedAt = login.polled_at ?? deps.now()
    await loginWithTokenResponse({ store: ctx.store.store, lock: ctx.store.lock, issuer, clientId, profile: ctx.profile, tokens, receivedAt, dpopKey: login.dpop_key })
  } catch (err) {
    if (controller.signal.aborted) throw new CliError('login cancelled; nothing was stored', EXIT.interrupted)
    throw err
  } finally {
    stopListening()
  }
  const client = ctx.clientFor(issuer)
  const status = await client.status()
  let shownAs = status.account
  if (status.account && status.account.email === undefined) {
    // The access token names the user by id only; userinfo knows the email the person will
    // recognise. For the message alone: nothing is stored from it, and a failure is silent.
    const info = await requestUserinfo(issuer, (url) => client.fetch(url, { signal: AbortSignal.timeout(3_000) }), deps.fetch).catch(() => undefined)
    if (info?.ok && typeof info.claims.email === 'string' && info.claims.sub === status.account.sub) shownAs = { ...status.account, email: info.claims.email }
  }
  await reportLoggedIn(status, 'device', ctx, { json: opts.json, shownAs }, deps)
}

/**
 * DPoP by default, but only against a server that advertises it (`auto`): an older token service
 * keeps working. `--no-dpop` turns it off.
 */
function dpopMode(opts: Pick<LoginOptions, 'dpop'>): 'auto' | false {
  return opts.dpop === false ? false : 'auto'
}

/** What a person sees while the device flow waits: the code, where to enter it, the one-click link. */
export function deviceScreen(issuer: string, login: Pick<DeviceLogin, 'user_code' | 'verification_uri' | 'verification_uri_complete'>, ctx: { profile: string }): string {
  const lines = [
    '',
    `To log in to ${issuer}${profileNote(ctx)}:`,
    '',
    `  1. Open     ${login.verification_uri}`,
    `  2. Enter    ${login.user_code}`,
    '',
  ]
  if (login.verification_uri_complete) lines.push(`  Or open ${login.verification_uri_complete}`, '  which fills in the code for you.', '')
  return lines.join('\n') + '\n'
}

async function reportLoggedIn(
  status: SessionStatus,
  method: string,
  ctx: Pick<SessionContext, 'profile' | 'envToken' | 'store'>,
  options: { json?: boolean | undefined; warning?: string | undefined; shownAs?: SessionAccount | undefined },
  deps: SessionDeps,
): Promise<void> {
  const { io } = deps
  const now = deps.now()
  io.err(`Logged in to ${status.issuer} as ${describeAccount(options.shownAs ?? status.account)}${profileNote(ctx)}. ${describeLifetime(status, now)}`)
  if (status.dpop_jkt !== undefined) io.err(`The session is bound to a key kept with it (DPoP, thumbprint ${status.dpop_jkt}).`)
  if (ctx.envToken !== undefined) {
    io.err('warning: EVERGREEN_TOKEN is set, and overrides this login for every command until you unset it')
  }
  // Several issuers under one profile: commands can no longer guess which one is meant.
  const others = (await ctx.store.store.list().catch(() => [])).filter((k) => k.profile === ctx.profile && k.issuer !== status.issuer)
  if (others.length > 0) {
    io.err(
      `note: this profile also has a login to ${others.map((k) => k.issuer).join(', ')}; other commands need --issuer or EVERGREEN_ISSUER ` +
        'to choose (or use --profile to keep logins apart)',
    )
  }
  if (options.json) io.out(JSON.stringify({ method, ...sessionJson(status, now), ...(options.warning ? { warning: options.warning } : {}) }, null, 2))
}

/**
 * The warning after storing a pasted access token: when it dies, and how to get a session that
 * renews itself (the SDK's `LOGIN_ACCESS_ONLY`, remedy `mint_credential`).
 */
export function loginWarningText(warning: LoginWarning, profile: string, now: number): string {
  return (
    `This is an access token, not a login credential: it cannot be renewed and stops working at ${new Date(warning.expiresAt).toISOString()} ` +
    `(in ${formatSpan(warning.expiresAt - now)}). For a session that renews itself, mint a CLI credential at ${warning.issuer}/settings/cli ` +
    `and run \`${loginCommand({ profile }, '--token <credential>')}\`.`
  )
}

function profileNote(ctx: { profile: string }): string {
  return ctx.profile === 'default' ? '' : ` (profile ${ctx.profile})`
}

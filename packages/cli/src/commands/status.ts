import { stat } from 'node:fs/promises'
import { discover, type SessionStatus } from '@evergreen/client'
import type { Command } from 'commander'
import { EXIT } from '../exit-codes.js'
import { CliError } from '../io.js'
import { readJwtClaims } from '../jwt-claims.js'
import { addSessionOptions, errorContext, loginCommand, openSessionContext, targetOf, type SessionContext, type SessionOptions } from '../session-context.js'
import type { SessionDeps } from '../session-deps.js'
import { describeFailure, type ErrorContext } from '../session-errors.js'
import { describeAccount, sessionJson } from '../session-summary.js'
import { formatInstant, formatRelative } from '../time-format.js'

interface StatusOptions extends SessionOptions {
  /** False with --no-refresh-check. */
  refreshCheck: boolean
}

type Verdict = 'ok' | 'warn' | 'fail'

/** One line of the report. `auth` marks a failure that logging in again fixes (exit 4). */
interface Check {
  name: string
  status: Verdict
  message: string
  remedy?: string
  auth?: boolean
}

interface StoreFacts {
  backend: string
  location: string
  reason?: string
  file?: string
  file_mode?: string
  dir_mode?: string
}

/** `evergreen status`: a doctor for the stored login. */
export function registerStatus(program: Command, deps: SessionDeps): void {
  const cmd = program
    .command('status')
    .description('check the stored login: where it is kept, file permissions, issuer reachable, expiries, DPoP key binding, a live refresh')
    .option('--no-refresh-check', 'skip the live refresh (which renews the session, rotating its refresh token)')
  addSessionOptions(cmd).addHelpText(
    'after',
    `
Every check prints ✓ (fine), ! (works, but worth knowing) or ✗ (broken) and, when something is
wrong, what to do about it. Warns when EVERGREEN_TOKEN shadows the stored login.

Exit codes: 0 all fine (warnings allowed), 1 something is broken (storage, permissions, the
token service), 4 not logged in or the session has ended.

Examples:
  $ evergreen status
  $ evergreen status --no-refresh-check
  $ evergreen status --json | jq .refresh_token_expires_at`,
  )
  cmd.action(async (opts: StatusOptions) => {
    const report = await diagnose(opts, deps)
    const { io } = deps
    if (opts.json) io.out(JSON.stringify(report.json, null, 2))
    else io.out(render(report.profile, report.checks))
    const failures = report.checks.filter((c) => c.status === 'fail')
    if (failures.length === 0) return
    const first = failures[0]!
    const more = failures.length > 1 ? ` (and ${failures.length - 1} more problem${failures.length > 2 ? 's' : ''} above)` : ''
    throw new CliError(`${first.message}${more}${first.remedy ? `\n${first.remedy}` : ''}`, failures.some((c) => c.auth) ? EXIT.authRequired : EXIT.error)
  })
}

async function diagnose(opts: StatusOptions, deps: SessionDeps): Promise<{ profile: string; checks: Check[]; json: Record<string, unknown> }> {
  const checks: Check[] = []
  const target = targetOf(opts, deps)
  const profile = target.profile
  let ctx: SessionContext
  try {
    ctx = await openSessionContext(opts, deps)
  } catch (err) {
    checks.push({ name: 'store', status: 'fail', ...failureCheck(err, target) })
    return { profile, checks, json: { ok: false, profile, checks } }
  }
  const now = deps.now()
  const desc = ctx.store.description
  const store: StoreFacts = { backend: desc.backend, location: desc.location, reason: desc.reason }
  const storeCheck: Check = { name: 'store', status: 'ok', message: `${desc.backend}, ${desc.location} (${desc.reason})` }
  if (desc.backend === 'memory') Object.assign(storeCheck, { status: 'warn', remedy: 'unset EVERGREEN_STORE to keep logins between commands' })
  checks.push(storeCheck)

  let status: SessionStatus | undefined
  try {
    status = await ctx.client.status()
  } catch (err) {
    checks.push({ name: 'session', status: 'fail', ...failureCheck(err, await errorContext(ctx)) })
  }
  const stored = status?.client_id !== undefined
  const issuer = status?.issuer ?? issuerOfEnvToken(ctx) ?? ctx.issuer

  if (stored && desc.backend === 'file' && status?.location !== undefined) {
    checks.push(await permissionsCheck(store, status.location))
  }
  if (ctx.envToken !== undefined) checks.push(envTokenCheck(ctx, status, stored, now))
  if (status && !stored && ctx.envToken === undefined) {
    const where = issuer ? ` to ${issuer}` : ''
    checks.push({ name: 'session', status: 'fail', auth: true, message: `not logged in${where}`, remedy: `run \`${loginCommand({ profile: ctx.profile, issuer: ctx.issuer }, ctx.issuer ? '' : '--issuer <url>')}\`` })
  }

  let reachable: boolean | undefined
  if (issuer !== undefined) {
    try {
      await discover(issuer, deps.fetch)
      reachable = true
      checks.push({ name: 'issuer', status: 'ok', message: `${issuer} is reachable` })
    } catch (err) {
      reachable = false
      checks.push({ name: 'issuer', status: 'fail', message: `${issuer} cannot be reached: ${(err as Error).message}`, remedy: 'check your network, and --issuer / EVERGREEN_ISSUER' })
    }
  }

  let refreshCheck: 'ok' | 'failed' | 'skipped' = 'skipped'
  let live: Check | undefined
  if (stored && status) {
    if (status.renewable === false) {
      live = { name: 'live refresh', status: 'ok', message: 'skipped: an access-only session cannot be renewed' }
    } else if (!opts.refreshCheck) {
      live = { name: 'live refresh', status: 'ok', message: 'skipped (--no-refresh-check)' }
    } else if (!reachable) {
      live = { name: 'live refresh', status: 'ok', message: 'skipped: the issuer cannot be reached' }
    } else {
      try {
        await ctx.client.refresh({ force: true })
        status = await ctx.client.status()
        refreshCheck = 'ok'
        live = { name: 'live refresh', status: 'ok', message: 'the token service renewed the session' }
      } catch (err) {
        refreshCheck = 'failed'
        live = { name: 'live refresh', status: 'fail', ...failureCheck(err, { profile: ctx.profile, issuer: status.issuer }) }
      }
    }
    checks.push(...sessionChecks(status, ctx, now), live)
  }

  const ok = !checks.some((c) => c.status === 'fail')
  const json: Record<string, unknown> = {
    ok,
    profile: ctx.profile,
    source: status?.source ?? (ctx.envToken !== undefined ? 'env' : 'none'),
    store,
    ...(status && stored ? sessionJson(status, now) : { issuer: issuer ?? null }),
    issuer_reachable: reachable ?? null,
    refresh_check: refreshCheck,
    env_token: ctx.envToken !== undefined,
    env_token_shadows_store: ctx.envToken !== undefined && stored,
    checks,
  }
  return { profile: ctx.profile, checks, json }
}

/** A check's message, remedy and `auth` flag for an error, in the CLI's words (see session-errors.ts). */
function failureCheck(err: unknown, ctx: ErrorContext): Pick<Check, 'message' | 'remedy' | 'auth'> {
  const failure = describeFailure(err, ctx)
  if (!failure) return { message: err instanceof Error ? err.message : String(err) }
  return { message: failure.message, ...(failure.remedy ? { remedy: failure.remedy } : {}), ...(failure.auth ? { auth: true } : {}) }
}

function sessionChecks(status: SessionStatus, ctx: SessionContext, now: number): Check[] {
  const checks: Check[] = [{ name: 'account', status: 'ok', message: `${describeAccount(status.account)}, client ${status.client_id}` }]
  const access = status.access_token_expires_at
  if (access !== undefined) {
    const when = `${formatRelative(access, now)} (${formatInstant(access)})`
    if (access > now) checks.push({ name: 'access token', status: 'ok', message: `expires ${when}` })
    else if (status.renewable) checks.push({ name: 'access token', status: 'ok', message: `expired ${when}; the next command renews it` })
    else {
      checks.push({
        name: 'access token',
        status: 'fail',
        auth: true,
        message: `expired ${when}, and it cannot be renewed`,
        remedy: `mint a credential at ${status.issuer}/settings/cli and run \`${loginCommand(ctx)} --token <credential>\``,
      })
    }
  }
  if (status.renewable === false) {
    checks.push({
      name: 'refresh token',
      status: 'warn',
      message: 'none: this is an access-only session (a pasted JWT) and stops working when its access token expires',
      remedy: `for a session that renews itself, mint a credential at ${status.issuer}/settings/cli and run \`evergreen login --token <credential>\``,
    })
  } else if (status.refresh_token_expires_at !== undefined) {
    const at = status.refresh_token_expires_at
    const when = `${formatRelative(at, now)} (${formatInstant(at)})`
    checks.push(
      at > now
        ? { name: 'refresh token', status: 'ok', message: `expires ${when} unless used; each renewal extends it` }
        : { name: 'refresh token', status: 'fail', auth: true, message: `expired ${when}: the session has ended`, remedy: `run \`${loginCommand({ profile: ctx.profile, issuer: status.issuer })}\`` },
    )
  } else {
    checks.push({ name: 'refresh token', status: 'ok', message: 'present (the token service gave no expiry)' })
  }
  checks.push(keyBindingCheck(status))
  return checks
}

/**
 * Whether the session is bound to a DPoP key (RFC 9449): a bound refresh token is useless to
 * anyone who copies it without the key. Unbound is not a failure — a server without DPoP, or a
 * login with --no-dpop — just worth knowing.
 */
function keyBindingCheck(status: SessionStatus): Check {
  if (status.dpop_jkt !== undefined) {
    const access = status.token_type === 'DPoP' ? 'refresh and access tokens' : 'refresh token (access tokens are Bearer)'
    if (status.dpop_bound_at_issuance) return { name: 'key binding', status: 'ok', message: `DPoP-bound ${access}; key thumbprint ${status.dpop_jkt}` }
    return {
      name: 'key binding',
      status: 'ok',
      message: `every renewal proves a DPoP key (thumbprint ${status.dpop_jkt}), but the session was created before it (a pasted credential), so the token service may not require it`,
      remedy: `for a session bound from the start, run \`${loginCommand({ profile: status.profile, issuer: status.issuer })}\` (device flow)`,
    }
  }
  if (status.renewable === false) return { name: 'key binding', status: 'ok', message: 'none (an access-only session)' }
  return { name: 'key binding', status: 'ok', message: 'none: a Bearer session (a copy of its refresh token works without any key)' }
}

function envTokenCheck(ctx: SessionContext, status: SessionStatus | undefined, stored: boolean, now: number): Check {
  const exp = readJwtClaims(ctx.envToken!)?.exp
  if (typeof exp === 'number' && exp * 1000 <= now) {
    return {
      name: 'EVERGREEN_TOKEN',
      status: 'fail',
      auth: true,
      message: `is set and expired ${formatRelative(exp * 1000, now)}; every command uses it instead of the stored login`,
      remedy: stored ? 'unset EVERGREEN_TOKEN to use the stored login, or set it to a fresh token' : 'set EVERGREEN_TOKEN to a fresh token, or unset it and run `evergreen login`',
    }
  }
  const expiry = typeof exp === 'number' ? ` (expires ${formatRelative(exp * 1000, now)})` : ''
  if (stored) {
    return {
      name: 'EVERGREEN_TOKEN',
      status: 'warn',
      message: `is set${expiry} and shadows the stored login for ${status?.issuer}: commands use the variable, not the login`,
      remedy: 'unset EVERGREEN_TOKEN to use the stored login',
    }
  }
  return { name: 'EVERGREEN_TOKEN', status: 'ok', message: `is set${expiry}; commands use it (nothing is stored for this profile)` }
}

async function permissionsCheck(store: StoreFacts, file: string): Promise<Check> {
  store.file = file
  try {
    const [d, f] = await Promise.all([stat(store.location), stat(file)])
    store.dir_mode = mode(d.mode)
    store.file_mode = mode(f.mode)
    if (process.platform === 'win32') return { name: 'permissions', status: 'ok', message: `${file} (ACLs of the user profile)` }
    const problems: string[] = []
    const fixes: string[] = []
    if ((d.mode & 0o077) !== 0) {
      problems.push(`the directory is ${store.dir_mode}`)
      fixes.push(`chmod 700 ${store.location}`)
    }
    if ((f.mode & 0o077) !== 0) {
      problems.push(`the file is ${store.file_mode}`)
      fixes.push(`chmod 600 ${file}`)
    }
    const uid = process.getuid?.()
    if (uid !== undefined && f.uid !== uid) problems.push(`the file belongs to uid ${f.uid}, not you (${uid})`)
    if (problems.length === 0) return { name: 'permissions', status: 'ok', message: `${file} is ${store.file_mode}, its directory ${store.dir_mode}` }
    return {
      name: 'permissions',
      status: 'fail',
      message: `${file}: ${problems.join(', ')}; other users may read the session`,
      remedy: fixes.length ? `run \`${fixes.join(' && ')}\`` : 'log out and log in again as yourself',
    }
  } catch (err) {
    return { name: 'permissions', status: 'fail', message: `cannot inspect ${file}: ${(err as Error).message}` }
  }
}

function issuerOfEnvToken(ctx: SessionContext): string | undefined {
  if (ctx.envToken === undefined) return undefined
  const iss = readJwtClaims(ctx.envToken)?.iss
  return typeof iss === 'string' ? iss : undefined
}

function mode(m: number): string {
  return `0${(m & 0o777).toString(8).padStart(3, '0')}`
}

const MARK: Record<Verdict, string> = { ok: '✓', warn: '!', fail: '✗' }

function render(profile: string, checks: Check[]): string {
  const width = Math.max(...checks.map((c) => c.name.length))
  const lines = [`evergreen status (profile ${profile})`]
  for (const c of checks) {
    lines.push(`  ${MARK[c.status]} ${c.name.padEnd(width)}  ${c.message}`)
    if (c.remedy && c.status !== 'ok') lines.push(`    ${' '.repeat(width)}  → ${c.remedy}`)
  }
  return lines.join('\n')
}

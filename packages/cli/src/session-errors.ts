import {
  AuthError,
  ConfigError,
  CredentialError,
  DelegationError,
  DeviceLoginError,
  DpopError,
  EvergreenClientError,
  OAuthResponseError,
  ProviderError,
  StorageError,
  type Remedy,
} from '@evergreen/client'
import { EXIT } from './exit-codes.js'
import { CliError } from './io.js'
import { loginCommand, sessionCommand } from './session-context.js'
import { PromptCancelled } from './session-deps.js'

/** What the remedy lines need to name the right session. */
export interface ErrorContext {
  profile: string
  /** The issuer the command was about, when known. */
  issuer?: string | undefined
}

/** A failure as the CLI says it: what happened, what to do about it, and the exit code. */
export interface CliFailure {
  message: string
  /** The instruction, in the CLI's words (commands, flags, pages). */
  remedy?: string
  exitCode: number
  /** True when logging in (again) is what fixes it. */
  auth: boolean
}

/**
 * Turns an SDK error into the CLI's exit code and a message that ends with what to do:
 * 4 when the person has to log in (again), 130 for Ctrl-C, 1 for everything else. Never
 * includes a token: SDK messages don't carry any. Anything that is not an SDK or CLI error is
 * returned as it is.
 */
export function toCliError(err: unknown, ctx: ErrorContext): unknown {
  if (err instanceof CliError) return err
  const failure = describeFailure(err, ctx)
  if (!failure) return err
  return new CliError(failure.remedy ? `${failure.message}\n${failure.remedy}` : failure.message, failure.exitCode)
}

/**
 * The CLI's wording of an SDK error, chosen by its `code` and `remedy`: the SDK message says what
 * happened; every instruction (`evergreen login`, `--issuer`, `/settings/cli`) is written here.
 * Undefined for an error the CLI does not know (a bug: it propagates as it is).
 */
export function describeFailure(err: unknown, ctx: ErrorContext): CliFailure | undefined {
  if (err instanceof PromptCancelled) return { message: 'cancelled', exitCode: EXIT.interrupted, auth: false }
  // The issuer the person named wins (it is spelled as they typed it); else the one the SDK resolved.
  const issuer = ctx.issuer ?? (err instanceof EvergreenClientError ? err.issuer : undefined)
  const target = { profile: ctx.profile, issuer }
  if (err instanceof AuthError) {
    if (err.reason === 'not_logged_in') {
      const where = issuer ? ` to ${issuer}` : ''
      const how = issuer ? loginCommand(target) : loginCommand(target, '--issuer <url>')
      return { message: `not logged in${where}${profileNote(ctx.profile)}`, remedy: `run \`${how}\` to log in`, exitCode: EXIT.authRequired, auth: true }
    }
    return { message: err.message, remedy: remedyText(err.remedy ?? 'login', err, target), exitCode: EXIT.authRequired, auth: true }
  }
  if (err instanceof DeviceLoginError) {
    if (err.reason === 'cancelled') return { message: 'login cancelled; nothing was stored', exitCode: EXIT.interrupted, auth: false }
    if (err.reason === 'access_denied') return { message: 'the login was denied in the browser; nothing was stored', exitCode: EXIT.error, auth: false }
    return { message: err.message, remedy: `run \`${loginCommand(target)}\` for a new code`, exitCode: EXIT.error, auth: false }
  }
  if (err instanceof ProviderError) {
    const where = issuer ? ` (${issuer})` : ''
    return {
      message: err.message,
      remedy: `the token service${where} could not be reached or answered badly; nothing stored was changed. Check your network and --issuer / EVERGREEN_ISSUER, then try again`,
      exitCode: EXIT.error,
      auth: false,
    }
  }
  if (err instanceof DpopError) return describeDpopFailure(err, target)
  if (err instanceof DelegationError) return { message: err.message, remedy: delegationRemedy(err), exitCode: EXIT.error, auth: false }
  if (err instanceof OAuthResponseError) return { message: err.message, exitCode: EXIT.error, auth: false }
  if (err instanceof StorageError || err instanceof ConfigError || err instanceof CredentialError) {
    const remedy = err.remedy ? remedyText(err.remedy, err, target) : undefined
    return { message: err.message, ...(remedy ? { remedy } : {}), exitCode: EXIT.error, auth: false }
  }
  // normalizeKey: a bad --issuer URL or --profile name.
  if (err instanceof TypeError && (err as { code?: unknown }).code === 'ERR_INVALID_ARG_VALUE') return { message: err.message, exitCode: EXIT.error, auth: false }
  return undefined
}

/**
 * The CLI's instruction for a remedy kind. `target` names the session (flags that reach it again);
 * the error supplies the rest (its issuer, the issuers to choose from).
 */
export function remedyText(remedy: Remedy, err: EvergreenClientError | undefined, target: ErrorContext): string | undefined {
  switch (remedy) {
    case 'login':
      return `run \`${loginCommand(target)}\` to log in again`
    case 'login_with_issuer':
      return `run \`${target.issuer ? loginCommand(target) : loginCommand(target, '--issuer <url>')}\` to log in`
    case 'retry_or_login':
      // Nothing was deleted: another process sharing this session may still store its newer
      // token, so trying again is a real remedy before logging in again.
      return `the stored session was kept; try again, or run \`${loginCommand(target)}\` to log in again`
    case 'mint_credential':
      return mintCredentialRemedy(err?.issuer ?? target.issuer, target.profile)
    case 'retry_later':
      return 'check your network, and --issuer / EVERGREEN_ISSUER, then try again'
    case 'check_store':
      return 'check the session store with `evergreen status`; EVERGREEN_STORE=file keeps sessions in the config directory instead of the OS keyring'
    case 'clear_session':
      return `run \`${sessionCommand('logout', target)}\` (it deletes the damaged entry) and log in again`
    case 'choose_issuer':
      return 'choose one with --issuer or EVERGREEN_ISSUER'
    case 'give_issuer':
      return 'pass --issuer <url> or set EVERGREEN_ISSUER (or use the egc1_ credential from <issuer>/settings/cli, which carries it)'
    case 'give_client_id':
      return 'pass --client-id <id> or set EVERGREEN_CLIENT_ID (or use the egc1_ credential from <issuer>/settings/cli, which carries it)'
    case 'drop_issuer':
      return 'drop --issuer (and EVERGREEN_ISSUER): the credential says where it belongs'
    case 'update_client':
      return 'update the evergreen CLI'
    case 'check_clock':
      return `the stored session was kept; check this computer's clock (proofs of possession carry the time), then try again — if it persists, run \`${loginCommand(target)}\``
  }
}

/** DPoP failures in the CLI's words: `--no-dpop` is the CLI's flag, so only the CLI names it. */
function describeDpopFailure(err: DpopError, target: ErrorContext): CliFailure {
  switch (err.code) {
    case 'DPOP_UNSUPPORTED':
      return { message: err.message, remedy: `run \`${loginCommand(target, '--no-dpop')}\` for a session without a bound key`, exitCode: EXIT.error, auth: false }
    case 'DPOP_REQUIRED':
      return { message: err.message, remedy: `run \`${loginCommand(target)}\` (without --no-dpop) to log in with a bound key`, exitCode: EXIT.authRequired, auth: true }
    case 'DPOP_PROOF_REJECTED':
      return { message: err.message, remedy: remedyText('check_clock', err, target)!, exitCode: EXIT.error, auth: false }
  }
}

/** What to change when a delegation is refused, by its code and the server's OAuth error. */
function delegationRemedy(err: DelegationError): string {
  switch (err.code) {
    case 'DELEGATION_UNSUPPORTED':
      return 'this token service does not support `evergreen delegate` (token exchange); upgrade it, or ask its operator for a client of the agent\'s own'
    case 'DELEGATION_INVALID_REQUEST':
      return 'check the --scope, --audience, --resource and --ttl values'
    case 'DELEGATION_NOT_ALLOWED':
      if (err.error === 'invalid_scope') return 'ask for no more --scope than your own login has'
      if (err.error === 'invalid_target') return 'ask only for an --audience / --resource your client may name'
      return 'your login or its client may not delegate this; ask the operator, or narrow --scope, --audience, --resource or --ttl'
  }
}

/** Where to get a renewable login and how to use it: the page on the issuer, then `evergreen login --token`. */
export function mintCredentialRemedy(issuer: string | undefined, profile: string): string {
  const page = issuer ? `${issuer}/settings/cli` : '<issuer>/settings/cli'
  return `get a renewable credential at ${page} and run \`${loginCommand({ profile }, '--token <credential>')}\``
}

function profileNote(profile: string): string {
  return profile === 'default' ? '' : ` (profile ${profile})`
}

import {
  AuthError,
  ConfigError,
  CredentialError,
  DeviceLoginError,
  OAuthResponseError,
  ProviderError,
  StorageError,
} from '@evergreen/client'
import { EXIT } from './exit-codes.js'
import { CliError } from './io.js'
import { loginCommand } from './session-context.js'
import { PromptCancelled } from './session-deps.js'

/** What the remedy lines need to name the right session. */
export interface ErrorContext {
  profile: string
  /** The issuer the command was about, when known. */
  issuer?: string | undefined
}

/**
 * Turns an SDK error into the CLI's exit code and a message that ends with what to do:
 * 4 when the person has to log in (again), 130 for Ctrl-C, 1 for everything else. Never
 * includes a token: SDK messages don't carry any.
 */
export function toCliError(err: unknown, ctx: ErrorContext): unknown {
  if (err instanceof CliError) return err
  if (err instanceof PromptCancelled) return new CliError('cancelled', EXIT.interrupted)
  if (err instanceof AuthError) {
    if (err.reason === 'not_logged_in') {
      const where = ctx.issuer ? ` to ${ctx.issuer}` : ''
      const profile = ctx.profile === 'default' ? '' : ` (profile ${ctx.profile})`
      const how = ctx.issuer ? loginCommand(ctx) : loginCommand(ctx, '--issuer <url>')
      return new CliError(`not logged in${where}${profile}\nrun \`${how}\` to log in`, EXIT.authRequired)
    }
    if (err.reason === 'access_only_expired') return new CliError(err.message, EXIT.authRequired)
    if (err.reason === 'superseded') {
      // Nothing was deleted: another process sharing this session may still store its newer
      // token, so trying again is a real remedy before logging in again.
      return new CliError(
        `${err.message.replace(/; log in again$/, '')}\nthe stored session was kept; try again, or run \`${loginCommand(ctx)}\` to log in again`,
        EXIT.authRequired,
      )
    }
    // The SDK ends with "; log in again"; the remedy line below says exactly how.
    return new CliError(`${err.message.replace(/; log in again$/, '')}\nrun \`${loginCommand(ctx)}\` to log in again`, EXIT.authRequired)
  }
  if (err instanceof DeviceLoginError) {
    if (err.reason === 'cancelled') return new CliError('login cancelled; nothing was stored', EXIT.interrupted)
    if (err.reason === 'access_denied') return new CliError('the login was denied in the browser; nothing was stored', EXIT.error)
    return new CliError(`${err.message}\nrun \`${loginCommand(ctx)}\` for a new code`, EXIT.error)
  }
  if (err instanceof ProviderError) {
    const where = ctx.issuer ? ` (${ctx.issuer})` : ''
    return new CliError(
      `${err.message}\nthe token service${where} could not be reached or answered badly; nothing stored was changed. ` +
        'Check your network and --issuer / EVERGREEN_ISSUER, then try again',
      EXIT.error,
    )
  }
  if (err instanceof OAuthResponseError) return new CliError(err.message, EXIT.error)
  if (err instanceof StorageError || err instanceof ConfigError || err instanceof CredentialError) return new CliError(err.message, EXIT.error)
  // normalizeKey: a bad --issuer URL or --profile name.
  if (err instanceof TypeError && (err as { code?: unknown }).code === 'ERR_INVALID_ARG_VALUE') return new CliError(err.message, EXIT.error)
  return err
}

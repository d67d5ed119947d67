import { createSessionClient, DEFAULT_PROFILE, resolveTarget, type SessionClient, type SessionClientOptions, type SessionTarget } from '@evergreen/client/session'
import { openDefaultStore, type DefaultStore } from '@evergreen/client/node/store'
import type { Command } from 'commander'
import type { SessionDeps } from './session-deps.js'

/** The options every session command takes. */
export interface SessionOptions {
  issuer?: string
  profile?: string
  json?: boolean
}

/** Adds `--issuer`, `--profile` and `--json` to a session command. */
export function addSessionOptions(cmd: Command, what = 'the stored login'): Command {
  return cmd
    .option('--issuer <url>', `issuer of ${what} [env: EVERGREEN_ISSUER] (default: the only one stored for the profile)`)
    .option('--profile <name>', 'which stored login, for several accounts on one machine [env: EVERGREEN_PROFILE] (default: "default")')
    .option('--json', 'print the result as JSON on stdout')
}

/** A session client for the command's options: flag, then environment, then what is stored. */
export interface SessionContext {
  client: SessionClient
  store: DefaultStore
  profile: string
  /** The issuer from --issuer or EVERGREEN_ISSUER, when one was given. */
  issuer: string | undefined
  /** Set when EVERGREEN_TOKEN overrides the store. */
  envToken: string | undefined
  /** Another client on the same store and lock, pinned to `issuer` (e.g. the one just logged in to). */
  clientFor(issuer: string): SessionClient
}

/**
 * Opens the default store (keyring or file, with the cross-process lock) and a session client
 * over it. Precedence — `--issuer`/`--profile` flags, then `EVERGREEN_ISSUER`/`EVERGREEN_PROFILE`,
 * then the store (the only issuer stored for the profile) — is the SDK's `resolveTarget` and
 * `client.resolveKey()`. `EVERGREEN_TOKEN` overrides the store in the client itself.
 */
export async function openSessionContext(opts: SessionOptions, deps: SessionDeps, extra: Pick<SessionClientOptions, 'dpop'> = {}): Promise<SessionContext> {
  const { profile, issuer } = targetOf(opts, deps)
  const store = await openDefaultStore({ env: deps.env })
  const options: SessionClientOptions = { store: store.store, lock: store.lock, env: deps.env, profile, now: deps.now, ...(deps.fetch ? { fetch: deps.fetch } : {}), ...extra }
  return {
    client: createSessionClient({ ...options, ...(issuer !== undefined ? { issuer } : {}) }),
    store,
    profile,
    issuer,
    envToken: nonEmpty(deps.env.EVERGREEN_TOKEN?.trim()),
    clientFor: (pinned) => createSessionClient({ ...options, issuer: pinned }),
  }
}

/** The profile and issuer a command's flags and environment name (before the store is asked). */
export function targetOf(opts: { issuer?: string | undefined; profile?: string | undefined }, deps: Pick<SessionDeps, 'env'>): SessionTarget {
  return resolveTarget(opts, deps.env)
}

/** `evergreen login` with the flags that reach the same session again. */
export function loginCommand(ctx: { profile: string; issuer?: string | undefined }, extra = ''): string {
  return sessionCommand('login', ctx, extra)
}

/** `evergreen <verb>` with the flags that reach the same session again. */
export function sessionCommand(verb: string, ctx: { profile: string; issuer?: string | undefined }, extra = ''): string {
  const parts = [`evergreen ${verb}`]
  if (ctx.issuer !== undefined) parts.push(`--issuer ${ctx.issuer}`)
  if (ctx.profile !== DEFAULT_PROFILE) parts.push(`--profile ${ctx.profile}`)
  if (extra) parts.push(extra)
  return parts.join(' ')
}

/**
 * The context the error remedies need: the profile, and the issuer given, else the one the client
 * resolved (the stored one) — still known after the client deleted a dead session.
 */
export async function errorContext(ctx: SessionContext): Promise<{ profile: string; issuer: string | undefined }> {
  const resolved = ctx.issuer === undefined ? await ctx.client.resolveKey().catch(() => undefined) : undefined
  return { profile: ctx.profile, issuer: ctx.issuer ?? resolved?.issuer }
}

/** `v`, or undefined when it is missing or blank (an empty env variable counts as unset). */
export function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v
}

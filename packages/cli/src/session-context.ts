import { createSessionClient, DEFAULT_PROFILE, type SessionClient, type SessionClientOptions, type SessionStore } from '@evergreen/client'
import { openDefaultStore, type DefaultStore } from '@evergreen/client/node'
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
  /**
   * The issuer of the session this command read from the store, if any: still known after the
   * client deleted a dead session, so the remedy can name it (`evergreen login --issuer …`).
   */
  storedIssuer(): string | undefined
  /** Another client on the same store and lock, pinned to `issuer` (e.g. the one just logged in to). */
  clientFor(issuer: string): SessionClient
}

/**
 * Opens the default store (keyring or file, with the cross-process lock) and a session client
 * over it. Precedence: `--issuer`/`--profile` flags, then `EVERGREEN_ISSUER`/`EVERGREEN_PROFILE`,
 * then the store (the only issuer stored for the profile). `EVERGREEN_TOKEN` overrides the store
 * in the client itself.
 */
export async function openSessionContext(opts: SessionOptions, deps: SessionDeps): Promise<SessionContext> {
  const profile = nonEmpty(opts.profile) ?? nonEmpty(deps.env.EVERGREEN_PROFILE) ?? DEFAULT_PROFILE
  const issuer = nonEmpty(opts.issuer) ?? nonEmpty(deps.env.EVERGREEN_ISSUER)
  const store = await openDefaultStore({ env: deps.env })
  let seen: string | undefined
  const inner = store.store
  const observed: SessionStore = {
    async read(key) {
      const session = await inner.read(key)
      if (session) seen = session.issuer
      return session
    },
    write: (key, session) => inner.write(key, session),
    delete: (key) => inner.delete(key),
    list: () => inner.list(),
    describe: () => inner.describe(),
  }
  const options: SessionClientOptions = { store: observed, lock: store.lock, env: deps.env, profile, now: deps.now, ...(deps.fetch ? { fetch: deps.fetch } : {}) }
  return {
    client: createSessionClient({ ...options, ...(issuer !== undefined ? { issuer } : {}) }),
    store,
    profile,
    issuer,
    envToken: nonEmpty(deps.env.EVERGREEN_TOKEN?.trim()),
    storedIssuer: () => seen,
    clientFor: (pinned) => createSessionClient({ ...options, issuer: pinned }),
  }
}

/** `evergreen login` with the flags that reach the same session again. */
export function loginCommand(ctx: { profile: string; issuer?: string | undefined }, extra = ''): string {
  const parts = ['evergreen login']
  if (ctx.issuer !== undefined) parts.push(`--issuer ${ctx.issuer}`)
  if (ctx.profile !== DEFAULT_PROFILE) parts.push(`--profile ${ctx.profile}`)
  if (extra) parts.push(extra)
  return parts.join(' ')
}

/** The context the error remedies need: the profile, and the issuer given or last read. */
export function errorContext(ctx: SessionContext): { profile: string; issuer: string | undefined } {
  return { profile: ctx.profile, issuer: ctx.issuer ?? ctx.storedIssuer() }
}

/** `v`, or undefined when it is missing or blank (an empty env variable counts as unset). */
export function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v
}

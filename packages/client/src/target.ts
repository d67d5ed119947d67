import { ConfigError } from './errors.js'
import { DEFAULT_PROFILE, normalizeKey, type SessionKey, type SessionStore } from './store/types.js'

/** Where `EVERGREEN_*` settings are read from. */
export type Env = Record<string, string | undefined>

/** Which session a caller means, before the store is asked. */
export interface SessionTarget {
  profile: string
  /** Given explicitly or by `EVERGREEN_ISSUER`; undefined means "the only one stored for the profile". */
  issuer: string | undefined
}

/**
 * The precedence rule for issuer and profile, in one place: an explicit option (a CLI flag) wins,
 * then `EVERGREEN_ISSUER` / `EVERGREEN_PROFILE`, then — for the profile — `default`. A blank value
 * counts as unset. The issuer's last fallback, the only issuer stored for the profile, needs the
 * store: {@link resolveSessionKey}.
 *
 * @example const { issuer, profile } = resolveTarget({ issuer: flags.issuer, profile: flags.profile }, process.env)
 */
export function resolveTarget(options: { issuer?: string | undefined; profile?: string | undefined }, env: Env): SessionTarget {
  return {
    profile: nonBlank(options.profile) ?? nonBlank(env.EVERGREEN_PROFILE) ?? DEFAULT_PROFILE,
    issuer: nonBlank(options.issuer) ?? nonBlank(env.EVERGREEN_ISSUER),
  }
}

/**
 * The session key for a target: its issuer when it has one, else the only issuer stored for the
 * profile, else undefined (nothing stored).
 *
 * @throws ConfigError `CONFIG_AMBIGUOUS_ISSUER` (remedy `choose_issuer`) when several issuers are stored for the profile
 * @throws TypeError `ERR_INVALID_ARG_VALUE` for an issuer that is not an http(s) URL or a bad profile name
 */
export async function resolveSessionKey(target: SessionTarget, store: SessionStore): Promise<SessionKey | undefined> {
  if (target.issuer !== undefined) return normalizeKey({ issuer: target.issuer, profile: target.profile })
  const keys = (await store.list()).filter((k) => k.profile === target.profile)
  if (keys.length === 0) return undefined
  if (keys.length > 1) {
    const issuers = keys.map((k) => k.issuer)
    throw new ConfigError('CONFIG_AMBIGUOUS_ISSUER', `profile "${target.profile}" has sessions with ${keys.length} issuers (${issuers.join(', ')})`, {
      remedy: 'choose_issuer',
      profile: target.profile,
      issuers,
    })
  }
  return keys[0]!
}

/** The process environment where there is one (Node, Bun, Deno's compat), else nothing. */
export function processEnv(): Env {
  return (globalThis as { process?: { env?: Env } }).process?.env ?? {}
}

/** `v`, or undefined when it is missing or blank (an empty variable counts as unset). */
export function nonBlank(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v
}

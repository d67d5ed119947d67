import { GRANT_TYPES } from '@evergreen/core'
import { InvalidArgumentError } from 'commander'

// Argument parsers for commander: they throw InvalidArgumentError so commander reports
// `error: option '--limit <n>' argument 'x' is invalid. …` with the option named.

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3_600, d: 86_400 }

/**
 * A lifetime in seconds: `7776000`, or with a unit, `90d`, `12h`, `15m`, `30s`.
 *
 * @example parseSeconds('90d') // 7776000
 */
export function parseSeconds(value: string): number {
  const m = /^(\d{1,12})([smhd]?)$/.exec(value.trim())
  const n = m ? Number(m[1]) * UNIT_SECONDS[m[2] || 's']! : NaN
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive number of seconds, or a number with s, m, h or d (e.g. 7776000 or 90d)')
  return n
}

/**
 * Like {@link parseSeconds}, but `none` (or `default`) gives `'none'`: the caller sends null, and
 * the server default applies again. Not null itself: commander turns a parser's null into ''.
 */
export function parseSecondsOrNone(value: string): number | 'none' {
  return /^(none|default)$/i.test(value.trim()) ? 'none' : parseSeconds(value)
}

/** A whole number of seconds that may be 0 (`--activate-after 0`). */
export function parseNonNegativeSeconds(value: string): number {
  return value.trim() === '0' ? 0 : parseSeconds(value)
}

/** A page size for list commands. The server allows 1 to 500. */
export function parseLimit(value: string): number {
  const n = Number(value)
  if (!/^\d+$/.test(value.trim()) || n < 1 || n > 500) throw new InvalidArgumentError('expected a whole number from 1 to 500')
  return n
}

/** For repeatable options: `--redirect-uri a --redirect-uri b` → `['a', 'b']`. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value]
}

/** For repeatable space-separated options: `--scope "read write" --scope admin` → three scopes. */
export function collectWords(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...value.split(/\s+/).filter(Boolean)]
}

const GRANT_ALIASES: Record<string, string> = { device_code: GRANT_TYPES.deviceCode, token_exchange: GRANT_TYPES.tokenExchange }

/** Repeatable `--grant-type`, accepting `device_code` and `token_exchange` for the RFC 8628 and 8693 URNs. */
export function collectGrantType(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), GRANT_ALIASES[value] ?? value]
}

/**
 * Epoch milliseconds as ISO 8601 UTC without milliseconds: `2026-11-01T12:00:00Z`.
 *
 * @example formatInstant(0) // '1970-01-01T00:00:00Z'
 */
export function formatInstant(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/**
 * A span in the largest unit a person would use, rounded to the nearest: `15 minutes` (for
 * 14:59.6 — a token that lives 900 s read a moment later), `30 days`, `45 seconds`.
 *
 * @example formatSpan(90_000) // '90 seconds'
 */
export function formatSpan(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000)
  const units: Array<[string, number]> = [['day', 86_400], ['hour', 3_600], ['minute', 60]]
  for (const [unit, size] of units) {
    // Two of a unit before switching to it: "90 minutes" reads better than "2 hours".
    if (s >= size * 2) {
      const n = Math.round(s / size)
      return `${n} ${unit}s`
    }
  }
  return `${s} second${s === 1 ? '' : 's'}`
}

/** `in 14 minutes` or `3 minutes ago`, relative to `now`. */
export function formatRelative(epochMs: number, now: number): string {
  return epochMs >= now ? `in ${formatSpan(epochMs - now)}` : `${formatSpan(now - epochMs)} ago`
}

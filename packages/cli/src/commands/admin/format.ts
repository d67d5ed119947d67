// Human-readable output of `evergreen admin`: aligned tables, `key: value` blocks, times.
// --json bypasses all of this and prints the server's response as it came.

/** One column of a {@link formatTable}: a header and how to read the cell from a row. */
export interface Column<T> {
  header: string
  value(row: T): string
}

/**
 * Left-aligned columns separated by two spaces, like `kubectl get`; no trailing spaces.
 *
 * @example formatTable(users, [{ header: 'ID', value: (u) => u.id }])
 */
export function formatTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = [columns.map((c) => c.header), ...rows.map((r) => columns.map((c) => c.value(r)))]
  const widths = columns.map((_, i) => Math.max(...cells.map((line) => line[i]!.length)))
  return cells.map((line) => line.map((cell, i) => (i === line.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n')
}

/** `key: value` lines with the values aligned; `undefined` entries are skipped. */
export function formatDetails(entries: ReadonlyArray<readonly [string, string | undefined]>): string {
  const shown = entries.filter((e): e is readonly [string, string] => e[1] !== undefined)
  const width = Math.max(...shown.map(([k]) => k.length)) + 1
  return shown.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v}`).join('\n')
}

/** Epoch seconds as ISO 8601 UTC without milliseconds; `-` for null. */
export function formatTime(epochSeconds: number | null | undefined): string {
  if (epochSeconds === null || epochSeconds === undefined) return '-'
  return new Date(epochSeconds * 1000).toISOString().replace('.000Z', 'Z')
}

/** A span of seconds in the largest whole-ish unit a person would use: `90 days`, `15 minutes`. */
export function formatDuration(seconds: number): string {
  const units: Array<[string, number]> = [['day', 86_400], ['hour', 3_600], ['minute', 60]]
  for (const [unit, size] of units) {
    if (seconds >= size && seconds % size === 0) return plural(seconds / size, unit)
    if (seconds >= size * 2) return plural(Math.round(seconds / size), unit, '~')
  }
  return plural(seconds, 'second')
}

function plural(n: number, unit: string, prefix = ''): string {
  return `${prefix}${n} ${unit}${n === 1 ? '' : 's'}`
}

/** `a, b` for a list, `-` when empty. */
export function formatList(values: readonly string[] | null | undefined): string {
  return values && values.length > 0 ? values.join(', ') : '-'
}

/** `-` for null/empty, the value otherwise. */
export function orDash(value: string | number | null | undefined): string {
  return value === null || value === undefined || value === '' ? '-' : String(value)
}

import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import fc from 'fast-check'
import pg from 'pg'
import { expect } from 'vitest'
import { RATE_LIMIT_TABLE } from '../../packages/server/src/node/limit-backend.js'

/**
 * Cases per endpoint: `EVERGREEN_HOSTILE_RUNS` (`npm run test:hostile` sets 1000), else a small
 * run inside `npm test`. The seed is fixed unless `EVERGREEN_HOSTILE_SEED` is set, so `npm test`
 * always runs the same cases; a failure prints its seed and path for `fc.assert` to replay.
 */
export const RUNS = Number(process.env.EVERGREEN_HOSTILE_RUNS ?? 60)
export const SEED = Number(process.env.EVERGREEN_HOSTILE_SEED ?? 20_261_201)
export const fcOptions = (runs = RUNS): fc.Parameters<unknown> => ({ numRuns: runs, seed: SEED, endOnFailure: true })
/** A test timeout that grows with the run count (argon2 on /login is the slowest case, ~30 ms). */
export const timeoutFor = (runs = RUNS) => 30_000 + runs * 120

/** Every table's rows, each serialised and sorted, so two dumps compare independent of order. */
export type Dump = Map<string, string[]>

/** Dumps a SQLite file through its own read-only connection (WAL: sees every committed write). */
export function sqliteDumper(file: string): { dump(): Promise<Dump>; close(): void } {
  const db = new Database(file, { readonly: true, fileMustExist: true })
  const tables = () =>
    (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`).all() as { name: string }[]).map((r) => r.name)
  return {
    async dump() {
      const out: Dump = new Map()
      for (const t of tables()) {
        const rows = db.prepare(`SELECT * FROM "${t}"`).raw(true).all() as unknown[][]
        out.set(t, rows.map((r) => JSON.stringify(r, (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('hex') : v))).sort())
      }
      return out
    },
    close: () => db.close(),
  }
}

/** Dumps a PostgreSQL schema, rate-limit bookkeeping excluded (it is meant to change). */
export function postgresDumper(url: string): { dump(): Promise<Dump>; close(): Promise<void> } {
  const pool = new pg.Pool({ connectionString: url, max: 1 })
  pool.on('error', () => {})
  return {
    async dump() {
      const out: Dump = new Map()
      const { rows: tables } = await pool.query<{ table_name: string }>(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`,
      )
      for (const { table_name: t } of tables) {
        if (t === RATE_LIMIT_TABLE) continue
        const { rows } = await pool.query({ text: `SELECT * FROM "${t}"`, rowMode: 'array' })
        out.set(t, (rows as unknown[][]).map((r) => JSON.stringify(r)).sort())
      }
      return out
    },
    close: () => pool.end(),
  }
}

/**
 * Two dumps are identical except for audit rows the case legitimately wrote: new `audit_events`
 * rows whose type records a refused attempt, and nothing removed or changed anywhere.
 */
export function expectOnlyFailureAudits(before: Dump, after: Dump, label: string): void {
  expect([...after.keys()], label).toEqual([...before.keys()])
  for (const [table, rows] of before) {
    const now = after.get(table)!
    if (table !== 'audit_events') {
      expect(now, `${label}: table ${table} changed`).toEqual(rows)
      continue
    }
    const kept = new Set(rows)
    for (const r of rows) expect(now.includes(r), `${label}: an audit row changed or vanished`).toBe(true)
    for (const r of now) if (!kept.has(r)) expect(r, `${label}: unexpected audit row`).toMatch(/"[a-z_]+\.failed"/)
  }
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix))
}

// ---- generators

/** Strings chosen to break parsers, normalisers, headers and redirects. */
export const TRICKS = [
  '', ' ', '\t', '\r\n', 'x\r\nSet-Cookie: pwned=1', 'x\nLocation: https://evil.example', '%0d%0aSet-Cookie:%20pwned=1', '\u0000', 'a\u0000b', '%00',
  '%', '%zz', '%ff%fe', '\ud800', '\udfff', '\u202eevil', '\u200b', '\ufeff', '\u00a0', 'ſ', 'ß', 'İ', 'ı', 'ﬀ', 'Ａ', 'ＢＣＤＦ-ＧＨＪＫ', 'bcdf\u2011ghjk',
  'B\u0301CDF-GHJK', 'ＢCDF GHJK', '//evil.example', '\\\\evil.example', '/\\evil.example', 'https://evil.example/', 'http://evergreen.test@evil.example/',
  'http://evergreen.test.evil.example/', 'javascript:alert(1)', 'data:text/html,<script>alert(1)</script>', '/%2f%2fevil.example', '/\t/evil.example',
  '<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', "' OR '1'='1", '${jndi:ldap://x}', '../../etc/passwd', '{"a":1}', '[]', 'null', '-1', '1e309',
  'NaN', '0x10', '9'.repeat(40), 'a@b', 'ADA@EXAMPLE.COM', 'ada@exаmple.com', 'ada@example.com\r\nBcc: x@evil.example', 'ａｄａ@example.com', 'x'.repeat(300),
  'x'.repeat(5000), 'egr_', 'egr_AAAA', 'Bearer', 'Basic', 'none',
] as const

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...TRICKS) },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...TRICKS), fc.string({ maxLength: 8 })).map(([a, b]) => a + b) },
)

/** One form field: sent once, twice, empty, or raw (unencoded, so `%` sequences reach the parser). */
export type Field = { name: string; value: string; raw?: boolean }

/** Encodes fields as a form body, the raw ones unencoded. */
export function encodeForm(fields: Field[]): string {
  return fields.map((f) => (f.raw ? `${f.name}=${f.value}` : `${encode(f.name)}=${encode(f.value)}`)).join('&')
}

/** Percent-encodes; a lone surrogate (which UTF-8 cannot carry) becomes the bytes a careless encoder would send. */
export function encode(v: string): string {
  try {
    return encodeURIComponent(v)
  } catch {
    return `${encodeURIComponent(v.replace(/[\ud800-\udfff]/g, '\ufffd'))}%ED%A0%80`
  }
}

/**
 * Fields for an endpoint: each named parameter is sent with a plausible or a hostile value,
 * left out, repeated or emptied; plus unknown parameters.
 */
export function fieldsArb(params: Record<string, fc.Arbitrary<string>>): fc.Arbitrary<Field[]> {
  const one = (name: string, value: fc.Arbitrary<string>): fc.Arbitrary<Field[]> =>
    fc.oneof(
      { weight: 5, arbitrary: value.map((v) => [{ name, value: v }]) },
      { weight: 2, arbitrary: hostileString.map((v) => [{ name, value: v }]) },
      { weight: 1, arbitrary: fc.constant<Field[]>([]) },
      { weight: 1, arbitrary: fc.tuple(value, fc.oneof(value, fc.constant(''))).map(([a, b]) => [{ name, value: a }, { name, value: b }]) },
      { weight: 1, arbitrary: fc.constant<Field[]>([{ name, value: '' }]) },
      { weight: 1, arbitrary: fc.constantFrom('%', '%zz', '%00', '%E0%A4%A', '%0d%0a', '+%2B+').map((v) => [{ name, value: v, raw: true }]) },
    )
  const extra = fc.array(fc.record({ name: fc.oneof(hostileString, fc.constantFrom('__proto__', 'constructor', 'client_id', 'grant_type', 'scope')), value: hostileString }), { maxLength: 2 })
  return fc.tuple(fc.tuple(...Object.entries(params).map(([n, v]) => one(n, v))), extra).chain(([named, more]) =>
    fc.shuffledSubarray([...named.flat(), ...more], { minLength: named.flat().length + more.length }),
  )
}

export const FORM_TYPE = 'application/x-www-form-urlencoded'

/** How a body is framed: the right content type most of the time, else a wrong or odd one. */
export const contentTypeArb = fc.oneof(
  { weight: 6, arbitrary: fc.constant(FORM_TYPE) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      undefined, 'application/json', 'text/plain', 'multipart/form-data; boundary=x', `${FORM_TYPE}; charset=utf-16`, `${FORM_TYPE}; charset=latin1`,
      'APPLICATION/X-WWW-FORM-URLENCODED', `${FORM_TYPE}, application/json`, 'application/x-www-form-urlencoded\u00a0', '*/*', '',
    ),
  },
)

export interface BodyShape {
  kind: 'form' | 'oversized' | 'invalid-utf8' | 'json'
  contentType: string | undefined
}
export const bodyShapeArb: fc.Arbitrary<BodyShape> = fc.record({
  kind: fc.oneof({ weight: 12, arbitrary: fc.constant('form' as const) }, { weight: 1, arbitrary: fc.constantFrom('oversized' as const, 'invalid-utf8' as const, 'json' as const) }),
  contentType: contentTypeArb,
})

/** The bytes of a body for the given fields and shape. */
export function bodyFor(fields: Field[], shape: BodyShape, maxBody: number): BodyInit {
  switch (shape.kind) {
    case 'form':
      return encodeForm(fields)
    case 'oversized':
      return encodeForm([...fields, { name: 'pad', value: 'x'.repeat(maxBody + 1) }])
    case 'invalid-utf8':
      return new Uint8Array([...new TextEncoder().encode(encodeForm(fields)), 0x26, 0x61, 0x3d, 0xff, 0xfe])
    case 'json':
      return JSON.stringify(Object.fromEntries(fields.map((f) => [f.name, f.value])))
  }
}

/** Headers from a shape; undefined content type means none at all. */
export function headersFor(shape: BodyShape, extra: Record<string, string> = {}): Headers {
  const h = new Headers()
  if (shape.contentType !== undefined) h.set('content-type', shape.contentType)
  for (const [k, v] of Object.entries(extra)) h.set(k, headerSafe(v))
  return h
}

/**
 * What of a hostile value can travel in a header at all: the Fetch Headers API refuses CR, LF,
 * NUL and anything above U+00FF before a request is made (and so does Node's HTTP parser).
 */
export function headerSafe(v: string): string {
  return v.replace(/[\r\n\0]/g, ' ').replace(/[^\t\x20-\x7e\x80-\xff]/g, '?').trim()
}

/** A header value as hostile as the Fetch Headers API allows (it refuses CR, LF and NUL itself). */
export const headerValueArb = hostileString.map(headerSafe)

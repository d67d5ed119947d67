import { Option, type Command } from 'commander'
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Page } from '@evergreen/core'
import { createAdminClient, type AdminClient } from '../../admin-client.js'
import { CliError, type Io } from '../../io.js'

/** What the admin commands need from the outside world, injectable for in-process tests. */
export interface AdminDeps {
  io: Io
  fetch?: typeof fetch
  /** All of stdin as text (for `--password-stdin`). */
  readStdin(): Promise<string>
  stdinIsTty(): boolean
  stdoutIsTty(): boolean
}


interface GlobalOptions {
  url: string
  adminKey?: string
  dataDir: string
  json?: boolean
}

/** The options every `evergreen admin …` command understands, wherever they appear on the line. */
export function addGlobalOptions(admin: Command): Command {
  return admin
    .addOption(new Option('--url <url>', 'base URL of the token service').env('EVERGREEN_URL').default('http://127.0.0.1:8787'))
    .addOption(new Option('--admin-key <key>', 'admin key (prefer the env variable: argv is visible to other local users; default: read <data dir>/admin-key)').env('EVERGREEN_ADMIN_KEY'))
    .addOption(new Option('--data-dir <dir>', 'data directory of `evergreen serve`, where its first start saved admin-key').env('EVERGREEN_DATA_DIR').default('./.evergreen'))
}

/** Adds `--json` to a leaf command. */
export function withJson(cmd: Command): Command {
  return cmd.option('--json', 'print the raw JSON response on stdout')
}

/**
 * A client for the admin API from the command's (and its parents') options. The key comes from
 * --admin-key, else EVERGREEN_ADMIN_KEY, else `<data dir>/admin-key`.
 */
export function connect(cmd: Command, deps: AdminDeps): AdminClient {
  const opts = cmd.optsWithGlobals<GlobalOptions>()
  let adminKey = opts.adminKey
  let source: string
  if (adminKey !== undefined && adminKey !== '') {
    source = cmd.getOptionValueSourceWithGlobals('adminKey') === 'env' ? 'EVERGREEN_ADMIN_KEY' : '--admin-key'
  } else {
    source = join(resolve(opts.dataDir), 'admin-key')
    adminKey = readKeyFile(source)
  }
  return createAdminClient({ url: opts.url, adminKey, adminKeySource: source, ...(deps.fetch ? { fetch: deps.fetch } : {}) })
}

function readKeyFile(file: string): string {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    const code = (err as { code?: string }).code
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new CliError(
        `no admin key: ${file} does not exist.\n` +
          'Pass --admin-key or set EVERGREEN_ADMIN_KEY, or point --data-dir / EVERGREEN_DATA_DIR at the data directory\n' +
          'of `evergreen serve` (its first start generates the key and saves it there).',
      )
    }
    if (code === 'EACCES' || code === 'EPERM') {
      throw new CliError(`cannot read ${file}: permission denied (it is mode 0600; run as the user that runs \`evergreen serve\`, or pass EVERGREEN_ADMIN_KEY)`)
    }
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`)
  }
  const key = text.trim()
  if (key === '') throw new CliError(`${file} is empty; pass --admin-key or set EVERGREEN_ADMIN_KEY`)
  return key
}

/** True when the leaf command (or a parent) was given `--json`. */
export function wantsJson(cmd: Command): boolean {
  return cmd.optsWithGlobals<GlobalOptions>().json === true
}

/** Prints `data` as JSON on stdout. */
export function printJson(io: Io, data: unknown): void {
  io.out(JSON.stringify(data, null, 2))
}

/**
 * Fetches one page of `path`, or every page when `all` is set, following `next_cursor`.
 * `query` values that are undefined are left out.
 */
export async function fetchList<T>(
  api: AdminClient,
  path: string,
  query: Record<string, string | number | boolean | undefined>,
  all: boolean,
): Promise<Page<T>> {
  const items: T[] = []
  let cursor = typeof query.cursor === 'string' ? query.cursor : undefined
  for (;;) {
    const params = new URLSearchParams()
    for (const [k, v] of Object.entries({ ...query, cursor })) if (v !== undefined) params.set(k, String(v))
    const qs = params.toString()
    const page = await api.request<Page<T>>('GET', `${path}${qs ? `?${qs}` : ''}`)
    items.push(...page.items)
    if (!all || page.next_cursor === null) return { items, next_cursor: all ? null : page.next_cursor }
    if (page.next_cursor === cursor) throw new CliError(`the server returned the same cursor twice for ${path}; stopping`)
    cursor = page.next_cursor
  }
}

/** What a list command says on stderr after its table: nothing found, or how to get the rest. */
export function listFooter(io: Io, what: string, page: Page<unknown>): void {
  if (page.items.length === 0) io.err(`no ${what}`)
  if (page.next_cursor !== null) io.err(`more ${what}: add --all, or --cursor ${page.next_cursor}`)
}

/** A path segment: ids are opaque, and an email contains `@`. */
export function seg(value: string): string {
  return encodeURIComponent(value)
}

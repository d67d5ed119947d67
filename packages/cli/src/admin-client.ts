import { EXIT } from './exit-codes.js'
import { CliError } from './io.js'

/** Stable codes of {@link AdminApiError}; scripts and tests switch on these, not on the message. */
export type AdminErrorCode =
  /** The server answered 401: the admin key is missing or wrong. */
  | 'ADMIN_KEY_REFUSED'
  /** Nothing answered at the URL (connection refused, unknown host, timeout). */
  | 'ADMIN_UNREACHABLE'
  /**
   * The server answered with an error status; `status` says which, and `error` the OAuth code
   * when the body was OAuth error JSON (a 404 or 409 is an RFC 9457 problem and has none).
   */
  | 'ADMIN_REQUEST_FAILED'
  /** The server answered something that is not the admin API's JSON. */
  | 'ADMIN_BAD_RESPONSE'

/** A failed admin API call. The message is for a person and never contains the admin key. */
export class AdminApiError extends CliError {
  constructor(
    readonly code: AdminErrorCode,
    message: string,
    /** HTTP status, when the server answered. */
    readonly status?: number,
    /** The OAuth `error` code from the response body, when it was OAuth error JSON. */
    readonly error?: string,
    options?: { cause?: unknown },
  ) {
    super(message, EXIT.error)
    this.name = 'AdminApiError'
    if (options?.cause !== undefined) this.cause = options.cause
  }
}

export interface AdminClientOptions {
  /** Base URL of the token service, e.g. `http://127.0.0.1:8787`; `/admin/v1` is added here. */
  url: string
  adminKey: string
  /** Where the key came from (`--admin-key`, a file path…), named in the 401 message. */
  adminKeySource?: string
  fetch?: typeof fetch
  /** Per-request limit; a hung server must not hang a provisioning script. Default 30 s. */
  timeoutMs?: number
}

export interface AdminClient {
  /** The base URL requests go to, without `/admin/v1`. */
  readonly url: string
  /**
   * Calls `/admin/v1{path}` and resolves to the parsed JSON body (undefined for 204).
   *
   * @throws AdminApiError on any failure, with the server's `error_description` when it sent one
   */
  request<T = unknown>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<T>
}

/**
 * A minimal client for the operator API of `evergreen serve`.
 *
 * @param options.url base URL of the token service
 * @param options.adminKey the `Authorization: Bearer` key of `/admin/v1/`
 * @example
 * const api = createAdminClient({ url: 'http://127.0.0.1:8787', adminKey })
 * const { items } = await api.request<{ items: unknown[] }>('GET', '/users?limit=10')
 */
export function createAdminClient(options: AdminClientOptions): AdminClient {
  const base = parseBaseUrl(options.url)
  const doFetch = options.fetch ?? globalThis.fetch
  const timeoutMs = options.timeoutMs ?? 30_000
  return {
    url: base,
    async request<T>(method: string, path: string, body?: unknown): Promise<T> {
      const headers: Record<string, string> = { authorization: `Bearer ${options.adminKey}`, accept: 'application/json' }
      if (body !== undefined) headers['content-type'] = 'application/json'
      let res: Response
      try {
        res = await doFetch(`${base}/admin/v1${path}`, {
          method,
          headers,
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(timeoutMs),
        })
      } catch (err) {
        throw unreachable(base, err, timeoutMs)
      }
      const text = await res.text().catch(() => '')
      if (res.ok) {
        if (text === '') return undefined as T
        try {
          return JSON.parse(text) as T
        } catch {
          throw new AdminApiError('ADMIN_BAD_RESPONSE', `${base} answered ${method} ${path} with something that is not JSON — is --url the token service?`, res.status)
        }
      }
      throw failed(base, res, text, options.adminKeySource)
    },
  }
}

function parseBaseUrl(url: string): string {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw new CliError(`--url ${JSON.stringify(url)} is not a URL (expected something like http://127.0.0.1:8787)`)
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new CliError(`--url must be http:// or https://, not ${u.protocol}`)
  return u.href.replace(/\/+$/, '')
}

function failed(base: string, res: Response, text: string, keySource: string | undefined): AdminApiError {
  let error: string | undefined
  let description: string | undefined
  let problem = false
  try {
    // Bad input, a wrong key and throttling are OAuth error JSON; a missing record or a
    // conflicting write is an RFC 9457 problem (`title`, `detail`).
    const parsed = JSON.parse(text) as { error?: unknown; error_description?: unknown; title?: unknown; detail?: unknown }
    if (typeof parsed.error === 'string') error = parsed.error
    if (typeof parsed.error_description === 'string') description = parsed.error_description
    if (/^application\/problem\+json/i.test(res.headers.get('content-type') ?? '') && typeof parsed.title === 'string') {
      problem = true
      description = typeof parsed.detail === 'string' ? parsed.detail : parsed.title
    }
  } catch {
    // Not JSON: a proxy's error page, or not Evergreen at all. Described by status below.
  }
  if (res.status === 401) {
    const from = keySource ? ` (from ${keySource})` : ''
    return new AdminApiError(
      'ADMIN_KEY_REFUSED',
      `the token service at ${base} refused the admin key${from}: ${description ?? 'unauthorized'} (HTTP 401).\n` +
        'The admin key is the one `evergreen serve` printed on its first start and saved to <data dir>/admin-key,\n' +
        'or the EVERGREEN_ADMIN_KEY the server was started with. Pass it with --admin-key, EVERGREEN_ADMIN_KEY,\n' +
        'or --data-dir pointing at the server\'s data directory.',
      401,
      error,
    )
  }
  if (res.status === 429) {
    return new AdminApiError('ADMIN_REQUEST_FAILED', `too many failed admin-key attempts from this address; wait a minute and check the key (HTTP 429)`, 429, error)
  }
  if (error === undefined && !problem) {
    return new AdminApiError('ADMIN_BAD_RESPONSE', `${base} answered HTTP ${res.status} ${res.statusText} — is --url the Evergreen token service?`, res.status)
  }
  return new AdminApiError('ADMIN_REQUEST_FAILED', `${description ?? error} (HTTP ${res.status})`, res.status, error)
}

function unreachable(base: string, err: unknown, timeoutMs: number): AdminApiError {
  const name = (err as { name?: string }).name
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new AdminApiError('ADMIN_UNREACHABLE', `the token service at ${base} did not answer within ${timeoutMs / 1000} s`, undefined, undefined, { cause: err })
  }
  const code = networkCode(err)
  const hint = code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? ' — check the host name in --url / EVERGREEN_URL' : ' — is `evergreen serve` running?'
  // Without a socket error code the cause's message is the useful part (fetch refuses some
  // ports outright, e.g. "bad port" for 1 or 6000, before any connection is tried).
  const detail = code ?? causeMessage(err)
  return new AdminApiError('ADMIN_UNREACHABLE', `cannot reach the token service at ${base}${detail ? ` (${detail})` : ''}${hint}`, undefined, undefined, { cause: err })
}

function causeMessage(err: unknown): string | undefined {
  const message = ((err as { cause?: { message?: unknown } }).cause)?.message
  return typeof message === 'string' && message !== '' ? message : undefined
}

// undici reports "fetch failed" with the socket error as `cause`; when a name resolves to several
// addresses (localhost → ::1 and 127.0.0.1) the cause is an AggregateError of one error each.
function networkCode(err: unknown): string | undefined {
  const cause = (err as { cause?: unknown }).cause as { code?: unknown; errors?: unknown[] } | undefined
  if (!cause) return undefined
  if (typeof cause.code === 'string') return cause.code
  const first = cause.errors?.find((e) => typeof (e as { code?: unknown }).code === 'string') as { code: string } | undefined
  return first?.code
}

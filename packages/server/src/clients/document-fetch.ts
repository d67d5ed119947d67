import { lookup as dnsLookup } from 'node:dns/promises'
import { request, type RequestOptions } from 'node:https'
import type { LookupAddress } from 'node:dns'
import { isIP } from 'node:net'
import { Readable } from 'node:stream'
import { ClientDocumentError } from '../errors.js'
import { readBounded } from '../http/bounded-body.js'
import { isPublicAddress } from './address-policy.js'

/** A fetched document: its bytes and how long its server lets it be cached, in seconds. */
export interface FetchedDocument {
  body: Uint8Array
  /** `Cache-Control: max-age`; 0 for `no-store`/`no-cache`; undefined when absent. */
  maxAgeSeconds: number | undefined
}

/** Fetches one client metadata document, or throws {@link ClientDocumentError}. */
export type DocumentFetcher = (url: string) => Promise<FetchedDocument>

/** Resolves a host name to every address it has, as `dns.lookup(host, { all: true })` does. */
export type Resolve = (hostname: string) => Promise<LookupAddress[]>

export interface DocumentFetcherOptions {
  /** Development only: allow private, loopback and link-local addresses (EVERGREEN_CLIENT_METADATA_ALLOW_PRIVATE). */
  allowPrivate: boolean
  /** When not empty, only these host names (exact, lower case) are fetched from. */
  allowedHosts: readonly string[]
  /** Largest document accepted, in bytes. */
  maxBytes: number
  /** The whole fetch — connect, TLS, headers and body — must finish within this. */
  timeoutMs: number
  /** DNS; `dns.lookup` with `all: true` by default. */
  resolve?: Resolve
  /** Extra trusted CA certificates (PEM), for tests serving documents over TLS on loopback. */
  ca?: string
}

/**
 * A fetcher for Client ID Metadata Documents with the SSRF defences of docs/architecture.md
 * "Client registration": https only; the host on the allow-list when there is one; every address
 * the host resolves to public (unless `allowPrivate`), and the connection made to an address that
 * was checked — the socket's own lookup returns the checked addresses, so a second DNS answer
 * (rebinding) is never consulted; no redirects; a size and a time limit; no cookies or
 * credentials sent.
 *
 * @example
 * const fetchDocument = createDocumentFetcher({ allowPrivate: false, allowedHosts: [], maxBytes: 5120, timeoutMs: 5000 })
 * const { body } = await fetchDocument('https://app.example/oauth/client.json')
 * @see https://datatracker.ietf.org/doc/draft-ietf-oauth-client-id-metadata-document/
 */
export function createDocumentFetcher(options: DocumentFetcherOptions): DocumentFetcher {
  const resolve: Resolve = options.resolve ?? ((host) => dnsLookup(host, { all: true, verbatim: true }))
  return async function fetchClientDocument(text: string): Promise<FetchedDocument> {
    const url = parseHttpsUrl(text)
    const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase()
    if (options.allowedHosts.length > 0 && !options.allowedHosts.includes(host)) {
      throw new ClientDocumentError('host_not_allowed', `client metadata host ${host} is not on the allow-list`)
    }
    const signal = AbortSignal.timeout(options.timeoutMs)
    const addresses = await checkedAddresses(host, resolve, options.allowPrivate, signal)
    return get(url, host, addresses, options, signal)
  }
}

function parseHttpsUrl(text: string): URL {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new ClientDocumentError('not_https', 'client_id is not a URL')
  }
  if (url.protocol !== 'https:') throw new ClientDocumentError('not_https', 'a client metadata document must be served over https')
  return url
}

/** Every address of `host`, each one checked; an IP literal is its own one address. */
async function checkedAddresses(host: string, resolve: Resolve, allowPrivate: boolean, signal: AbortSignal): Promise<LookupAddress[]> {
  let addresses: LookupAddress[]
  const family = isIP(host)
  if (family !== 0) {
    addresses = [{ address: host, family }]
  } else {
    try {
      addresses = await raceAbort(resolve(host), signal)
    } catch (err) {
      if (signal.aborted) throw new ClientDocumentError('timeout', 'resolving the client metadata host timed out', { cause: err })
      throw new ClientDocumentError('unresolvable', `client metadata host ${host} does not resolve`, { cause: err })
    }
  }
  if (addresses.length === 0) throw new ClientDocumentError('unresolvable', `client metadata host ${host} has no address`)
  // Every address, not just the first: the socket may try any of them (happy eyeballs).
  if (!allowPrivate && !addresses.every((a) => isPublicAddress(a.address))) {
    throw new ClientDocumentError('private_address', `client metadata host ${host} resolves to a non-public address`)
  }
  return addresses
}

function get(url: URL, host: string, addresses: LookupAddress[], options: DocumentFetcherOptions, signal: AbortSignal): Promise<FetchedDocument> {
  return new Promise<FetchedDocument>((resolvePromise, reject) => {
    const requestOptions: RequestOptions = {
      method: 'GET',
      host,
      port: url.port || 443,
      path: `${url.pathname}${url.search}`,
      headers: { accept: 'application/json', 'user-agent': 'evergreen-client-metadata' },
      // No pooled socket: each fetch connects to an address checked for this fetch.
      agent: false,
      signal,
      ...(options.ca ? { ca: options.ca } : {}),
      // Connect only to the addresses checked above; TLS still verifies the certificate against
      // the host name (SNI and identity come from `host`, not from the address).
      lookup: ((_hostname: string, lookupOptions: { all?: boolean }, callback: (...args: unknown[]) => void) => {
        if (lookupOptions.all) callback(null, addresses)
        else callback(null, addresses[0]!.address, addresses[0]!.family)
      }) as RequestOptions['lookup'],
    }
    const req = request(requestOptions, (res) => {
      const status = res.statusCode ?? 0
      if (status >= 300 && status < 400) {
        res.destroy()
        return reject(new ClientDocumentError('redirect', `client metadata document answered ${status}; redirects are not followed`))
      }
      if (status !== 200) {
        res.destroy()
        return reject(new ClientDocumentError('http_status', `client metadata document answered ${status}`))
      }
      const declared = Number(res.headers['content-length'])
      if (Number.isFinite(declared) && declared > options.maxBytes) {
        res.destroy()
        return reject(new ClientDocumentError('too_large', `client metadata document is larger than ${options.maxBytes} bytes`))
      }
      readBounded(Readable.toWeb(res) as ReadableStream<Uint8Array>, options.maxBytes).then(
        (body) => {
          if (body === undefined) return reject(new ClientDocumentError('too_large', `client metadata document is larger than ${options.maxBytes} bytes`))
          resolvePromise({ body, maxAgeSeconds: maxAge(res.headers['cache-control']) })
        },
        (err: unknown) => reject(failure(err, signal)),
      )
    })
    req.on('error', (err) => reject(failure(err, signal)))
    req.end()
  })
}

function failure(err: unknown, signal: AbortSignal): ClientDocumentError {
  if (err instanceof ClientDocumentError) return err
  if (signal.aborted) return new ClientDocumentError('timeout', 'fetching the client metadata document timed out', { cause: err })
  return new ClientDocumentError('network', 'fetching the client metadata document failed', { cause: err })
}

/** RFC 9111 §5.2.2.1 `max-age`; `no-store` and `no-cache` mean "do not reuse" (0). */
function maxAge(header: string | undefined): number | undefined {
  if (header === undefined) return undefined
  const directives = header.toLowerCase().split(',').map((d) => d.trim())
  if (directives.some((d) => d === 'no-store' || d === 'no-cache')) return 0
  const m = directives.map((d) => /^max-age="?(\d{1,10})"?$/.exec(d)).find(Boolean)
  return m ? Number(m[1]) : undefined
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolvePromise, reject) => {
    const onAbort = () => reject(signal.reason)
    if (signal.aborted) return onAbort()
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort)
        resolvePromise(v)
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(e)
      },
    )
  })
}

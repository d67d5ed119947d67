import type { IncomingMessage, ServerResponse } from 'node:http'
import { performance } from 'node:perf_hooks'
import { requesterFrom } from '../http/requester.js'
import { corsHeadersFor } from '../endpoints/cors-endpoints.js'
import { tokenHandler } from '../endpoints/token.js'
import { checkFormType, decodeBody, parseForm, tooLarge } from '../http/form.js'
import { oauthReply, type OAuthSource, type RequestHead } from '../http/oauth-endpoint.js'
import { createRequestRecorder } from '../observability/request-log.js'
import type { Service } from './bootstrap.js'

const ROUTE = '/oauth/token'
/** What is read and discarded of a body the answer did not need, before the socket is closed. */
const MAX_DRAIN_BYTES = 64 * 1024

/**
 * `POST /oauth/token` straight on `node:http`, beside the Hono app: the same steps in the same
 * order (oauthReply: rate limit, form within the body limit, client; tokenHandler: grant
 * dispatch, client authentication, the grant), the same replies, headers, metrics and log line,
 * without building a Web `Request`, its `AbortSignal` and body stream, or a `Response` that
 * @hono/node-server would take apart again. That adaptation was about a quarter of the server's
 * CPU per refresh (bench/RESULTS.md). Every other route, and any other method or URL on this
 * path (405, a query string), goes to Hono.
 *
 * Returns the request listener's first step: true when it took the request.
 */
export function createTokenRoute(service: Pick<Service, 'deps' | 'oauthLimit'>): (incoming: IncomingMessage, outgoing: ServerResponse) => boolean {
  const { deps, oauthLimit } = service
  const handle = tokenHandler(deps)
  const recordRequest = createRequestRecorder(deps)
  // The same CORS headers the Hono route adds (endpoints/cors-endpoints.ts); preflights (OPTIONS)
  // go to Hono like every other method here.
  const fixedHeaders = { ...Object.fromEntries(corsHeadersFor(ROUTE) ?? []), 'x-content-type-options': 'nosniff' }
  return function tokenRoute(incoming, outgoing) {
    if (incoming.url !== ROUTE || incoming.method !== 'POST') return false
    const started = performance.now()
    const source: OAuthSource = {
      req: new IncomingHead(incoming),
      requester: requesterFrom(incoming.socket.remoteAddress ?? null, incoming.headers['user-agent'], forwardedFor(incoming), deps.settings),
      readForm: (maxBytes) => readFormBody(incoming, maxBytes),
    }
    void oauthReply(deps, oauthLimit, source, handle).then((reply) => {
      const body = Buffer.from(reply.body)
      outgoing.writeHead(reply.status, { ...reply.headers, ...fixedHeaders, 'content-length': body.byteLength })
      outgoing.end(body)
      if (!incoming.complete) drain(incoming)
      recordRequest(ROUTE, 'POST', ROUTE, reply.status, (performance.now() - started) / 1000)
    }).catch((err: unknown) => {
      // oauthReply turns every failure into a reply; this is a failure to write one.
      deps.logger.error({ err }, 'unexpected error')
      outgoing.destroy()
    })
    return true
  }
}

/** `X-Forwarded-For` with Web semantics (repeats joined), as Hono's `c.req.header()` gives it. */
function forwardedFor(incoming: IncomingMessage): string | undefined {
  const value = incoming.headers['x-forwarded-for']
  return value === undefined ? undefined : Array.isArray(value) ? value.join(', ') : value
}

/**
 * The request line and headers as a {@link RequestHead}. `headers.get` reads the raw header list,
 * so a repeated field is joined with ", " as a Web `Headers` joins it (Node's `headers` object
 * keeps only the first Authorization, say, where Hono's `Request` would see both).
 */
class IncomingHead implements RequestHead {
  readonly method = 'POST'
  readonly headers: { get(name: string): string | null }
  constructor(private readonly incoming: IncomingMessage) {
    const raw = incoming.rawHeaders
    this.headers = {
      get(name) {
        const wanted = name.toLowerCase()
        let value: string | null = null
        for (let i = 0; i < raw.length; i += 2) {
          const n = raw[i]!
          if (n.length === wanted.length && n.toLowerCase() === wanted) value = value === null ? raw[i + 1]! : `${value}, ${raw[i + 1]!}`
        }
        return value
      },
    }
  }

  get url(): string {
    const scheme = (this.incoming.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http'
    return new URL(`${scheme}://${this.incoming.headers.host ?? 'localhost'}${this.incoming.url ?? '/'}`).href
  }
}

/** {@link readForm}'s checks, in its order, on a Node request body. */
async function readFormBody(incoming: IncomingMessage, maxBytes: number): Promise<Map<string, string>> {
  checkFormType(incoming.headers['content-type'])
  if (Number(incoming.headers['content-length'] ?? '0') > maxBytes) throw tooLarge(maxBytes)
  const bytes = await readBody(incoming, maxBytes)
  if (bytes === undefined) throw tooLarge(maxBytes)
  return parseForm(decodeBody(bytes))
}

/** The body, counted as it arrives (a declared length can lie); undefined once over `maxBytes`. */
function readBody(incoming: IncomingMessage, maxBytes: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const done = (value: Buffer | undefined, err?: unknown) => {
      incoming.off('data', onData)
      incoming.off('end', onEnd)
      incoming.off('error', onError)
      incoming.off('aborted', onAborted)
      if (err !== undefined) reject(err)
      else resolve(value)
    }
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength
      if (size > maxBytes) {
        incoming.pause()
        done(undefined)
        return
      }
      chunks.push(chunk)
    }
    const onEnd = () => done(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size))
    const onError = (err: Error) => done(undefined, err)
    const onAborted = () => done(undefined, new Error('request aborted'))
    incoming.on('data', onData)
    incoming.on('end', onEnd)
    incoming.on('error', onError)
    incoming.on('aborted', onAborted)
  })
}

/**
 * A body the answer did not read (a refused content type, a 413): read and discard a little so a
 * keep-alive client's next request parses, then give up on the connection, as @hono/node-server
 * does for the routes it serves.
 */
function drain(incoming: IncomingMessage): void {
  let read = 0
  const onData = (chunk: Buffer) => {
    read += chunk.byteLength
    if (read > MAX_DRAIN_BYTES) {
      incoming.off('data', onData)
      incoming.socket.destroySoon()
    }
  }
  incoming.on('data', onData)
  incoming.resume()
}

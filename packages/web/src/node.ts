import type { IncomingMessage, ServerResponse } from 'node:http'
import type { TLSSocket } from 'node:tls'
import { createEvergreenWeb, type AuthResult, type EvergreenWeb, type WebSession } from './web.js'
import type { EvergreenWebOptions } from './config.js'

/** Largest body read for the auth routes' forms (logout, back-channel logout). */
const MAX_BODY = 16 * 1024

/**
 * Turns a Node request into a Web `Request` for the core. The origin comes from `baseUrl` when
 * configured, else from the socket (TLS or not) and the Host header. The body is read only for
 * POSTs to the auth routes — the app's own routes keep their stream — and taken from `req.body`
 * when a body parser (Express `urlencoded()`) already consumed it.
 *
 * @example const request = await toWebRequest(req, web)
 */
export async function toWebRequest(req: IncomingMessage & { originalUrl?: string; body?: unknown }, web: EvergreenWeb): Promise<Request> {
  const base = web.config.baseUrl?.origin ?? `${(req.socket as TLSSocket).encrypted ? 'https' : 'http'}://${req.headers.host ?? 'localhost'}`
  const path = req.originalUrl ?? req.url ?? '/'
  const url = URL.canParse(path, base) ? new URL(path, base) : new URL('/', base)
  const headers = new Headers()
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || name.startsWith(':')) continue
    if (Array.isArray(value)) for (const v of value) headers.append(name, v)
    else headers.set(name, value)
  }
  const method = req.method ?? 'GET'
  let body: string | undefined
  const m = web.config.mountPath
  if (method === 'POST' && (url.pathname === m || url.pathname.startsWith(`${m}/`))) {
    if (req.body !== undefined && typeof req.body === 'object' && req.body !== null) {
      body = new URLSearchParams(req.body as Record<string, string>).toString()
    } else if (typeof req.body === 'string') body = req.body
    else if (!req.readableEnded) body = await readBody(req)
    headers.delete('content-length')
  }
  return new Request(url, { method, headers, ...(body !== undefined ? { body } : {}) })
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    // Too large for a logout form: stop reading; the core then sees an empty form and refuses.
    if (size > MAX_BODY) return ''
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** Appends Set-Cookie lines to a Node response before anything is written. */
export function appendCookies(res: ServerResponse, lines: readonly string[]): void {
  for (const line of lines) res.appendHeader('set-cookie', line)
}

/**
 * Writes a Web `Response` to a Node response: status, every header (each Set-Cookie on its own
 * line), and the body streamed.
 */
export async function sendWebResponse(res: ServerResponse, response: Response): Promise<void> {
  res.statusCode = response.status
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') res.setHeader(name, value)
  })
  appendCookies(res, response.headers.getSetCookie())
  if (!response.body) {
    res.end()
    return
  }
  const reader = response.body.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    res.write(value)
  }
  res.end()
}

/** What a `node:http` handler wrapped by {@link evergreenNode} receives besides req and res. */
export interface NodeAuth {
  /** The signed-in person, or null. */
  session: WebSession | null
  /** The core's decision, for {@link NodeAuth.requireSession}. */
  result: Exclude<AuthResult, { type: 'response' }>
  /** Sends the login-required answer (401/503 JSON or a redirect/retry page) and returns true when there is no session. */
  requireSession(): Promise<boolean>
}

/**
 * A `node:http` request listener around your handler: auth routes are answered, session cookies
 * (rotated or deleted) are set on `res` before your handler runs, and your handler gets the
 * session.
 *
 * @example
 * http.createServer(evergreenNode(options, async (req, res, auth) => {
 *   if (req.url === '/api/me') {
 *     if (await auth.requireSession()) return
 *     res.setHeader('content-type', 'application/json').end(JSON.stringify({ sub: auth.session!.sub }))
 *   } else res.end('hello')
 * })).listen(3000)
 */
export function evergreenNode(
  webOrOptions: EvergreenWeb | EvergreenWebOptions,
  handler: (req: IncomingMessage, res: ServerResponse, auth: NodeAuth) => void | Promise<void>,
): (req: IncomingMessage, res: ServerResponse) => void {
  const web = 'handle' in webOrOptions ? webOrOptions : createEvergreenWeb(webOrOptions)
  return function evergreenListener(req, res) {
    void (async () => {
      const request = await toWebRequest(req, web)
      const result = await web.handle(request)
      if (result.type === 'response') return sendWebResponse(res, result.response)
      appendCookies(res, result.headers.getSetCookie())
      const auth: NodeAuth = {
        session: result.type === 'session' ? result.session : null,
        result,
        async requireSession() {
          if (result.type === 'session') return false
          // The cookies are already on `res`; the answer must not repeat them.
          await sendWebResponse(res, web.loginRequired(request, { ...result, headers: new Headers() }))
          return true
        },
      }
      await handler(req, res, auth)
    })().catch((err: unknown) => {
      if (!res.headersSent) {
        res.statusCode = 500
        res.end()
      }
      res.emit('error', err)
    })
  }
}

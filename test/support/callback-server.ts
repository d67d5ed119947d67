import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface CallbackServer {
  /** The redirect URI to register, e.g. `http://127.0.0.1:41235/callback`. */
  redirectUri: string
  /** Query strings of every request to the callback path, in arrival order. */
  received: URLSearchParams[]
  /** Resolves with the next callback's query (or the one already received and not yet taken). */
  next(timeoutMs?: number): Promise<URLSearchParams>
  stop(): Promise<void>
}

/**
 * A real loopback HTTP server standing in for a native app's redirect URI (RFC 8252 §7.3): it
 * records the query it is redirected to and shows a small page, as such an app would.
 */
export async function startCallbackServer(path = '/callback'): Promise<CallbackServer> {
  const received: URLSearchParams[] = []
  let taken = 0
  const waiters: ((q: URLSearchParams) => void)[] = []
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    if (url.pathname === '/favicon.ico') {
      // Chromium asks every origin for one; a 404 would be logged as a console error.
      res.writeHead(204).end()
      return
    }
    if (url.pathname !== path) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found')
      return
    }
    received.push(url.searchParams)
    const waiter = waiters.shift()
    if (waiter) {
      taken++
      waiter(url.searchParams)
    }
    const outcome = url.searchParams.has('code') ? 'You are signed in. You can close this window.' : 'Sign-in did not complete.'
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
    res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test client</title></head><body><h1>Test client</h1><p>${outcome}</p></body></html>`)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const { port } = server.address() as AddressInfo
  return {
    redirectUri: `http://127.0.0.1:${port}${path}`,
    received,
    next(timeoutMs = 15_000) {
      if (taken < received.length) return Promise.resolve(received[taken++]!)
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no request to ${path} within ${timeoutMs} ms`)), timeoutMs)
        waiters.push((q) => {
          clearTimeout(timer)
          resolve(q)
        })
      })
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

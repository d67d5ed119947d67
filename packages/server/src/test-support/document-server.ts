import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:https'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A self-signed certificate for `localhost`, `docs.test`, 127.0.0.1 and ::1, made by the real openssl. */
export interface TestCertificate {
  key: string
  cert: string
}

let made: TestCertificate | undefined

/** One certificate per test process (openssl takes a moment), valid for the hosts tests use. */
export function testCertificate(): TestCertificate {
  if (made) return made
  const dir = mkdtempSync(join(tmpdir(), 'evergreen-tls-'))
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,DNS:docs.test,IP:127.0.0.1,IP:::1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' })
    made = { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') }
    return made
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export type Route = (req: IncomingMessage, res: ServerResponse) => void

/** A real HTTPS server on 127.0.0.1 serving client metadata documents (or misbehaving) per path. */
export interface DocumentServer {
  /** `https://localhost:<port>` */
  origin: string
  port: number
  /** The CA to trust: the server's own self-signed certificate. */
  ca: string
  routes: Map<string, Route>
  /** Requests seen, by path. */
  hits: Map<string, number>
  /** Serves `doc` as JSON at `path`, with optional headers. */
  json(path: string, doc: unknown, headers?: Record<string, string>): void
  close(): Promise<void>
}

export async function startDocumentServer(): Promise<DocumentServer> {
  const { key, cert } = testCertificate()
  const routes = new Map<string, Route>()
  const hits = new Map<string, number>()
  const server: Server = createServer({ key, cert }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!
    hits.set(path, (hits.get(path) ?? 0) + 1)
    const route = routes.get(path)
    if (!route) {
      res.writeHead(404).end()
      return
    }
    route(req, res)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    origin: `https://localhost:${port}`,
    port,
    ca: cert,
    routes,
    hits,
    json(path, doc, headers = {}) {
      routes.set(path, (_req, res) => {
        const body = JSON.stringify(doc)
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers }).end(body)
      })
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

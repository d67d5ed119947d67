import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWTPayload, type ProtectedHeaderParameters } from 'jose'

export interface ReceivedLogout {
  /** The `logout_token` form parameter. */
  token: string
  contentType: string | undefined
  /** Wall-clock ms when it arrived (Date.now()), for promptness checks. */
  at: number
}

export interface LogoutReceiver {
  /** The back-channel logout URI to register, e.g. `http://127.0.0.1:41235/backchannel`. */
  uri: string
  received: ReceivedLogout[]
  /** Every request, failed ones included. */
  requests: number
  /** Status the next requests get; each entry is used once, then 200. */
  failWith: number[]
  /** Resolves with the next logout token (or one already received and not yet taken). */
  next(timeoutMs?: number): Promise<ReceivedLogout>
  stop(): Promise<void>
}

/**
 * A real loopback HTTP server standing in for a client's back-channel logout endpoint (OIDC
 * Back-Channel Logout §2.5): it records each `logout_token` and answers 200, or the statuses
 * queued in `failWith` first.
 */
export async function startLogoutReceiver(options: { port?: number; path?: string } = {}): Promise<LogoutReceiver> {
  const path = options.path ?? '/backchannel'
  let taken = 0
  const waiters: ((r: ReceivedLogout) => void)[] = []
  const receiver: Omit<LogoutReceiver, 'uri' | 'next' | 'stop'> = { received: [], requests: 0, failWith: [] }
  const server: Server = createServer((req, res) => {
    receiver.requests++
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const status = receiver.failWith.shift()
      if (status !== undefined) {
        res.writeHead(status, status >= 300 && status < 400 ? { location: '/elsewhere' } : {}).end()
        return
      }
      const url = new URL(req.url ?? '/', 'http://127.0.0.1')
      const token = new URLSearchParams(Buffer.concat(chunks).toString('utf8')).get('logout_token')
      if (req.method !== 'POST' || url.pathname !== path || !token) {
        res.writeHead(400).end()
        return
      }
      const entry = { token, contentType: req.headers['content-type'], at: Date.now() }
      receiver.received.push(entry)
      const waiter = waiters.shift()
      if (waiter) {
        taken++
        waiter(entry)
      }
      res.writeHead(200, { 'cache-control': 'no-store' }).end()
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve())
  })
  const { port } = server.address() as AddressInfo
  return Object.assign(receiver, {
    uri: `http://127.0.0.1:${port}${path}`,
    next(timeoutMs = 10_000) {
      if (taken < receiver.received.length) return Promise.resolve(receiver.received[taken++]!)
      return new Promise<ReceivedLogout>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no logout token within ${timeoutMs} ms`)), timeoutMs)
        waiters.push((r) => {
          clearTimeout(timer)
          resolve(r)
        })
      })
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  })
}

/**
 * Verifies a logout token as a client must (§2.6) against the service's JWKS, and checks every
 * claim: typ, kid, iss, aud, iat/exp (120 s), jti, sub, sid, the event, and no nonce.
 */
export async function verifyLogoutToken(
  token: string,
  jwks: JSONWebKeySet,
  expected: { issuer: string; clientId: string; sub: string | null; sid: string; iat?: number },
): Promise<{ payload: JWTPayload; protectedHeader: ProtectedHeaderParameters }> {
  const result = await jwtVerify(token, createLocalJWKSet(jwks), {
    issuer: expected.issuer,
    audience: expected.clientId,
    typ: 'logout+jwt',
    algorithms: ['ES256', 'RS256'],
    ...(expected.iat !== undefined ? { currentDate: new Date(expected.iat * 1000) } : {}),
  })
  const { payload, protectedHeader } = result
  if (!protectedHeader.kid || !jwks.keys.some((k) => k.kid === protectedHeader.kid)) throw new Error('kid is not in the JWKS')
  const problems: string[] = []
  if (payload.aud !== expected.clientId) problems.push(`aud ${String(payload.aud)}`)
  if (typeof payload.iat !== 'number' || payload.exp !== payload.iat + 120) problems.push('exp is not iat + 120')
  if (expected.iat !== undefined && payload.iat !== expected.iat) problems.push(`iat ${payload.iat}`)
  if (typeof payload.jti !== 'string' || payload.jti.length < 8) problems.push('jti')
  if (expected.sub === null ? 'sub' in payload : payload.sub !== expected.sub) problems.push(`sub ${String(payload.sub)}`)
  if (payload.sid !== expected.sid) problems.push(`sid ${String(payload.sid)}`)
  if (JSON.stringify(payload.events) !== JSON.stringify({ 'http://schemas.openid.net/event/backchannel-logout': {} })) problems.push('events')
  if ('nonce' in payload) problems.push('nonce present')
  if (problems.length) throw new Error(`logout token claims wrong: ${problems.join(', ')}`)
  return result
}

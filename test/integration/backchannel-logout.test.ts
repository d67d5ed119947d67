import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { JSONWebKeySet } from 'jose'
import { afterEach, describe, expect, test } from 'vitest'
import { SqliteStore } from '../../packages/server/src/store/sqlite.js'
import { PageClient } from '../../packages/server/src/test-support/browser-client.js'
import { startLogoutReceiver, verifyLogoutToken, type LogoutReceiver } from '../../packages/server/src/test-support/logout-receiver.js'
import { admin, freePort, mintSession, startServerProcess, type ServerProcess } from '../support/server-process.js'

// Back-channel logout from a real `evergreen serve` child process to a real loopback receiver,
// the logout token checked with jose against the JWKS the child serves. Real clocks here: the
// in-process suite (packages/server/src/logout) covers every revocation path with a hand-moved one.

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!()
})

async function serve(options: Parameters<typeof startServerProcess>[0] = {}): Promise<ServerProcess> {
  const server = await startServerProcess(options)
  cleanups.push(() => server.stop())
  return server
}

async function receiver(port?: number): Promise<LogoutReceiver> {
  const r = await startLogoutReceiver(port === undefined ? {} : { port })
  cleanups.push(() => r.stop())
  return r
}

async function fixture(server: ServerProcess, backchannelUri: string) {
  const email = `bc-${Math.random().toString(36).slice(2)}@example.test`
  const password = 'correct horse battery staple'
  const user = await admin<{ id: string }>(server, 'POST', '/users', { email, password })
  const client = await admin<{ client_id: string }>(server, 'POST', '/clients', {
    name: 'Dashboard',
    grant_types: ['refresh_token'],
    token_endpoint_auth_method: 'none',
    backchannel_logout_uri: backchannelUri,
  })
  return { userId: user.id, email, password, clientId: client.client_id }
}

const jwksOf = async (server: ServerProcess) => (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet

describe('evergreen serve sends back-channel logouts', () => {
  test('revoke on /settings/sessions: the client holds a verified logout token for the sid within a second', async () => {
    const server = await serve()
    const rx = await receiver()
    const f = await fixture(server, rx.uri)
    const session = await mintSession(server, f.userId, f.clientId)
    const browser = PageClient.overHttp(server.url)
    expect((await browser.login(f.email, f.password)).status).toBe(303)
    await browser.get('/settings/sessions')

    const started = Date.now()
    expect((await browser.post('/settings/sessions/revoke', { session_id: session.session_id })).status).toBe(303)
    const got = await rx.next(1000)
    expect(got.at - started).toBeLessThan(1000)
    const { payload, protectedHeader } = await verifyLogoutToken(got.token, await jwksOf(server), {
      issuer: server.url, clientId: f.clientId, sub: f.userId, sid: session.session_id,
    })
    expect(protectedHeader).toMatchObject({ typ: 'logout+jwt', kid: expect.any(String) })
    expect(Math.abs((payload.iat as number) - Date.now() / 1000)).toBeLessThan(5)
    expect(got.contentType).toBe('application/x-www-form-urlencoded')
    // The access token's sid is the one the logout token names.
    const sid = JSON.parse(Buffer.from(session.access_token.split('.')[1]!, 'base64url').toString()).sid
    expect(payload.sid).toBe(sid)
  })

  test('a receiver that fails twice gets the token on the third try, with real backoff', async () => {
    const server = await serve()
    const rx = await receiver()
    rx.failWith.push(500, 502)
    const f = await fixture(server, rx.uri)
    const session = await mintSession(server, f.userId, f.clientId)
    await admin(server, 'DELETE', `/sessions/${session.session_id}`)
    const got = await rx.next(15_000)
    expect(rx.requests).toBe(3)
    await verifyLogoutToken(got.token, await jwksOf(server), { issuer: server.url, clientId: f.clientId, sub: f.userId, sid: session.session_id })
    const audit = await admin<{ items: { data: { attempts: number } }[] }>(server, 'GET', `/audit?session=${session.session_id}&type=backchannel_logout.delivered`)
    expect(audit.items).toMatchObject([{ data: { attempts: 3 } }])
  })

  test('the queue survives a crash: killed before delivery, the next process delivers it', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'evergreen-bc-restart-'))
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }))
    // Nothing listens on this port yet, so the first process can only fail to deliver.
    const port = await freePort()
    const first = await serve({ dataDir })
    const f = await fixture(first, `http://127.0.0.1:${port}/backchannel`)
    const session = await mintSession(first, f.userId, f.clientId)
    await admin(first, 'DELETE', `/sessions/${session.session_id}`)
    // Let its first attempt fail (connection refused) and the row go back to waiting, then crash it.
    await new Promise((r) => setTimeout(r, 300))
    first.child.kill('SIGKILL')
    await new Promise<void>((r) => (first.child.exitCode !== null || first.child.signalCode !== null ? r() : first.child.once('exit', () => r())))

    const db = new SqliteStore(join(dataDir, 'evergreen.db'))
    await db.migrate()
    const pending = await db.listBackchannelLogouts()
    await db.close()
    expect(pending).toMatchObject([{ session_id: session.session_id, user_id: f.userId, client_id: f.clientId }])

    const rx = await receiver(port)
    const second = await serve({ dataDir })
    const got = await rx.next(15_000)
    await verifyLogoutToken(got.token, await jwksOf(second), { issuer: second.url, clientId: f.clientId, sub: f.userId, sid: session.session_id })
  })
})

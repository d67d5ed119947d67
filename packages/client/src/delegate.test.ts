import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { decodeCredential, formatRefreshToken } from '@evergreen/core'
import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest'
import { createSessionClient } from './client.js'
import { delegateSession } from './delegate.js'
import { AuthError, DelegationError } from './errors.js'
import { createMemoryStore } from './store/memory.js'

// The server side of token exchange is built on another branch; until it is merged this checks
// the exact request against a loopback server that answers a canned RFC 8693 §2.2.1 response.
// The end-to-end test against the real service comes with the merge.

const AGENT_RT = formatRefreshToken(new Uint8Array(32).fill(7))
let server: Server
let issuer: string
let seen: { body: URLSearchParams; headers: IncomingMessage['headers'] }[] = []
let answer: { status: number; body: unknown } = { status: 200, body: {} }

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      res.setHeader('content-type', 'application/json')
      if (req.method === 'GET' && req.url === '/.well-known/openid-configuration') {
        res.end(JSON.stringify({ issuer, token_endpoint: `${issuer}/oauth/token` }))
        return
      }
      if (req.method === 'POST' && req.url === '/oauth/token') {
        seen.push({ body: new URLSearchParams(Buffer.concat(chunks).toString('utf8')), headers: req.headers })
        res.statusCode = answer.status
        res.end(JSON.stringify(answer.body))
        return
      }
      res.statusCode = 404
      res.end('{}')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => new Promise((resolve) => server.close(resolve)))
beforeEach(() => {
  seen = []
  answer = {
    status: 200,
    body: {
      access_token: 'agent-at',
      token_type: 'Bearer',
      expires_in: 300,
      refresh_token: AGENT_RT,
      refresh_token_expires_in: 7_776_000,
      scope: 'deploy',
      issued_token_type: 'urn:ietf:params:oauth:token-type:refresh_token',
    },
  }
})

const NOW = 1_900_000_000_000

function loggedIn() {
  const store = createMemoryStore([
    [
      { issuer, profile: 'default' },
      {
        version: 1,
        issuer,
        client_id: 'evergreen-cli',
        access_token: 'person-at',
        access_token_expires_at: NOW + 600_000,
        refresh_token: formatRefreshToken(new Uint8Array(32).fill(9)),
        refresh_token_expires_at: NOW + 86_400_000,
        token_type: 'Bearer',
        obtained_at: NOW,
      },
    ],
  ])
  return createSessionClient({ issuer, store, now: () => NOW, env: {} })
}

test('sends an RFC 8693 exchange of the person\'s access token and returns an egc1_ credential', async () => {
  const result = await delegateSession(loggedIn(), {
    scope: 'deploy',
    audience: 'https://api.example',
    resource: ['https://api.example/jobs', 'https://api.example/logs'],
    ttlSeconds: 7_776_000,
    name: 'ci agent',
    now: () => NOW,
  })
  expect(seen).toHaveLength(1)
  const { body, headers } = seen[0]!
  expect(headers['content-type']).toBe('application/x-www-form-urlencoded')
  expect(headers.authorization).toBeUndefined()
  expect(Object.fromEntries(body)).toEqual({
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
    client_id: 'evergreen-cli',
    subject_token: 'person-at',
    subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    requested_token_type: 'urn:ietf:params:oauth:token-type:refresh_token',
    scope: 'deploy',
    audience: 'https://api.example',
    resource: 'https://api.example/logs',
    refresh_token_ttl: '7776000',
    session_name: 'ci agent',
  })
  expect(body.getAll('resource')).toEqual(['https://api.example/jobs', 'https://api.example/logs'])

  expect(result.credential).toMatch(/^egc1_/)
  expect(result).toMatchObject({ issuer, client_id: 'evergreen-cli', scope: 'deploy', expires_at: NOW / 1000 + 7_776_000 })
  const decoded = decodeCredential(result.credential)
  expect(decoded).toEqual({ ok: true, value: { v: 1, iss: issuer, client_id: 'evergreen-cli', refresh_token: AGENT_RT, exp: NOW / 1000 + 7_776_000 } })
})

test('a response without a refresh token, or without issued_token_type, is refused', async () => {
  const { refresh_token: _dropped, ...accessOnly } = answer.body as Record<string, unknown>
  answer.body = { ...accessOnly, issued_token_type: 'urn:ietf:params:oauth:token-type:access_token' }
  await expect(delegateSession(loggedIn())).rejects.toMatchObject({ code: 'PROVIDER_INVALID_RESPONSE' })
  const { issued_token_type: _none, ...untyped } = { ...(accessOnly as object), refresh_token: 'egr_x' } as Record<string, unknown>
  answer.body = untyped
  await expect(delegateSession(loggedIn())).rejects.toMatchObject({ code: 'PROVIDER_INVALID_RESPONSE' })
})

test('the access-token issued_token_type with the refresh token beside it (RFC 8693 §2.2.1) is accepted', async () => {
  answer.body = { ...(answer.body as object), issued_token_type: 'urn:ietf:params:oauth:token-type:access_token' }
  const delegated = await delegateSession(loggedIn())
  expect(delegated.credential).toMatch(/^egc1_/)
})

test.each([
  ['invalid_scope', 'DELEGATION_NOT_ALLOWED'],
  ['invalid_target', 'DELEGATION_NOT_ALLOWED'],
  ['unsupported_grant_type', 'DELEGATION_UNSUPPORTED'],
  ['invalid_request', 'DELEGATION_INVALID_REQUEST'],
])('%s becomes DelegationError %s', async (error, code) => {
  answer = { status: 400, body: { error, error_description: 'no' } }
  const err = await delegateSession(loggedIn()).catch((e: unknown) => e)
  expect(err).toBeInstanceOf(DelegationError)
  expect(err).toMatchObject({ code, error })
})

test('invalid_grant (the person\'s token was refused) is an AuthError', async () => {
  answer = { status: 400, body: { error: 'invalid_grant' } }
  const err = await delegateSession(loggedIn()).catch((e: unknown) => e)
  expect(err).toBeInstanceOf(AuthError)
  expect(err).toMatchObject({ code: 'AUTH_SESSION_EXPIRED' })
})

test('nobody logged in is AUTH_NOT_LOGGED_IN and sends nothing', async () => {
  const client = createSessionClient({ issuer, store: createMemoryStore(), now: () => NOW, env: {} })
  await expect(delegateSession(client)).rejects.toMatchObject({ code: 'AUTH_NOT_LOGGED_IN' })
  expect(seen).toHaveLength(0)
})

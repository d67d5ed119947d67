import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { ClientDocumentError, type ClientDocumentFailure } from '../errors.js'
import { startDocumentServer, type DocumentServer } from '../test-support/document-server.js'
import { isPublicAddress } from './address-policy.js'
import { createDocumentFetcher, type DocumentFetcherOptions } from './document-fetch.js'

// The SSRF defences against a real HTTPS server on loopback: the development setting
// (allowPrivate) lets these tests reach it, and a separate test proves loopback is refused
// without it.

let server: DocumentServer
beforeAll(async () => {
  server = await startDocumentServer()
  server.json('/client.json', { client_id: 'x' }, { 'cache-control': 'public, max-age=120' })
  server.routes.set('/huge-chunked', (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.write('{"pad":"')
    res.write('x'.repeat(8 * 1024))
    res.end('"}')
  })
  server.routes.set('/huge-declared', (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(1_000_000) })
    res.write('{')
    // Never sends the rest: the declared length alone must refuse it.
  })
  server.routes.set('/slow', (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.write('{"client_id":')
    // Never finishes.
  })
  server.routes.set('/silent', () => {
    // Never answers at all.
  })
  server.routes.set('/redirect', (_req, res) => void res.writeHead(302, { location: '/client.json' }).end())
  server.routes.set('/missing', (_req, res) => void res.writeHead(404).end())
})
afterAll(async () => {
  await server?.close()
})

const fetcher = (options: Partial<DocumentFetcherOptions> = {}) =>
  createDocumentFetcher({ allowPrivate: true, allowedHosts: [], maxBytes: 4096, timeoutMs: 2000, ca: server.ca, ...options })

async function refusal(promise: Promise<unknown>): Promise<ClientDocumentFailure> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(ClientDocumentError)
  return (err as ClientDocumentError).reason
}

describe('address policy', () => {
  test.each([
    '127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255',
    '::1', '::', 'fe80::1', 'fc00::1', 'fd12:3456::1', 'ff02::1', '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1',
    '::ffff:169.254.169.254', '64:ff9b::a9fe:a9fe', '2002:7f00:1::1', '2001:db8::1', 'fe80::1%eth0', 'not-an-ip',
  ])('%s is not public', (address) => {
    expect(isPublicAddress(address)).toBe(false)
  })

  test.each(['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111', '::ffff:93.184.216.34', '64:ff9b::808:808'])('%s is public', (address) => {
    expect(isPublicAddress(address)).toBe(true)
  })
})

describe('fetching a client metadata document', () => {
  test('serves a document over https with its Cache-Control max-age', async () => {
    const doc = await fetcher()(`${server.origin}/client.json`)
    expect(JSON.parse(new TextDecoder().decode(doc.body))).toEqual({ client_id: 'x' })
    expect(doc.maxAgeSeconds).toBe(120)
  })

  test('loopback is refused without the development setting, before any request is sent', async () => {
    const before = server.hits.get('/client.json') ?? 0
    expect(await refusal(fetcher({ allowPrivate: false })(`${server.origin}/client.json`))).toBe('private_address')
    expect(await refusal(fetcher({ allowPrivate: false })(`https://127.0.0.1:${server.port}/client.json`))).toBe('private_address')
    expect(await refusal(fetcher({ allowPrivate: false })(`https://[::ffff:127.0.0.1]:${server.port}/client.json`))).toBe('private_address')
    expect(server.hits.get('/client.json') ?? 0).toBe(before)
  })

  test('every address of the host is checked: one private among public ones refuses', async () => {
    const resolve = async () => [{ address: '93.184.216.34', family: 4 }, { address: '10.0.0.7', family: 4 }]
    expect(await refusal(fetcher({ allowPrivate: false, resolve })('https://docs.test/client.json'))).toBe('private_address')
    const mapped = async () => [{ address: '::ffff:192.168.0.1', family: 6 }]
    expect(await refusal(fetcher({ allowPrivate: false, resolve: mapped })('https://docs.test/client.json'))).toBe('private_address')
  })

  test('the connection goes to the address that was checked, not to a second DNS answer', async () => {
    // docs.test exists in no DNS: the socket reaches the server only through the checked answer.
    let lookups = 0
    const resolve = async () => {
      lookups++
      return lookups === 1 ? [{ address: '127.0.0.1', family: 4 }] : [{ address: '10.9.9.9', family: 4 }]
    }
    const doc = await fetcher({ resolve })(`https://docs.test:${server.port}/client.json`)
    expect(doc.body.byteLength).toBeGreaterThan(0)
    expect(lookups).toBe(1)
  })

  test('only https', async () => {
    expect(await refusal(fetcher()(`http://localhost:${server.port}/client.json`))).toBe('not_https')
    expect(await refusal(fetcher()('file:///etc/passwd'))).toBe('not_https')
  })

  test('a host allow-list, when set, admits only its hosts', async () => {
    expect(await refusal(fetcher({ allowedHosts: ['app.example'] })(`${server.origin}/client.json`))).toBe('host_not_allowed')
    expect((await fetcher({ allowedHosts: ['localhost'] })(`${server.origin}/client.json`)).maxAgeSeconds).toBe(120)
  })

  test('an oversized document is refused, declared or not', async () => {
    expect(await refusal(fetcher()(`${server.origin}/huge-chunked`))).toBe('too_large')
    expect(await refusal(fetcher()(`${server.origin}/huge-declared`))).toBe('too_large')
  })

  test('a document that never finishes, or a server that never answers, ends at the time limit', async () => {
    const started = performance.now()
    expect(await refusal(fetcher({ timeoutMs: 250 })(`${server.origin}/slow`))).toBe('timeout')
    expect(await refusal(fetcher({ timeoutMs: 250 })(`${server.origin}/silent`))).toBe('timeout')
    // Bounded by the limit (two fetches of 250 ms), not by the server.
    expect(performance.now() - started).toBeLessThan(5_000)
  })

  test('redirects are not followed, and other statuses are refused', async () => {
    const before = server.hits.get('/client.json') ?? 0
    expect(await refusal(fetcher()(`${server.origin}/redirect`))).toBe('redirect')
    expect(server.hits.get('/client.json') ?? 0).toBe(before)
    expect(await refusal(fetcher()(`${server.origin}/missing`))).toBe('http_status')
  })

  test('a certificate that does not verify is a network failure', async () => {
    expect(await refusal(fetcher({ ca: undefined })(`${server.origin}/client.json`))).toBe('network')
  })
})

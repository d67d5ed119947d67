import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, expect, test } from 'vitest'
import { killAllChildren, runCli, startServe } from '../test-support/cli-process.js'

// `evergreen serve` as a real child process: what an operator sees on first and later starts,
// how bad settings are reported, and a clean SIGTERM.

const SERVE_ARGS = ['--port', '0', '--rate-limit-token', '0']
const ADMIN_KEY_LINES = /admin key \(shown once, also saved to (.+)\):\n\s+(\S+)\n/
const tmpDirs: string[] = []

function tmp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'evergreen-serve-'))
  tmpDirs.push(dir)
  return dir
}

afterEach(async () => {
  await killAllChildren()
})

afterAll(() => {
  for (const dir of tmpDirs) rmSync(dir, { recursive: true, force: true })
})

test('the first start prints the admin key and saves it 0600; a second start does not print it', async () => {
  const dataDir = tmp()
  const first = await startServe([...SERVE_ARGS, '--data-dir', dataDir])
  const [, savedTo, key] = await first.waitForStderr(ADMIN_KEY_LINES)
  expect(savedTo).toBe(`${dataDir}/admin-key`)
  const file = join(dataDir, 'admin-key')
  expect(statSync(file).mode & 0o777).toBe(0o600)
  expect(readFileSync(file, 'utf8').trim()).toBe(key)
  expect(await first.stop()).toEqual({ code: 0, signal: null })

  const second = await startServe([...SERVE_ARGS, '--data-dir', dataDir])
  // The key line would follow the "listening" and "issuer" lines; wait for the full run to be sure.
  expect(await second.stop()).toEqual({ code: 0, signal: null })
  expect(second.stderr()).toContain('listening on http://127.0.0.1:')
  expect(second.stderr()).not.toMatch(/admin key/)
  expect(second.stderr()).not.toContain(key!)
  expect(readFileSync(file, 'utf8').trim()).toBe(key)

  // The saved key still opens the admin API of the restarted service.
  const third = await startServe([...SERVE_ARGS, '--data-dir', dataDir])
  const r = await runCli(['admin', 'keys', 'list', '--json', '--url', third.url, '--data-dir', dataDir])
  expect(r.code).toBe(0)
  expect(JSON.parse(r.stdout)).toMatchObject({ items: [expect.objectContaining({ status: 'active' })] })
  await third.stop()
})

test('EVERGREEN_ADMIN_KEY set: no key is generated or printed', async () => {
  const dataDir = tmp()
  const server = await startServe([...SERVE_ARGS, '--data-dir', dataDir], { EVERGREEN_ADMIN_KEY: 'ega_operator-chosen-key-0123456789' })
  expect(await server.stop()).toEqual({ code: 0, signal: null })
  expect(server.stderr()).not.toMatch(/admin key/)
  expect(() => statSync(join(dataDir, 'admin-key'))).toThrow()
})

test('an invalid setting exits 1 with a message naming the variable', async () => {
  const r = await runCli(['serve', ...SERVE_ARGS, '--data-dir', tmp()], { env: { EVERGREEN_ACCESS_TOKEN_TTL: 'abc' } })
  expect(r.code).toBe(1)
  expect(r.stderr).toContain('EVERGREEN_ACCESS_TOKEN_TTL="abc" must be a whole number')
  expect(r.stderr).not.toContain('listening')
})

test('an invalid flag value names the flag', async () => {
  const r = await runCli(['serve', '--port', 'eighty', '--data-dir', tmp()])
  expect(r.code).toBe(1)
  expect(r.stderr).toContain('--port="eighty"')
})

test('SIGTERM: an in-flight request is answered, then the process exits 0', async () => {
  const dataDir = tmp()
  const adminKey = 'ega_sigterm-test-key-0123456789'
  const server = await startServe([...SERVE_ARGS, '--data-dir', dataDir], { EVERGREEN_ADMIN_KEY: adminKey })
  const { hostname, port } = new URL(server.url)

  // A request whose body is only half sent when SIGTERM arrives: the server must wait for it.
  const body = JSON.stringify({ email: 'late@example.com' })
  const socket = connect(Number(port), hostname)
  socket.setEncoding('utf8')
  let response = ''
  socket.on('data', (chunk: string) => (response += chunk))
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  const half = Math.floor(body.length / 2)
  socket.write(
    `POST /admin/v1/users HTTP/1.1\r\nHost: ${server.url.slice(7)}\r\nAuthorization: Bearer ${adminKey}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body.slice(0, half)}`,
  )

  server.child.kill('SIGTERM')
  await server.waitForStderr(/SIGTERM: finishing in-flight requests/)
  expect(server.child.exitCode).toBeNull()
  socket.end(body.slice(half))
  await closed
  expect(response).toMatch(/^HTTP\/1\.1 201 /)
  expect(response).toContain('"email":"late@example.com"')
  expect(await server.exited).toEqual({ code: 0, signal: null })
})

import { afterAll, beforeAll, expect, test } from 'vitest'
import { killAllChildren, runCli } from '../test-support/cli-process.js'
import { configDir, removeTmpDirs, startSessionServer, type SessionServer } from '../test-support/session-server.js'

// `evergreen delegate` as real CLI children against a real `evergreen serve`. The token-exchange
// grant is built on another branch, so here the service answers unsupported_grant_type and the
// test checks how the CLI words the SDK's DELEGATION_UNSUPPORTED; the SDK's request and the egc1_
// credential are checked in client/src/delegate.test.ts. The success path end to end comes with
// the merge.

let server: SessionServer
const EMAIL = 'grace@example.com'

beforeAll(async () => {
  server = await startSessionServer()
  await server.createUser(EMAIL)
})
afterAll(async () => {
  await killAllChildren()
  removeTmpDirs()
})

test('a refused delegation prints nothing on stdout, says why on stderr and exits 1', async () => {
  const config = configDir()
  const minted = await server.mint(EMAIL, { refresh_token_ttl: 2_592_000 })
  expect((await runCli(['login', '--token', minted.credential], { env: config.env })).code).toBe(0)
  const r = await runCli(['delegate', '--scope', 'openid', '--audience', 'https://api.example', '--ttl', '1d', '--name', 'bot'], { env: config.env })
  expect(r.code).toBe(1)
  expect(r.stdout).toBe('')
  expect(r.stderr).toMatch(/does not support delegation/)
  expect(r.stderr).toMatch(/does not support `evergreen delegate`/)
})

test('not logged in exits 4 with the login instruction', async () => {
  const config = configDir()
  const r = await runCli(['delegate', '--scope', 'read', '--issuer', server.issuer], { env: config.env })
  expect(r.code).toBe(4)
  expect(r.stdout).toBe('')
  expect(r.stderr).toMatch(/not logged in/)
})

test('--ttl takes a duration', async () => {
  const r = await runCli(['delegate', '--ttl', 'soon'], { env: configDir().env })
  expect(r.code).not.toBe(0)
  expect(r.stderr).toMatch(/--ttl/)
})

import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createFileStore } from '@evergreen/client/node'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { BIN, killAllChildren, runCli, runFile, type CliResult, type RunOptions } from './test-support/cli-process.js'
import { configDir, removeTmpDirs, startSessionServer, type ConfigDir, type SessionServer } from './test-support/session-server.js'
import { MAIN, MODULE_TRACE, TOKEN_FAST, unbundledBin } from './test-support/unbundled-bin.js'

// A plain `evergreen token` runs from dist/token-fast.js, the build's one-file bundle of it
// (docs/architecture.md "CLI start-up"); everything else, and every run of a build without the
// bundle, from dist/main.js. Both must answer alike: the same stdout, stderr and exit code, run
// by run, through the real bin shim.

let unbundled: string

beforeAll(() => {
  unbundled = unbundledBin()
})
afterAll(async () => {
  await killAllChildren()
  removeTmpDirs()
})

/** `evergreen …args` through the bundle (the real bin) and through main.js (the shim without it). */
async function both(args: string[], options: RunOptions = {}): Promise<{ bundle: CliResult; main: CliResult }> {
  const bundle = await runCli(args, options)
  const main = await runFile(process.execPath, [unbundled, ...args], options)
  return { bundle, main }
}

const ISSUER = 'https://auth.example.test'
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')

/** A config dir whose file store holds a session with an access token valid for a day. */
async function storedSession(): Promise<{ config: ConfigDir; accessToken: string; expiresAt: number }> {
  const config = configDir()
  const now = Date.now()
  const expiresAt = now + 86_400_000
  const accessToken = `${b64({ alg: 'ES256', typ: 'at+jwt' })}.${b64({ iss: ISSUER, sub: 'usr_test', exp: Math.floor(expiresAt / 1000) })}.c2ln`
  await createFileStore({ dir: config.dir }).write({ issuer: ISSUER, profile: 'default' }, {
    version: 1,
    issuer: ISSUER,
    client_id: 'evergreen-cli',
    access_token: accessToken,
    access_token_expires_at: expiresAt,
    refresh_token: `egr_${'x'.repeat(43)}`,
    token_type: 'Bearer',
    obtained_at: now,
  })
  return { config, accessToken, expiresAt }
}

describe('the bundle and main.js answer alike', () => {
  test('a valid stored token: printed alone on stdout, plain and with each flag spelled plainly', async () => {
    const { config, accessToken } = await storedSession()
    for (const args of [['token'], ['token', '--issuer', ISSUER], [`token`, `--issuer=${ISSUER}`, '--profile', 'default']]) {
      const { bundle, main } = await both(args, { env: config.env })
      expect(bundle, args.join(' ')).toEqual({ code: 0, signal: null, stdout: `${accessToken}\n`, stderr: '' })
      expect(main, args.join(' ')).toEqual(bundle)
    }
  })

  test('--json, from the store and from EVERGREEN_TOKEN (the lazily loaded helpers)', async () => {
    const { config, accessToken, expiresAt } = await storedSession()
    const { bundle, main } = await both(['token', '--json'], { env: config.env })
    expect(bundle.code, bundle.stderr).toBe(0)
    expect(JSON.parse(bundle.stdout)).toEqual({
      access_token: accessToken,
      token_type: 'Bearer',
      expires_at: new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      issuer: ISSUER,
      source: 'store',
    })
    expect(main).toEqual(bundle)

    const env = await both(['token', '--json'], { env: { ...config.env, EVERGREEN_TOKEN: accessToken } })
    expect(JSON.parse(env.bundle.stdout)).toMatchObject({ access_token: accessToken, issuer: ISSUER, source: 'env' })
    expect(env.main).toEqual(env.bundle)
  })

  test('no session, another profile, a damaged file, a bad EVERGREEN_STORE: the same message and exit code', async () => {
    const nothing = await both(['token'], { env: configDir().env })
    expect(nothing.bundle).toMatchObject({ code: 4, stdout: '', stderr: 'error: not logged in\nrun `evergreen login --issuer <url>` to log in\n' })
    expect(nothing.main).toEqual(nothing.bundle)

    const { config } = await storedSession()
    const other = await both(['token', '--profile', 'work'], { env: config.env })
    expect(other.bundle).toMatchObject({ code: 4, stdout: '', stderr: 'error: not logged in (profile work)\nrun `evergreen login --profile work --issuer <url>` to log in\n' })
    expect(other.main).toEqual(other.bundle)

    const badStore = await both(['token'], { env: { ...config.env, EVERGREEN_STORE: 'floppy' } })
    expect(badStore.bundle).toMatchObject({ code: 1, stdout: '', stderr: 'error: EVERGREEN_STORE must be file, keyring or memory, not "floppy"\n' })
    expect(badStore.main).toEqual(badStore.bundle)

    writeFileSync(config.files()[0]!, '{ "version": 1, "issuer": ')
    const damaged = await both(['token'], { env: config.env })
    expect(damaged.bundle.code).toBe(1)
    expect(damaged.bundle.stderr).toContain('is damaged and cannot be read')
    expect(damaged.main).toEqual(damaged.bundle)
  })

  test('not a plain token (help, an unknown option, a repeat): both go to commander', async () => {
    const help = await both(['token', '--help'])
    expect(help.bundle).toMatchObject({ code: 0, stdout: '' })
    expect(help.bundle.stderr).toContain('Usage: evergreen token [options]')
    expect(help.main).toEqual(help.bundle)

    for (const args of [['token', '--bogus'], ['token', '--json', '--json', '--profile']]) {
      const r = await both(args, { env: configDir().env })
      expect(r.bundle.code, args.join(' ')).toBe(1)
      expect(r.bundle.stderr, args.join(' ')).toMatch(/^error: /)
      expect(r.main, args.join(' ')).toEqual(r.bundle)
    }
  })
})

describe('against a real token service', () => {
  let server: SessionServer
  const EMAIL = 'ada@example.com'

  beforeAll(async () => {
    server = await startSessionServer()
    await server.createUser(EMAIL)
  })

  async function loggedIn(): Promise<{ config: ConfigDir; sessionId: string }> {
    const config = configDir()
    const minted = await server.mint(EMAIL)
    const r = await runCli(['login', '--token', minted.credential], { env: config.env })
    expect(r.code, r.stderr).toBe(0)
    return { config, sessionId: minted.session_id }
  }

  test('an expired access token: each path renews it once, prints the new token and stores it', async () => {
    const { config } = await loggedIn()
    for (const run of [(env: Record<string, string>) => runCli(['token'], { env }), (env: Record<string, string>) => runFile(process.execPath, [unbundled, 'token'], { env })]) {
      config.expireAccessToken()
      const before = config.read()
      const r = await run(config.env)
      expect(r).toMatchObject({ code: 0, stderr: '' })
      const after = config.read()
      expect(r.stdout).toBe(`${after.access_token}\n`)
      expect(after.access_token).not.toBe(before.access_token)
      expect(after.refresh_token).not.toBe(before.refresh_token)
    }
  })

  test('a session revoked at the server: the same exit 4 and remedy, and the dead session removed', async () => {
    const [a, b] = [await loggedIn(), await loggedIn()]
    for (const { config, sessionId } of [a, b]) {
      await server.admin('DELETE', `/sessions/${sessionId}`)
      config.expireAccessToken()
    }
    const bundle = await runCli(['token'], { env: a.config.env })
    const main = await runFile(process.execPath, [unbundled, 'token'], { env: b.config.env })
    expect(bundle).toEqual({ code: 4, signal: null, stdout: '', stderr: `error: the session was revoked\nrun \`evergreen login --issuer ${server.issuer}\` to log in again\n` })
    expect(main).toEqual(bundle)
    expect(a.config.files()).toEqual([])
    expect(b.config.files()).toEqual([])
  })
})

test('the comparisons compare two paths: the bundle alone, or main.js and no bundle', async () => {
  const { config, accessToken } = await storedSession()
  const env = { ...config.env, EVERGREEN_MODULE_TRACE: '1' }
  const traced = (bin: string) => runFile(process.execPath, ['--import', MODULE_TRACE, bin, 'token'], { env })
  const [bundle, main] = [await traced(BIN), await traced(unbundled)]
  for (const r of [bundle, main]) expect(r, r.stderr).toMatchObject({ code: 0, stdout: `${accessToken}\n` })
  const files = (r: CliResult) => r.stderr.split('\n').filter((l) => l.startsWith('module file:')).map((l) => fileURLToPath(l.slice('module '.length)))
  expect(files(bundle)).toEqual([BIN, TOKEN_FAST])
  expect(files(main)).toContain(MAIN)
  expect(files(main)).not.toContain(TOKEN_FAST)
})

import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command, CommanderError } from 'commander'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { PageClient } from '../../../server/src/test-support/browser-client.js'
import { createTestService, json, type TestService } from '../../../server/src/test-support/harness.js'
import { CliError } from '../io.js'
import type { SessionDeps } from '../session-deps.js'
import { registerSessionCommands } from './session-commands.js'

// The session commands in process, against the real token service through app.fetch with an
// injected clock: the parts a child process cannot reach — prompts on a terminal, the browser
// opener, Ctrl-C — with every outside dependency replaced.

const ISSUER = 'http://evergreen.test'
const EMAIL = 'ada@example.com'
const PASSWORD = 'correct horse battery'

let svc: TestService
let dir: string
let userId: string

beforeEach(async () => {
  svc = await createTestService()
  userId = (await json<{ id: string }>(await svc.admin('POST', '/users', { email: EMAIL, password: PASSWORD }), 201)).id
  dir = mkdtempSync(join(tmpdir(), 'evergreen-cmds-'))
})
afterEach(async () => {
  await svc.close()
  rmSync(dir, { recursive: true, force: true })
})

interface Run {
  code: number
  out: string
  err: string
}

/**
 * Runs `evergreen …args` in process the way main() does, with `overrides` for the outside world.
 * `live` sees stderr as it is written (a sleep hook reads the code from it before run() returns).
 */
async function run(args: string[], overrides: Partial<Omit<SessionDeps, 'io'>> = {}, live?: Live): Promise<Run> {
  let out = ''
  let err = ''
  const line = (t: string) => (t.endsWith('\n') ? t : `${t}\n`)
  const io = {
    out: (t: string) => void (out += line(t)),
    err: (t: string) => {
      err += line(t)
      live?.write(line(t))
    },
  }
  const program = new Command('evergreen').exitOverride().configureOutput({ writeOut: io.err, writeErr: io.err })
  registerSessionCommands(program, io, {
    env: { EVERGREEN_CONFIG_DIR: dir, EVERGREEN_STORE: 'file' },
    fetch: async (input, init) => svc.app.fetch(new Request(input, init)),
    now: () => svc.clock.now() * 1000,
    sleep: async (ms) => svc.clock.advance(ms / 1000),
    stdinIsTty: () => false,
    stderrIsTty: () => false,
    prompt: () => Promise.reject(new Error('no prompt expected')),
    openBrowser: () => Promise.reject(new Error('no browser expected')),
    onInterrupt: () => () => {},
    ...overrides,
  })
  try {
    await program.parseAsync(['node', 'evergreen', ...args])
    return { code: 0, out, err }
  } catch (e) {
    if (e instanceof CliError) return { code: e.exitCode, out, err: `${err}error: ${e.message}\n` }
    if (e instanceof CommanderError) return { code: 1, out, err }
    throw e
  }
}

/** A sleep that approves (or denies) the code shown on stderr during its `at`-th call. */
function approvingSleep(stderr: () => string, at = 2, decision: 'approve' | 'deny' = 'approve') {
  let calls = 0
  return async (ms: number) => {
    svc.clock.advance(ms / 1000)
    if (++calls !== at) return
    const code = /Enter {4}([A-Z]{4}-[A-Z]{4})/.exec(stderr())![1]!
    const browser = new PageClient(svc)
    await browser.login(EMAIL, PASSWORD)
    await browser.get('/device')
    await browser.post('/device', { user_code: code })
    await browser.post('/device/decision', { user_code: code, decision })
  }
}

interface Live {
  text(): string
  write(t: string): void
}

/** stderr as it is being written, for a sleep that needs the code before run() returns. */
function capture(): Live {
  let text = ''
  return { text: () => text, write: (t) => void (text += t) }
}

const storedFiles = () => {
  try {
    return readdirSync(join(dir, 'sessions')).filter((n) => n.endsWith('.json'))
  } catch {
    return []
  }
}

describe('login: device flow', () => {
  test('opens the browser at the link that carries the code, then logs in', async () => {
    const opened: string[] = []
    const live = capture()
    const r = await run(['login', '--issuer', ISSUER, '--json'], {
      openBrowser: async (url) => {
        opened.push(url)
        return true
      },
      sleep: approvingSleep(live.text),
    }, live)
    expect(r.code, r.err).toBe(0)
    expect(opened).toEqual([expect.stringMatching(new RegExp(`^${ISSUER}/device\\?user_code=[A-Z]{4}-[A-Z]{4}$`))])
    expect(r.err).toContain('Opened the link in your browser.')
    expect(r.err).toContain(`Logged in to ${ISSUER} as ${EMAIL} (${userId}).`)
    expect(JSON.parse(r.out)).toMatchObject({ method: 'device', issuer: ISSUER, account: { sub: userId }, renewable: true })
    expect(storedFiles()).toHaveLength(1)
  })

  test('a browser that cannot be opened does not fail the login; --no-browser does not try', async () => {
    const live = capture()
    const r = await run(['login', '--issuer', ISSUER], { openBrowser: async () => false, sleep: approvingSleep(live.text) }, live)
    expect(r.code, r.err).toBe(0)
    expect(r.err).toContain('Could not open a browser here: open the link on any device.')

    const quiet = capture()
    const noBrowser = await run(['login', '--issuer', ISSUER, '--no-browser'], { sleep: approvingSleep(quiet.text) }, quiet)
    expect(noBrowser.code, noBrowser.err).toBe(0)
    expect(noBrowser.err).not.toMatch(/browser here|Opened the link/)
  })

  test('nobody approves in time: exit 1, the code expired, a new one is one command away', async () => {
    const r = await run(['login', '--issuer', ISSUER, '--no-browser'], { sleep: async () => svc.clock.advance(700) })
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/error: the code [A-Z]{4}-[A-Z]{4} expired before it was approved; start the login again\nrun `evergreen login --issuer http:\/\/evergreen\.test` for a new code\n$/)
    expect(storedFiles()).toEqual([])
  })

  test('Ctrl-C: the interrupt handler aborts the wait; exit 130, and the handler is removed', async () => {
    let handler: (() => void) | undefined
    const r = await run(['login', '--issuer', ISSUER, '--no-browser'], {
      onInterrupt: (h) => {
        handler = h
        return () => void (handler = undefined)
      },
      sleep: (ms, signal) =>
        new Promise((_, reject) => {
          signal?.addEventListener('abort', () => reject(signal.reason))
          handler!()
        }),
    })
    expect(r.code).toBe(130)
    expect(r.err).toContain('error: login cancelled; nothing was stored')
    expect(handler).toBeUndefined()
  })
})

describe('prompts: only with a terminal on stdin and CI unset', () => {
  async function loggedIn(): Promise<void> {
    const minted = await json<{ credential: string }>(await svc.admin('POST', '/tokens', { user: EMAIL, client_id: 'evergreen-cli' }), 201)
    expect((await run(['login', '--token', minted.credential])).code).toBe(0)
  }

  test('already logged in: asks before starting over; "no" keeps the login (exit 2)', async () => {
    await loggedIn()
    const asked: string[] = []
    const r = await run(['login', '--no-browser'], { stdinIsTty: () => true, prompt: async (q) => {
      asked.push(q)
      return 'n'
    } })
    expect(asked).toEqual([`Already logged in to ${ISSUER} as ${userId}. Log in again? [y/N] `])
    expect(r.code).toBe(2)
    expect(r.err).toContain('error: login cancelled; the stored login is unchanged')
    expect(storedFiles()).toHaveLength(1)
  })

  test('with CI set, or no terminal, there is no question: the login just starts', async () => {
    await loggedIn()
    for (const overrides of [{ env: { EVERGREEN_CONFIG_DIR: dir, EVERGREEN_STORE: 'file', CI: 'true' }, stdinIsTty: () => true }, { stdinIsTty: () => false }]) {
      const live = capture()
      const r = await run(['login', '--no-browser'], { ...overrides, sleep: approvingSleep(live.text, 1) }, live)
      expect(r.code, r.err).toBe(0)
    }
  })

  test('no issuer anywhere: asks for it on a terminal', async () => {
    const asked: string[] = []
    const live = capture()
    const r = await run(['login', '--no-browser'], {
      stdinIsTty: () => true,
      prompt: async (q) => {
        asked.push(q)
        return `${ISSUER}/`
      },
      sleep: approvingSleep(live.text, 1),
    }, live)
    expect(r.code, r.err).toBe(0)
    expect(asked).toEqual(['Issuer URL of your Evergreen token service: '])
    expect(r.err).toContain(`To log in to ${ISSUER}:`)
  })

  test('--with-token on a terminal asks for the paste instead of waiting for end of file', async () => {
    const minted = await json<{ credential: string }>(await svc.admin('POST', '/tokens', { user: EMAIL, client_id: 'evergreen-cli' }), 201)
    const asked: string[] = []
    const r = await run(['login', '--with-token'], { stdinIsTty: () => true, prompt: async (q) => {
      asked.push(q)
      return minted.credential
    } })
    expect(r.code, r.err).toBe(0)
    expect(asked).toEqual(['Paste your login credential and press Enter: '])
  })
})

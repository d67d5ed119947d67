import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { assertBuilt, BIN, childEnv, killAllChildren, REPO_ROOT } from '../test-support/cli-process.js'
import { configDir, removeTmpDirs, startSessionServer, type SessionServer } from '../test-support/session-server.js'

// What a person sees: `evergreen login --no-browser` in a real terminal (tmux), the screen read
// back with capture-pane and kept in test-artifacts/terminal/ for review. CI must have tmux
// (.ci/run installs it); a developer without it gets a skip and a warning, not a failure.

const HAS_TMUX = spawnSync('tmux', ['-V'], { stdio: 'ignore' }).status === 0
const IN_CI = Boolean(process.env.CI)
const ARTIFACTS = join(REPO_ROOT, 'test-artifacts', 'terminal')
// One tmux server per test: a server still shutting down after kill-server must not be reused.
let socketNumber = 0
let socket = ''
const EMAIL = 'margaret@example.com'

if (!HAS_TMUX && !IN_CI) console.warn('login-terminal.test.ts: tmux is not installed; skipping the terminal tests (apt-get install tmux)')

let server: SessionServer

function tmux(...args: string[]): string {
  // Its own server even when the tests themselves run inside tmux.
  const env = childEnv({ TERM: 'xterm-256color' })
  delete env.TMUX
  const r = spawnSync('tmux', ['-L', socket, '-f', '/dev/null', ...args], { encoding: 'utf8', env })
  if (r.status !== 0) throw new Error(`tmux ${args.join(' ')} failed (${r.status}): ${r.stderr}`)
  return r.stdout
}

/**
 * The visible screen of the pane, without the blank rows below the text. `joined` undoes the
 * terminal's wrapping of long lines, for assertions; the artifacts keep the screen as shown.
 */
function screen(pane: string, joined = false): string {
  return tmux('capture-pane', '-p', ...(joined ? ['-J'] : []), '-t', pane).replace(/\s+$/, '') + '\n'
}

async function waitForScreen(pane: string, pattern: RegExp, timeoutMs = 20_000): Promise<{ shown: string; text: string }> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const text = screen(pane, true)
    if (pattern.test(text)) return { shown: screen(pane), text }
    if (performance.now() > deadline) throw new Error(`the terminal never showed ${pattern}; it shows:\n${text}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** Starts `evergreen …args` in a new 100×30 tmux window; the pane stays open after the exit code line. */
function runInTerminal(name: string, args: string[], env: Record<string, string>): string {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`
  const assignments = Object.entries(env).map(([k, v]) => `${k}=${quote(v)}`)
  // A person at a terminal: CI (set on CI machines) would switch the prompts off.
  const command = `cd ${quote(REPO_ROOT)} && env -u CI ${assignments.join(' ')} ${quote(process.execPath)} ${quote(BIN)} ${args.map(quote).join(' ')}; echo "[exit $?]"; sleep 600`
  socket = `evergreen-test-${process.pid}-${++socketNumber}`
  tmux('new-session', '-d', '-s', name, '-x', '100', '-y', '30', command)
  return name
}

describe.skipIf(!HAS_TMUX && !IN_CI)('evergreen login in a terminal', () => {
  beforeAll(async () => {
    if (!HAS_TMUX) throw new Error('tmux is required for the terminal tests in CI: apt-get install tmux (see .ci/run)')
    assertBuilt()
    server = await startSessionServer()
    await server.createUser(EMAIL)
    mkdirSync(ARTIFACTS, { recursive: true })
  })
  afterEach(() => {
    if (socket) spawnSync('tmux', ['-L', socket, 'kill-server'], { stdio: 'ignore' })
  })
  afterAll(async () => {
    await killAllChildren()
    removeTmpDirs()
  })

  test('the device-login screen: the code, the URL, the waiting line; then logged in once approved', async () => {
    const config = configDir()
    const pane = runInTerminal('login', ['login', '--no-browser', '--issuer', server.issuer], config.env)
    const { shown, text: waiting } = await waitForScreen(pane, /Waiting for approval/)
    writeFileSync(join(ARTIFACTS, 'device-login.txt'), shown)

    const code = /Enter {4}([A-Z]{4}-[A-Z]{4})$/m.exec(waiting)?.[1]
    expect(code, waiting).toBeDefined()
    expect(waiting).toContain(`To log in to ${server.issuer}:`)
    expect(waiting).toMatch(new RegExp(`^  1\\. Open     ${server.issuer}/device$`, 'm'))
    expect(waiting).toMatch(/^ {2}2\. Enter {4}[A-Z]{4}-[A-Z]{4}$/m)
    expect(waiting).toContain(`Or open ${server.issuer}/device?user_code=${code}`)
    expect(waiting).toMatch(/which fills in the code for you\.\n\nWaiting/)
    expect(waiting).toMatch(/^Waiting for approval in the browser \(the code expires in 10 minutes; Ctrl-C to cancel\)\.\.\.$/m)
    // Nothing but the screen a person needs: no token, no stack trace.
    expect(waiting).not.toMatch(/eyJ|egr_|egd_|at .+\.js:\d+/)

    await server.decideDevice(code!, EMAIL)
    const { shown: approved, text: done } = await waitForScreen(pane, /\[exit \d+\]/)
    writeFileSync(join(ARTIFACTS, 'device-login-approved.txt'), approved)
    expect(done).toMatch(new RegExp(`^Logged in to ${server.issuer} as ${EMAIL} \\(usr_\\w+\\)\\. It renews itself while in use, and ends after 24 hours without use\\.$`, 'm'))
    expect(done).toContain('[exit 0]')
    expect(config.files()).toHaveLength(1)
  })

  test('Ctrl-C typed at the waiting screen: "login cancelled", exit 130, nothing stored', async () => {
    const config = configDir()
    const pane = runInTerminal('cancel', ['login', '--no-browser', '--issuer', server.issuer], config.env)
    await waitForScreen(pane, /Waiting for approval/)
    tmux('send-keys', '-t', pane, 'C-c')
    const { shown, text: done } = await waitForScreen(pane, /\[exit \d+\]/)
    writeFileSync(join(ARTIFACTS, 'device-login-cancelled.txt'), shown)
    // The terminal echoes ^C; the message starts on a line of its own.
    expect(done).toMatch(/^error: login cancelled; nothing was stored$/m)
    expect(done).toContain('[exit 130]')
    expect(config.files()).toEqual([])
  })

  test('no issuer given: a terminal is asked for one, and the typed URL is used', async () => {
    const config = configDir()
    const pane = runInTerminal('ask', ['login', '--no-browser'], config.env)
    await waitForScreen(pane, /^Issuer URL of your Evergreen token service:\s*$/m)
    tmux('send-keys', '-t', pane, '-l', server.issuer)
    tmux('send-keys', '-t', pane, 'Enter')
    const { shown } = await waitForScreen(pane, /Waiting for approval/)
    writeFileSync(join(ARTIFACTS, 'device-login-issuer-prompt.txt'), shown)
    expect(shown).toContain(`To log in to ${server.issuer}:`)
    tmux('send-keys', '-t', pane, 'C-c')
    expect((await waitForScreen(pane, /\[exit \d+\]/)).text).toContain('[exit 130]')
  })
})

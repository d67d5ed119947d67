import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { ConfigError } from '../errors.js'
import { createMemoryStore } from '../store/memory.js'
import type { SessionLock, SessionStore, StoreDescription } from '../store/types.js'
import { resolveConfigDir } from './config-dir.js'
import { createFileStore } from './file-store.js'
import { createKeyringStore } from './keyring-store.js'
import { createFileLock } from './lock.js'

type Env = Record<string, string | undefined>

export interface DefaultStore {
  store: SessionStore
  /** The cross-process lock in the config dir; used whatever the backend. */
  lock: SessionLock
  /** Backend, location and why it was chosen, for a status display. */
  description: StoreDescription & { reason: string }
  configDir: string
}

export interface OpenDefaultStoreOptions {
  env?: Env
  platform?: NodeJS.Platform
  /** Longest the keyring probe may take. Default 3 s. */
  probeTimeoutMs?: number
  /** Replaces the keyring probe (tests). */
  probe?: (timeoutMs: number) => Promise<ProbeResult>
}

export type ProbeResult = { ok: true } | { ok: false; reason: string }

/**
 * Chooses where sessions live: the OS keyring when it works, else the file store — and says why.
 *
 * `EVERGREEN_STORE=file|keyring|memory` decides outright. Otherwise on Linux without
 * `DBUS_SESSION_BUS_ADDRESS` there is no Secret Service to talk to, so it is the file store with no
 * probe at all (headless servers, CI, containers). Else the keyring is probed once in a child
 * process that is killed after `probeTimeoutMs`: the binding's calls are synchronous native code,
 * and a keyring that hangs must not hang the CLI with it.
 *
 * @example const { store, lock, description } = await openDefaultStore()
 */
export async function openDefaultStore(options: OpenDefaultStoreOptions = {}): Promise<DefaultStore> {
  const env = options.env ?? process.env
  const platform = options.platform ?? process.platform
  const configDir = resolveConfigDir(env, undefined, platform)
  const lock = createFileLock({ dir: configDir })
  const file = (reason: string): DefaultStore => {
    const store = createFileStore({ dir: configDir })
    return { store, lock, configDir, description: { ...store.describe(), reason } }
  }
  const keyring = (reason: string): DefaultStore => {
    const store = createKeyringStore()
    return { store, lock, configDir, description: { ...store.describe(), reason } }
  }

  const forced = env.EVERGREEN_STORE
  if (forced !== undefined && forced !== '') {
    if (forced === 'file') return file('EVERGREEN_STORE=file')
    if (forced === 'keyring') return keyring('EVERGREEN_STORE=keyring')
    if (forced === 'memory') {
      const store = createMemoryStore()
      return { store, lock, configDir, description: { ...store.describe(), reason: 'EVERGREEN_STORE=memory (sessions end with the process)' } }
    }
    throw new ConfigError('CONFIG_INVALID', `EVERGREEN_STORE must be file, keyring or memory, not ${JSON.stringify(forced)}`)
  }
  if (platform === 'linux' && !env.DBUS_SESSION_BUS_ADDRESS) {
    return file('no OS keyring: DBUS_SESSION_BUS_ADDRESS is unset, so there is no Secret Service session (set EVERGREEN_STORE=keyring to insist)')
  }
  const timeoutMs = options.probeTimeoutMs ?? 3_000
  const probe = await (options.probe ?? ((ms) => probeKeyring({ timeoutMs: ms, env })))(timeoutMs)
  if (probe.ok) return keyring('the OS keyring answered')
  return file(`OS keyring unavailable: ${probe.reason}`)
}

/**
 * Tries one keyring read in a child process; kills it after `timeoutMs`. Never throws.
 *
 * @param source replaces the probe script (tests simulate a hanging keyring with it)
 */
export async function probeKeyring(options: { timeoutMs: number; env?: Env; source?: string }): Promise<ProbeResult> {
  let source = options.source
  if (source === undefined) {
    let binding: string
    try {
      binding = pathToFileURL(createRequire(import.meta.url).resolve('@napi-rs/keyring')).href
    } catch {
      return { ok: false, reason: '@napi-rs/keyring is not installed' }
    }
    source = [
      `const { Entry } = (await import(${JSON.stringify(binding)})).default`,
      "try { new Entry('evergreen', '__evergreen_probe__', { linux: { store: 'secret-service' } }).getPassword(); process.exit(0) }",
      'catch (err) { process.stderr.write(String((err && err.message) || err)); process.exit(1) }',
    ].join('\n')
  }
  // Imported here, not at the top: most runs (a file store, EVERGREEN_STORE set) never probe, and
  // child_process is one of the costlier built-ins to load at CLI start-up.
  const { spawn } = await import('node:child_process')
  return new Promise<ProbeResult>((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', source], {
      env: { ...(options.env ?? process.env) } as NodeJS.ProcessEnv,
      stdio: ['ignore', 'ignore', 'pipe'],
      windowsHide: true,
    })
    let stderr = ''
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(0, 500)))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      resolve({ ok: false, reason: `the keyring did not answer within ${options.timeoutMs} ms` })
    }, options.timeoutMs)
    child.once('error', (err) => {
      clearTimeout(timer)
      resolve({ ok: false, reason: `could not run the keyring probe: ${err.message}` })
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      if (code === 0) resolve({ ok: true })
      else resolve({ ok: false, reason: stderr.trim().split('\n')[0] || `probe exited with ${code}` })
    })
  })
}

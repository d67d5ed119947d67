import { StorageError } from '../errors.js'
import { parseStoredSession } from '../session.js'
import { keyId, normalizeKey, type SessionKey, type SessionStore } from '../store/types.js'

export interface KeyringStoreOptions {
  /** Keyring service name. Default `evergreen`. */
  service?: string
  /** Longest a keyring call may take before it is a StorageError. Default 5 s. */
  timeoutMs?: number
}

type KeyringModule = typeof import('@napi-rs/keyring')

let loaded: Promise<KeyringModule> | undefined

/**
 * Loads the native binding on first use, so importing `@evergreen/client/node` on a platform
 * without a prebuilt binary cannot crash a CLI that uses the file store.
 */
function loadKeyring(): Promise<KeyringModule> {
  loaded ??= import('@napi-rs/keyring').catch((err: unknown) => {
    loaded = undefined
    throw new StorageError('STORAGE_UNAVAILABLE', `the OS keyring binding could not be loaded: ${errMessage(err)}`, { cause: err, remedy: 'check_store' })
  })
  return loaded
}

/**
 * On Linux the keyring is pinned to the Secret Service (GNOME Keyring, KWallet). The binding's
 * default would fall back to the kernel keyring (keyutils), which lives in memory and is gone after
 * a reboot or outside the login session — a login that silently vanishes is the very pain this
 * SDK exists to remove. Without a Secret Service, the file store is the right fallback.
 */
const ENTRY_OPTIONS = { linux: { store: 'secret-service' as const } }

/**
 * Sessions in the OS keyring: service `evergreen`, account `${issuer}#${profile}`, the session JSON
 * as the password. Calls go through the binding's async API with a timeout, so a keyring that
 * hangs (a locked GNOME Keyring waiting for a prompt) is a StorageError, not a hung CLI.
 *
 * @example const store = createKeyringStore()
 */
export function createKeyringStore(options: KeyringStoreOptions = {}): SessionStore {
  const service = options.service ?? 'evergreen'
  const timeoutMs = options.timeoutMs ?? 5_000

  async function call<T>(what: string, run: (keyring: KeyringModule, signal: AbortSignal) => Promise<T>): Promise<T> {
    const keyring = await loadKeyring()
    const controller = new AbortController()
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort()
        reject(new StorageError('STORAGE_UNAVAILABLE', `the OS keyring did not answer within ${timeoutMs} ms (${what})`, { remedy: 'check_store' }))
      }, timeoutMs)
      timer.unref?.()
    })
    try {
      return await Promise.race([run(keyring, controller.signal), timeout])
    } catch (err) {
      if (err instanceof StorageError) throw err
      throw new StorageError('STORAGE_UNAVAILABLE', `the OS keyring failed (${what}): ${errMessage(err)}`, { cause: err, remedy: 'check_store' })
    } finally {
      clearTimeout(timer)
    }
  }

  const entry = (keyring: KeyringModule, key: SessionKey) => new keyring.AsyncEntry(service, keyId(normalizeKey(key)), ENTRY_OPTIONS)

  return {
    async read(key) {
      const text = await call('read', (k, signal) => entry(k, key).getPassword(signal))
      if (text === null || text === undefined) return undefined
      let value: unknown
      try {
        value = JSON.parse(text)
      } catch (err) {
        throw corrupt(service, key, err)
      }
      const session = parseStoredSession(value)
      if (!session) throw corrupt(service, key)
      return session
    },
    async write(key, session) {
      // The keyring replaces the secret in one call: no partial value is ever visible.
      await call('write', (k, signal) => entry(k, key).setPassword(JSON.stringify(session), signal))
    },
    async delete(key) {
      return call('delete', (k, signal) => entry(k, key).deletePassword(signal))
    },
    async list() {
      const found = await call('list', (k, signal) => k.findCredentialsAsync(service, null, signal))
      const keys: SessionKey[] = []
      for (const { account } of found) {
        const at = account.lastIndexOf('#')
        if (at <= 0) continue
        keys.push({ issuer: account.slice(0, at), profile: account.slice(at + 1) })
      }
      return keys
    },
    describe: () => ({ backend: 'keyring', location: `${platformKeyringName()} (service "${service}")` }),
    locate: (key) => `${platformKeyringName()} (service "${service}", account "${keyId(normalizeKey(key))}")`,
  }
}

function platformKeyringName(): string {
  if (process.platform === 'darwin') return 'macOS Keychain'
  if (process.platform === 'win32') return 'Windows Credential Manager'
  return 'Secret Service'
}

function corrupt(service: string, key: SessionKey, cause?: unknown): StorageError {
  return new StorageError(
    'STORAGE_CORRUPT',
    `the keyring entry "${keyId(key)}" of service "${service}" is damaged`,
    { cause, remedy: 'clear_session', location: `${service}/${keyId(key)}` },
  )
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

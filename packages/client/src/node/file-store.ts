import { randomBytes } from 'node:crypto'
import { chmod, mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { StorageError } from '../errors.js'
import { parseStoredSession, type StoredSession } from '../session.js'
import { normalizeKey, type SessionKey, type SessionStore } from '../store/types.js'
import { keyFileName } from './key-file-name.js'

export interface FileStoreOptions {
  /** The config directory (see resolveConfigDir); sessions go to `<dir>/sessions/`. */
  dir: string
  /**
   * Runs after a write's temp file is complete and fsynced, just before the rename that publishes
   * it. A seam for crash-safety tests (a child process passes one that kills itself here); no
   * production caller sets it.
   */
  beforeRename?: (tempFile: string) => void | Promise<void>
}

const FILE = /^([0-9a-f]{16})-([A-Za-z0-9_][A-Za-z0-9._-]{0,63})\.json$/

/**
 * Sessions as JSON files, one per key: `<dir>/sessions/<sha256(issuer)[:16]>-<profile>.json`.
 *
 * One file per key rather than one file for all: the refresh lock is per key, so a write never
 * has to read-modify-write another account's session (which would need a second, global lock),
 * a damaged file costs one login rather than all of them, and logout is one unlink.
 *
 * Directory 0700, files 0600. A write is a temp file in the same directory (0600, `wx`), written,
 * fsynced, then renamed over the old file — rename is atomic on POSIX, so a reader or a crash
 * sees the old session or the new one, never half of one. A file that exists but does not parse
 * is a StorageError (`STORAGE_CORRUPT`), not a silent logout.
 *
 * @example const store = createFileStore({ dir: resolveConfigDir() })
 */
export function createFileStore(options: FileStoreOptions): SessionStore {
  const dir = options.dir
  const sessionsDir = join(dir, 'sessions')
  let ready: Promise<void> | undefined

  const fileOf = (key: SessionKey) => join(sessionsDir, `${keyFileName(normalizeKey(key))}.json`)

  function ensureDirs(): Promise<void> {
    ready ??= (async () => {
      await ensurePrivateDir(dir)
      await ensurePrivateDir(sessionsDir)
    })().catch((err: unknown) => {
      ready = undefined
      throw new StorageError('STORAGE_UNAVAILABLE', `cannot create the session directory ${sessionsDir}: ${errMessage(err)}`, { cause: err, remedy: 'check_store', location: sessionsDir })
    })
    return ready
  }

  async function readFileAt(file: string): Promise<StoredSession | undefined> {
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch (err) {
      if (errCode(err) === 'ENOENT') return undefined
      throw new StorageError('STORAGE_UNAVAILABLE', `cannot read ${file}: ${errMessage(err)}`, { cause: err, remedy: 'check_store', location: file })
    }
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch (err) {
      throw corrupt(file, err)
    }
    const session = parseStoredSession(value)
    if (!session) throw corrupt(file)
    return session
  }

  return {
    async read(key) {
      return readFileAt(fileOf(key))
    },

    async write(key, session) {
      await ensureDirs()
      const file = fileOf(key)
      const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`
      try {
        const handle = await open(tmp, 'wx', 0o600)
        try {
          await handle.writeFile(JSON.stringify(session, null, 2) + '\n', 'utf8')
          // Without fsync, a power cut after rename can leave an empty file under the new name.
          await handle.sync()
        } finally {
          await handle.close()
        }
        await options.beforeRename?.(tmp)
        await rename(tmp, file)
      } catch (err) {
        await unlink(tmp).catch(() => {})
        throw new StorageError('STORAGE_UNAVAILABLE', `cannot write ${file}: ${errMessage(err)}`, { cause: err, remedy: 'check_store', location: file })
      }
      await syncDir(sessionsDir)
      await removeOrphanedTempFiles(sessionsDir, file)
    },

    async delete(key) {
      const file = fileOf(key)
      try {
        await unlink(file)
      } catch (err) {
        if (errCode(err) === 'ENOENT') return false
        throw new StorageError('STORAGE_UNAVAILABLE', `cannot delete ${file}: ${errMessage(err)}`, { cause: err, remedy: 'check_store', location: file })
      }
      await syncDir(sessionsDir)
      return true
    },

    async list() {
      let names: string[]
      try {
        names = await readdir(sessionsDir)
      } catch (err) {
        if (errCode(err) === 'ENOENT') return []
        throw new StorageError('STORAGE_UNAVAILABLE', `cannot list ${sessionsDir}: ${errMessage(err)}`, { cause: err, remedy: 'check_store', location: sessionsDir })
      }
      const keys: SessionKey[] = []
      for (const name of names) {
        const m = FILE.exec(name)
        if (!m) continue
        // The issuer is only inside the file; a corrupt one throws rather than vanishing from the list.
        const session = await readFileAt(join(sessionsDir, name))
        if (session) keys.push({ issuer: session.issuer, profile: m[2]! })
      }
      return keys
    },

    describe: () => ({ backend: 'file', location: sessionsDir }),
    locate: fileOf,
  }
}

/** mkdir -p with 0700, and tighten an existing directory we own that is open to group or others. */
async function ensurePrivateDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o700 })
  if (process.platform === 'win32') return
  const s = await stat(path)
  if ((s.mode & 0o077) !== 0 && typeof process.getuid === 'function' && s.uid === process.getuid()) await chmod(path, 0o700)
}

/** fsync the directory so the rename itself survives a power cut (POSIX; a no-op elsewhere). */
async function syncDir(path: string): Promise<void> {
  if (process.platform === 'win32') return
  try {
    const handle = await open(path, 'r')
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
  } catch {
    // Some file systems refuse fsync on a directory; the rename is still atomic.
  }
}

/** Temp files left by a writer that died before its rename (pid no longer alive). Best effort. */
async function removeOrphanedTempFiles(dir: string, file: string): Promise<void> {
  const prefix = file.slice(dir.length + 1) + '.'
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return
  }
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue
    const pid = Number(name.slice(prefix.length).split('.')[0])
    if (!Number.isSafeInteger(pid) || pid === process.pid || isAlive(pid)) continue
    await unlink(join(dir, name)).catch(() => {})
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return errCode(err) === 'EPERM'
  }
}

function corrupt(file: string, cause?: unknown): StorageError {
  return new StorageError(
    'STORAGE_CORRUPT',
    `the session file ${file} is damaged and cannot be read`,
    { cause, remedy: 'clear_session', location: file },
  )
}

function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

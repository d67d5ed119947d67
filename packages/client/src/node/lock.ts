import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { StorageError } from '../errors.js'
import { createInProcessLock } from '../lock.js'
import { normalizeKey, type SessionKey, type SessionLock } from '../store/types.js'
import { keyFileName } from './key-file-name.js'

export interface FileLockOptions {
  /** The config directory; lock directories go to `<dir>/locks/`. */
  dir: string
  /**
   * A lock whose holder stopped touching it this long ago is broken (the holder crashed or was
   * killed). Default 10 s; proper-lockfile's minimum is 2 s.
   */
  staleMs?: number
  /** How often the holder touches its lock. Default staleMs / 2. */
  updateMs?: number
  /** Give up waiting after this long with StorageError STORAGE_LOCK_TIMEOUT. Default 30 s. */
  timeoutMs?: number
  /** Told when the lock was lost while held (the event loop was blocked for longer than staleMs). */
  onCompromised?: (err: Error) => void
}

/**
 * A cross-process lock per session key: proper-lockfile's atomic `mkdir` of
 * `<dir>/locks/<sha256(issuer)[:16]>-<profile>.lock`, kept fresh by the holder and broken when
 * stale, so a holder killed with SIGKILL blocks the others for at most `staleMs`.
 *
 * Waiters in the same process queue on an in-process lock first, so only one of them polls the
 * file system. Polling backs off from 25 ms to 500 ms with jitter, bounded by `timeoutMs` in all.
 *
 * @example createSessionClient({ store, lock: createFileLock({ dir: resolveConfigDir() }) })
 */
export function createFileLock(options: FileLockOptions): SessionLock {
  const locksDir = join(options.dir, 'locks')
  const staleMs = Math.max(2_000, options.staleMs ?? 10_000)
  const updateMs = options.updateMs ?? staleMs / 2
  const timeoutMs = options.timeoutMs ?? 30_000
  const inProcess = createInProcessLock()

  async function acquire(key: SessionKey): Promise<() => Promise<void>> {
    const path = join(locksDir, keyFileName(normalizeKey(key)))
    try {
      await mkdir(locksDir, { recursive: true, mode: 0o700 })
    } catch (err) {
      throw new StorageError('STORAGE_UNAVAILABLE', `cannot create the lock directory ${locksDir}: ${errMessage(err)}`, { cause: err, remedy: 'check_store' })
    }
    // A monotonic clock: the wait is a duration, and wall-clock jumps must not stretch it.
    const deadline = performance.now() + timeoutMs
    let delay = 25
    for (;;) {
      try {
        const { lock } = await loadLockfile()
        return await lock(path, {
          stale: staleMs,
          update: updateMs,
          realpath: false,
          retries: 0,
          // The default throws from a timer, which would crash the CLI; losing the lock while
          // holding it is survivable (the re-read and the server's grace window cover it).
          onCompromised: (err) => options.onCompromised?.(err),
        })
      } catch (err) {
        if (errCode(err) !== 'ELOCKED') {
          throw new StorageError('STORAGE_UNAVAILABLE', `cannot take the session lock ${path}.lock: ${errMessage(err)}`, { cause: err, remedy: 'check_store' })
        }
        if (performance.now() + delay > deadline) {
          throw new StorageError(
            'STORAGE_LOCK_TIMEOUT',
            `another process has held the session lock ${path}.lock for over ${Math.round(timeoutMs / 1000)} s`,
            { cause: err },
          )
        }
        await sleep(delay * (0.5 + Math.random()))
        delay = Math.min(delay * 1.5, 500)
      }
    }
  }

  return {
    withLock(key, fn) {
      return inProcess.withLock(key, async () => {
        const release = await acquire(key)
        try {
          return await fn()
        } finally {
          // Already released (compromised) or removed: nothing left to give back.
          await release().catch(() => {})
        }
      })
    },
  }
}

function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

// Loaded on the first lock only: a CLI run that finds a valid token never locks, and
// proper-lockfile brings graceful-fs, retry and signal-exit (which patches process.emit) with it.
let lockfileModule: Promise<typeof import('proper-lockfile')> | undefined
function loadLockfile(): Promise<typeof import('proper-lockfile')> {
  return (lockfileModule ??= import('proper-lockfile').then((m) => m.default))
}

import { existsSync, mkdirSync, mkdtempSync, utimesSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import lockfile from 'proper-lockfile'
import { beforeEach, describe, expect, test } from 'vitest'
import type { SessionKey } from '../store/types.js'
import { keyFileName } from './key-file-name.js'
import { createFileLock } from './lock.js'

const KEY: SessionKey = { issuer: 'https://auth.example.com', profile: 'default' }

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'evergreen-lock-'))
})

const lockPath = () => join(dir, 'locks', keyFileName(KEY))

describe('file lock', () => {
  test('serialises holders of one key; other keys do not wait', async () => {
    const lock = createFileLock({ dir })
    const order: string[] = []
    const hold = (name: string, key: SessionKey, ms: number) =>
      lock.withLock(key, async () => {
        order.push(`${name}+`)
        await new Promise((r) => setTimeout(r, ms))
        order.push(`${name}-`)
      })
    await Promise.all([hold('a', KEY, 40), hold('b', KEY, 1), hold('other', { ...KEY, profile: 'work' }, 1)])
    expect(order.indexOf('a-')).toBeLessThan(order.indexOf('b+'))
    expect(order.indexOf('other-')).toBeLessThan(order.indexOf('a-'))
  })

  test('released when fn throws', async () => {
    const lock = createFileLock({ dir })
    await expect(lock.withLock(KEY, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom')
    expect(existsSync(`${lockPath()}.lock`)).toBe(false)
    expect(await lock.withLock(KEY, async () => 'again')).toBe('again')
  })

  test('a lock held by another process is waited for', async () => {
    mkdirSync(join(dir, 'locks'), { recursive: true })
    const release = await lockfile.lock(lockPath(), { realpath: false })
    setTimeout(() => void release(), 150)
    const started = performance.now()
    await createFileLock({ dir }).withLock(KEY, async () => {})
    expect(performance.now() - started).toBeGreaterThanOrEqual(100)
  })

  test('a stale lock (holder died: mtime not refreshed) is broken', async () => {
    mkdirSync(join(dir, 'locks', `${keyFileName(KEY)}.lock`), { recursive: true })
    const old = new Date(Date.now() - 11_000)
    utimesSync(`${lockPath()}.lock`, old, old)
    const started = performance.now()
    expect(await createFileLock({ dir }).withLock(KEY, async () => 'mine')).toBe('mine')
    expect(performance.now() - started).toBeLessThan(1_000)
  })

  test('waiting is bounded: STORAGE_LOCK_TIMEOUT', async () => {
    mkdirSync(join(dir, 'locks'), { recursive: true })
    const release = await lockfile.lock(lockPath(), { realpath: false })
    try {
      await expect(createFileLock({ dir, timeoutMs: 300 }).withLock(KEY, async () => {})).rejects.toMatchObject({
        name: 'StorageError',
        code: 'STORAGE_LOCK_TIMEOUT',
      })
    } finally {
      await release()
    }
  })
})

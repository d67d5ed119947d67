import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { chmod, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeEach, describe, expect, test } from 'vitest'
import type { StoredSession } from '../session.js'
import type { SessionKey } from '../store/types.js'
import { generateDpopKey } from '../dpop-key.js'
import { resolveConfigDir } from './config-dir.js'
import { createFileStore } from './file-store.js'

const KEY: SessionKey = { issuer: 'https://auth.example.com', profile: 'default' }

function session(n: number, issuer = KEY.issuer): StoredSession {
  return {
    version: 1,
    issuer,
    client_id: 'cli',
    access_token: `at-${n}`,
    access_token_expires_at: 1_000 + n,
    refresh_token: `rt-${n}`,
    refresh_token_expires_at: 2_000 + n,
    token_type: 'Bearer',
    obtained_at: n,
  }
}

let dir: string
beforeEach(() => {
  dir = join(mkdtempSync(join(tmpdir(), 'evergreen-fs-')), 'evergreen')
})

describe('file store', () => {
  test('round trip, one file per key, list and delete', async () => {
    const store = createFileStore({ dir })
    expect(await store.read(KEY)).toBeUndefined()
    expect(await store.list()).toEqual([])
    await store.write(KEY, session(1))
    await store.write({ ...KEY, profile: 'work' }, session(2))
    await store.write({ issuer: 'http://127.0.0.1:8787', profile: 'default' }, session(3, 'http://127.0.0.1:8787'))
    expect(await store.read(KEY)).toEqual(session(1))
    expect(await store.read({ ...KEY, profile: 'work' })).toEqual(session(2))
    const files = readdirSync(join(dir, 'sessions')).sort()
    expect(files).toHaveLength(3)
    for (const f of files) expect(f).toMatch(/^[0-9a-f]{16}-(default|work)\.json$/)
    expect((await store.list()).sort((a, b) => (a.issuer + a.profile).localeCompare(b.issuer + b.profile))).toEqual([
      { issuer: 'http://127.0.0.1:8787', profile: 'default' },
      { issuer: KEY.issuer, profile: 'default' },
      { issuer: KEY.issuer, profile: 'work' },
    ])
    expect(await store.delete(KEY)).toBe(true)
    expect(await store.delete(KEY)).toBe(false)
    expect(await store.read(KEY)).toBeUndefined()
    expect(store.describe()).toEqual({ backend: 'file', location: join(dir, 'sessions') })
  })

  test('modes: directories 0700, session file 0600, also under a permissive umask', async () => {
    const old = process.umask(0o000)
    try {
      await createFileStore({ dir }).write(KEY, session(1))
    } finally {
      process.umask(old)
    }
    expect(statSync(dir).mode & 0o777).toBe(0o700)
    expect(statSync(join(dir, 'sessions')).mode & 0o777).toBe(0o700)
    const [file] = readdirSync(join(dir, 'sessions'))
    expect(statSync(join(dir, 'sessions', file!)).mode & 0o777).toBe(0o600)
  })

  test('a DPoP-bound session: the private key is in the same 0600 file, written in the same atomic write — no second file to drift', async () => {
    const key = await generateDpopKey({ boundAtIssuance: true })
    const store = createFileStore({ dir })
    const old = process.umask(0o000)
    try {
      await store.write(KEY, { ...session(1), dpop: key })
      await store.write(KEY, { ...session(2), dpop: key })
    } finally {
      process.umask(old)
    }
    const names = readdirSync(join(dir, 'sessions'))
    expect(names).toHaveLength(1)
    const path = join(dir, 'sessions', names[0]!)
    expect(statSync(path).mode & 0o777).toBe(0o600)
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ ...session(2), dpop: key })
    expect(await store.read(KEY)).toEqual({ ...session(2), dpop: key })
    // A damaged key is a corrupt session (never silently a Bearer one).
    writeFileSync(path, JSON.stringify({ ...session(2), dpop: { ...key, jwk: { ...key.jwk, d: undefined } } }))
    await expect(store.read(KEY)).rejects.toMatchObject({ code: 'STORAGE_CORRUPT' })
  })

  test('an existing directory open to others is tightened to 0700', async () => {
    await mkdir(dir, { recursive: true })
    await chmod(dir, 0o755)
    await createFileStore({ dir }).write(KEY, session(1))
    expect(statSync(dir).mode & 0o777).toBe(0o700)
  })

  test('a rewrite replaces the file whole and leaves no temp file', async () => {
    const store = createFileStore({ dir })
    await store.write(KEY, session(1))
    const [file] = readdirSync(join(dir, 'sessions'))
    const inodeBefore = statSync(join(dir, 'sessions', file!)).ino
    await store.write(KEY, session(2))
    expect(readdirSync(join(dir, 'sessions'))).toEqual([file])
    // A new inode: rename, not an in-place overwrite a concurrent reader could see half of.
    expect(statSync(join(dir, 'sessions', file!)).ino).not.toBe(inodeBefore)
    expect(JSON.parse(readFileSync(join(dir, 'sessions', file!), 'utf8'))).toEqual(session(2))
  })

  test('a corrupt or foreign file is StorageError STORAGE_CORRUPT, not a logout', async () => {
    const store = createFileStore({ dir })
    await store.write(KEY, session(1))
    const [file] = readdirSync(join(dir, 'sessions'))
    const path = join(dir, 'sessions', file!)
    writeFileSync(path, '{"version":1,"issuer":"https://auth.exa')
    await expect(store.read(KEY)).rejects.toMatchObject({ name: 'StorageError', code: 'STORAGE_CORRUPT' })
    await expect(store.list()).rejects.toMatchObject({ code: 'STORAGE_CORRUPT' })
    writeFileSync(path, JSON.stringify({ version: 2 }))
    await expect(store.read(KEY)).rejects.toMatchObject({ code: 'STORAGE_CORRUPT' })
    // Delete (what logout does with a corrupt entry) still works.
    expect(await store.delete(KEY)).toBe(true)
  })

  test('an unreadable store is STORAGE_UNAVAILABLE', async () => {
    const blocker = join(dir, '..', 'a-file')
    writeFileSync(blocker, 'x')
    const store = createFileStore({ dir: join(blocker, 'evergreen') })
    await expect(store.write(KEY, session(1))).rejects.toMatchObject({ name: 'StorageError', code: 'STORAGE_UNAVAILABLE' })
  })

  test('temp files of dead writers are cleaned up by the next write; stray files are ignored', async () => {
    const store = createFileStore({ dir })
    await store.write(KEY, session(1))
    const [file] = readdirSync(join(dir, 'sessions'))
    // pid 2^22+1 is above Linux's pid_max default: certainly not alive.
    const orphan = join(dir, 'sessions', `${file}.4194305.abcdef.tmp`)
    writeFileSync(orphan, '{"half')
    writeFileSync(join(dir, 'sessions', 'README'), 'not a session')
    expect(await store.list()).toEqual([KEY])
    await store.write(KEY, session(2))
    expect(readdirSync(join(dir, 'sessions')).sort()).toEqual([file!, 'README'].sort())
  })

  test('keys are validated: a profile cannot escape the directory', async () => {
    const store = createFileStore({ dir })
    await expect(store.write({ ...KEY, profile: '../x' }, session(1))).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' })
    await expect(store.read({ issuer: 'file:///etc', profile: 'default' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' })
  })
})

describe('resolveConfigDir', () => {
  test('EVERGREEN_CONFIG_DIR, then XDG_CONFIG_HOME, then ~/.config', () => {
    expect(resolveConfigDir({ EVERGREEN_CONFIG_DIR: '/c', XDG_CONFIG_HOME: '/x' }, '/home/me', 'linux')).toBe('/c')
    expect(resolveConfigDir({ XDG_CONFIG_HOME: '/x' }, '/home/me', 'linux')).toBe('/x/evergreen')
    expect(resolveConfigDir({ XDG_CONFIG_HOME: 'relative' }, '/home/me', 'linux')).toBe('/home/me/.config/evergreen')
    expect(resolveConfigDir({}, '/home/me', 'linux')).toBe('/home/me/.config/evergreen')
  })
})

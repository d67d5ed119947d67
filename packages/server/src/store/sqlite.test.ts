import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll } from 'vitest'
import { describeStoreContract } from '../test-support/store-contract.js'
import { SqliteStore } from './sqlite.js'

const dirs: string[] = []

afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })))
})

// A real file rather than ':memory:', so WAL mode and the file locking it relies on are what
// the suite exercises.
describeStoreContract('SqliteStore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'evergreen-sqlite-'))
  dirs.push(dir)
  const store = new SqliteStore(join(dir, 'evergreen.db'))
  await store.migrate()
  return store
})

import { join } from 'node:path'
import { describe } from 'vitest'
import { SqliteStore } from '../../packages/server/src/store/sqlite.js'
import { defineHostileSuite } from './hostile-suite.js'
import { RUNS, sqliteDumper, tempDir } from './support.js'

describe(`hostile input on SQLite (${RUNS} cases per endpoint)`, () => {
  defineHostileSuite(
    {
      async open() {
        const file = join(tempDir('evergreen-hostile-'), 'evergreen.db')
        const store = new SqliteStore(file)
        await store.migrate()
        const dumper = sqliteDumper(file)
        return { store, dump: dumper.dump, close: async () => dumper.close() }
      },
    },
    RUNS,
  )
})

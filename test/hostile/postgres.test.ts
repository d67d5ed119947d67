import { PostgresStore } from '../../packages/server/src/store/postgres.js'
import { describePostgres, dropSchema, freshSchemaName, postgresUrl } from '../../packages/server/src/test-support/postgres.js'
import { defineHostileSuite } from './hostile-suite.js'
import { postgresDumper, RUNS } from './support.js'

// The same properties on PostgreSQL, whose driver refuses inputs SQLite takes (NUL in text,
// invalid UTF-8): a tenth of the SQLite run, as each case dumps the schema over the network.
const PG_RUNS = Math.max(10, Math.round(RUNS / 10))

describePostgres(`hostile input on PostgreSQL (${PG_RUNS} cases per endpoint)`, () => {
  const schema = freshSchemaName()
  defineHostileSuite(
    {
      async open() {
        const store = new PostgresStore({ connectionString: postgresUrl, schema })
        await store.migrate()
        const sep = postgresUrl.includes('?') ? '&' : '?'
        const dumper = postgresDumper(`${postgresUrl}${sep}options=${encodeURIComponent(`-c search_path=${schema}`)}`)
        return {
          store,
          dump: dumper.dump,
          close: async () => {
            await dumper.close()
            await dropSchema(postgresUrl, schema)
          },
        }
      },
    },
    PG_RUNS,
  )
})

// `@evergreen/client/node/store`: the default store chooser alone (see `../session-entry.ts`),
// without `@evergreen/client/node`'s session-client helper, which loads the whole SDK.
export { openDefaultStore, type DefaultStore, type OpenDefaultStoreOptions } from './auto-store.js'

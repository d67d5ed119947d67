// Node-only parts of the SDK: file and keyring stores, the cross-process lock, the store chooser.
export { openDefaultStore, probeKeyring, type DefaultStore, type OpenDefaultStoreOptions, type ProbeResult } from './auto-store.js'
export { resolveConfigDir } from './config-dir.js'
export { openSessionClient } from './default-client.js'
export { createFileStore, type FileStoreOptions } from './file-store.js'
export { keyFileName } from './key-file-name.js'
export { createKeyringStore, type KeyringStoreOptions } from './keyring-store.js'
export { createFileLock, type FileLockOptions } from './lock.js'

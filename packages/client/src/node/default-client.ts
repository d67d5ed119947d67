import { createSessionClient, type SessionClient, type SessionClientOptions } from '../client.js'
import { openDefaultStore, type DefaultStore, type OpenDefaultStoreOptions } from './auto-store.js'

/**
 * The session client a Node CLI wants: the default store (keyring or file, with the reason) and
 * the cross-process file lock, wired together.
 *
 * @example
 * const { client, store } = await openSessionClient()
 * console.error(`sessions in ${store.description.backend}: ${store.description.reason}`)
 * const token = await client.getValidToken()
 */
export async function openSessionClient(
  options: Omit<SessionClientOptions, 'store' | 'lock'> & { storeOptions?: Omit<OpenDefaultStoreOptions, 'env'> } = {},
): Promise<{ client: SessionClient; store: DefaultStore }> {
  const { storeOptions, ...clientOptions } = options
  const store = await openDefaultStore({ ...storeOptions, ...(options.env ? { env: options.env } : {}) })
  return { client: createSessionClient({ ...clientOptions, store: store.store, lock: store.lock }), store }
}

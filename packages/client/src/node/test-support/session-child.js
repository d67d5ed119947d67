// A child process for the cross-process tests. Plain JavaScript importing the built SDK from
// dist/, because Node 20 cannot run the TypeScript sources without a loader.
//
// EG_MODE=get        create a client on the shared file store, wait for "go", call getValidToken()
// EG_MODE=hold-lock  take the session's file lock, report "locked", then hang until killed
// EG_MODE=write      write EG_SESSION to the store
// EG_MODE=crash-write  the same, through a store whose beforeRename seam kills this process (SIGKILL)
//                    after the temp file is fsynced and before the rename
import { createSessionClient } from '../../../dist/index.js'
import { createFileLock, createFileStore } from '../../../dist/node/index.js'

const { EG_MODE: mode, EVERGREEN_CONFIG_DIR: dir, EG_ISSUER: issuer } = process.env
const profile = process.env.EG_PROFILE || 'default'
const key = { issuer, profile }
const store = createFileStore({
  dir,
  ...(mode === 'crash-write' ? { beforeRename: () => process.kill(process.pid, 'SIGKILL') } : {}),
})
const lock = createFileLock({ dir })

const send = (message) => new Promise((resolve) => process.send(message, resolve))
const goSignal = () => new Promise((resolve) => process.on('message', (m) => m === 'go' && resolve()))

if (mode === 'get') {
  const events = []
  const client = createSessionClient({ issuer, profile, store, lock, env: {}, debug: (e) => events.push(e) })
  const go = goSignal()
  await send({ type: 'ready' })
  await go
  try {
    const token = await client.getValidToken()
    await send({ type: 'result', ok: true, token, events })
  } catch (err) {
    await send({ type: 'result', ok: false, name: err?.name, code: err?.code, message: String(err?.message ?? err), events })
  }
  process.exit(0)
} else if (mode === 'hold-lock') {
  // Keep the event loop alive: the lock's refresh timer is unref'd.
  globalThis.setInterval(() => {}, 1000)
  await lock.withLock(key, async () => {
    await send({ type: 'locked' })
    await new Promise(() => {})
  })
} else if (mode === 'write' || mode === 'crash-write') {
  await store.write(key, JSON.parse(process.env.EG_SESSION))
  await send({ type: 'written' })
  process.exit(0)
} else {
  console.error(`unknown EG_MODE ${mode}`)
  process.exit(2)
}

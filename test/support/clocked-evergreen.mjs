// `evergreen serve`'s server (packages/server/dist, built) in a child process whose clock the
// parent moves over IPC: { advance: seconds } → { now }. Tests cross an access token's expiry
// this way instead of sleeping. The settings come from the environment, as for `evergreen serve`.
import { startServer } from '../../packages/server/dist/node/serve.js'
import { loadSettings } from '../../packages/server/dist/settings.js'

// Frozen at start and moved only by the test: a clock that also followed real time would tick a
// second past an advance whenever the wall clock crossed a second boundary in between.
const start = Math.floor(Date.now() / 1000)
let offset = 0
const now = () => start + offset
const running = await startServer(loadSettings({}, process.env), { now })
process.on('message', (msg) => {
  if (typeof msg?.advance === 'number') offset += msg.advance
  process.send?.({ now: now() })
})
process.once('SIGTERM', () => void running.stop().then(() => process.exit(0)))
console.error(`evergreen token service listening on ${running.url}`)

import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'

/** What one PASSIVE checkpoint did: WAL frames in the log, and how many are now in the database. */
export interface CheckpointResult {
  log: number
  checkpointed: number
}

export interface Checkpointer {
  /** Runs one PASSIVE checkpoint now (on the checkpointer's thread). */
  checkpoint(): Promise<CheckpointResult>
  close(): Promise<void>
}

// The thread's code, evaluated as CommonJS: it loads better-sqlite3 by the path the main thread
// resolved, so it works from dist/ and from the TypeScript sources under the test runner alike.
const THREAD = `
const { parentPort, workerData } = require('node:worker_threads')
const Database = require(workerData.module)
const db = new Database(workerData.filename)
// A thread of its own may wait: a checkpoint only waits for the WAL-index lock, never a writer.
db.pragma('busy_timeout = 1000')
parentPort.on('message', (message) => {
  if (message === 'close') {
    db.close()
    parentPort.close()
    return
  }
  try {
    const [r] = db.pragma('wal_checkpoint(PASSIVE)')
    parentPort.postMessage({ ok: true, log: r.log, checkpointed: r.checkpointed })
  } catch (err) {
    parentPort.postMessage({ ok: false, error: String(err && err.message) })
  }
})
`

/**
 * Checkpoints a WAL database from a worker thread every `intervalMs`, so the event loop's
 * connections never run one inline. An inline (auto)checkpoint copies up to the autocheckpoint
 * threshold of pages into the database file and fsyncs it inside whichever request's commit
 * crossed the threshold, stalling every request in flight behind it: the tail of the latency
 * distribution. PASSIVE never waits for readers or writers; the WAL restarts from its beginning
 * at the next write once a checkpoint has caught up.
 *
 * Every second rather than every 200 ms: a checkpoint copies the latest version of each page in
 * the WAL and fsyncs twice, and the rotations of a second rewrite the same index and table pages
 * many times over, so fewer, larger checkpoints copy fewer pages per rotation (server CPU per
 * refresh at one connection 555 -> 517 µs, interleaved A/B; unchanged at 32). At ~7,500 WAL
 * frames a second (32 connections), the 40,000-page backstop is still far away.
 */
export function startCheckpointer(filename: string, intervalMs = 1000): Checkpointer {
  const module = createRequire(import.meta.url).resolve('better-sqlite3')
  const worker = new Worker(THREAD, { eval: true, workerData: { filename, module } })
  worker.unref()
  const waiting: ((r: { ok: boolean; log?: number; checkpointed?: number; error?: string }) => void)[] = []
  worker.on('message', (r: { ok: boolean }) => waiting.shift()?.(r))
  let failed: Error | undefined
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
  worker.on('error', (err) => {
    failed = err
    for (const w of waiting.splice(0)) w({ ok: false, error: err.message })
  })
  const checkpoint = () =>
    new Promise<CheckpointResult>((resolve, reject) => {
      if (failed) return reject(failed)
      waiting.push((r) => (r.ok ? resolve({ log: r.log!, checkpointed: r.checkpointed! }) : reject(new Error(`checkpoint failed: ${r.error}`))))
      worker.postMessage('checkpoint')
    })
  let running = false
  const timer = setInterval(() => {
    if (running || failed) return
    running = true
    // A failed round is left to the next one; the connections' autocheckpoint is the backstop.
    checkpoint().catch(() => {}).finally(() => (running = false))
  }, intervalMs)
  timer.unref()
  return {
    checkpoint,
    async close() {
      clearInterval(timer)
      // Unref'd so it never keeps a process alive; while closing, the wait for it must.
      worker.ref()
      if (!failed) worker.postMessage('close')
      await exited
    },
  }
}

import { once } from 'node:events'
import { freePort, startServerProcess, type ServerProcess, type StartOptions } from './server-process.js'

/**
 * mulberry32: a tiny seeded PRNG, so a failing fault run can be replayed with the seed it printed.
 *
 * @example
 * const random = seededRandom(42)
 * random() // a float in [0, 1)
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/** One `evergreen serve` slot: a fixed port, and the process currently running there (if any). */
export interface NodeSlot {
  port: number
  url: string
  process: ServerProcess | undefined
  /** Whether the round robin may send to it: false from just before a kill until it is back. */
  live: boolean
  /** Output of every process that ran in this slot, oldest first (for failure messages). */
  pastOutput: string[]
}

export interface Cluster {
  nodes: NodeSlot[]
  /** The next live node after the previous pick, or undefined while every node is down. */
  pick(): NodeSlot | undefined
  /** SIGKILLs the node's process (no shutdown hook runs) and waits for it to be gone. */
  kill(node: NodeSlot): Promise<void>
  /** Starts a process on the node's own port with the cluster's options. */
  restart(node: NodeSlot): Promise<void>
  /** Stops every child (SIGTERM, then SIGKILL): safe to call whatever state the run left. */
  stopAll(): Promise<void>
  /** The tail of every node's output so far, for a failure message. */
  outputTail(chars?: number): string
}

/**
 * Starts `count` server processes on fixed loopback ports with one shared issuer (the first
 * node's URL), so any node verifies any node's tokens and a restarted node comes back where its
 * clients expect it. `options` is passed to every start (database URL, secret, data dir…).
 */
export async function startCluster(count: number, options: Omit<StartOptions, 'port' | 'ephemeralPort'>): Promise<Cluster> {
  const ports: number[] = []
  while (ports.length < count) {
    const p = await freePort()
    if (!ports.includes(p)) ports.push(p)
  }
  const issuer = `http://127.0.0.1:${ports[0]}`
  const nodes: NodeSlot[] = ports.map((port) => ({ port, url: `http://127.0.0.1:${port}`, process: undefined, live: false, pastOutput: [] }))
  let cursor = 0
  // Starts still running when stopAll is called (a test that failed or timed out mid-restart):
  // stopAll waits for them, and a start that lands after it stops its own child at once.
  const starting = new Set<Promise<void>>()
  let closed = false

  const startIn = async (node: NodeSlot) => {
    if (node.process) node.pastOutput.push(node.process.output())
    node.process = undefined
    // The port was just freed by the kill; another process grabbing it in between is possible but
    // rare on loopback, so a few short retries are enough.
    let lastError: unknown
    for (let attempt = 0; attempt < 5 && !closed; attempt++) {
      try {
        const started = await startServerProcess({ ...options, port: node.port, env: { EVERGREEN_ISSUER: issuer, ...options.env } })
        if (closed) {
          await started.stop()
          break
        }
        node.process = started
        node.live = true
        return
      } catch (err) {
        lastError = err
        await new Promise((r) => setTimeout(r, 200))
      }
    }
    throw lastError ?? new Error('cluster stopped')
  }
  const restart = (node: NodeSlot) => {
    const p = startIn(node)
    starting.add(p)
    return p.finally(() => starting.delete(p))
  }

  const cluster: Cluster = {
    nodes,
    pick() {
      for (let i = 0; i < nodes.length; i++) {
        const node = nodes[(cursor + i) % nodes.length]!
        if (node.live) {
          cursor = (cursor + i + 1) % nodes.length
          return node
        }
      }
      return undefined
    },
    async kill(node) {
      node.live = false
      const child = node.process?.child
      if (!child || child.exitCode !== null || child.signalCode !== null) return
      const exited = once(child, 'exit')
      child.kill('SIGKILL')
      await exited
    },
    restart,
    async stopAll() {
      closed = true
      await Promise.allSettled([...starting])
      await Promise.all(nodes.map(async (n) => {
        n.live = false
        await n.process?.stop()
      }))
    },
    outputTail(chars = 2000) {
      return nodes
        .map((n, i) => `--- node ${i} (:${n.port}) ---\n${[...n.pastOutput, n.process?.output() ?? ''].join('\n[killed]\n').slice(-chars)}`)
        .join('\n')
    },
  }
  try {
    // Started together, so the first migrations race as they would in a real rollout.
    const started = await Promise.allSettled(nodes.map(restart))
    for (const s of started) if (s.status === 'rejected') throw s.reason
  } catch (err) {
    await cluster.stopAll()
    throw err
  }
  return cluster
}

// What every benchmark script needs of the machine: a free loopback port, and the CPU time a
// server process (with its cluster workers) has used, read from /proc.
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'

/** Microseconds per clock tick, the unit of /proc/<pid>/stat's utime and stime. */
const TICK_US = 1e6 / (clockTicks() ?? 100)

function clockTicks() {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || undefined
  } catch {
    return undefined
  }
}

/**
 * utime + stime in µs of `pid` and every process below it (cluster workers), from /proc; with
 * taskset the child's pid is node's (taskset execs it). 0 where /proc is missing.
 */
export function cpuMicros(pid) {
  if (!existsSync('/proc')) return 0
  let total = 0
  const walk = (p) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      total += (Number(fields[11]) + Number(fields[12])) * TICK_US
      const children = readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim()
      for (const c of children ? children.split(' ') : []) walk(c)
    } catch {
      // the process is gone
    }
  }
  walk(pid)
  return total
}

/** A loopback port nothing listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

#!/usr/bin/env node
// Interleaved A/B of the refresh benchmark: two (or more) builds, alternating, in one invocation,
// so a neighbour's load on this shared machine falls on both alike.
//
//   node bench/ab.js before=/tmp/wt-before after=.          # each a checkout with dist/ built
//   BENCH_ROUNDS=5 BENCH_SECONDS=4 node bench/ab.js a=/x b=/y
//
// Each round runs bench/refresh.js once per build (in a rotating order), with that build's
// `packages/cli/bin/evergreen.js` (BENCH_CLI). Prints each round and the medians per build:
// requests/s, p50 and p99 at each concurrency, and the server's CPU µs per refresh.

import { spawnSync } from 'node:child_process'
import { resolve, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const HERE = fileURLToPath(new URL('.', import.meta.url))
const builds = process.argv.slice(2).map((arg) => {
  const at = arg.indexOf('=')
  if (at < 1) throw new Error(`expected label=path, got ${arg}`)
  return { label: arg.slice(0, at), cli: join(resolve(arg.slice(at + 1)), 'packages/cli/bin/evergreen.js') }
})
if (builds.length < 2) {
  process.stderr.write('usage: node bench/ab.js label=path label=path [...]\n')
  process.exit(2)
}
const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
const results = new Map(builds.map((b) => [b.label, []]))

for (let round = 0; round < rounds; round++) {
  for (let i = 0; i < builds.length; i++) {
    const b = builds[(i + round) % builds.length]
    const r = spawnSync(process.execPath, [join(HERE, 'refresh.js')], {
      env: { BENCH_SECONDS: '4', BENCH_WARMUP_SECONDS: '1', ...process.env, BENCH_CLI: b.cli, BENCH_JSON: '1' },
      encoding: 'utf8',
      timeout: 10 * 60_000,
    })
    const line = r.stdout.split('\n').find((l) => l.startsWith('json '))
    if (r.status !== 0 || !line) {
      process.stderr.write(`${b.label}: refresh.js failed (${r.status}):\n${r.stdout}\n${r.stderr}\n`)
      process.exit(1)
    }
    const rows = JSON.parse(line.slice(5))
    results.get(b.label).push(rows)
    console.log(`round ${round + 1} ${b.label.padEnd(10)} ` + rows.map((x) => `c=${x.concurrency}: ${Math.round(x.rps)}/s p50 ${x.p50.toFixed(2)} p99 ${x.p99.toFixed(2)} cpu ${Math.round(x.cpuPerRequest)}µs`).join(' | '))
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
console.log(`\nmedians of ${rounds} interleaved rounds`)
console.log('build       conns  req/s   p50 ms  p99 ms  server CPU µs/req')
for (const b of builds) {
  const runs = results.get(b.label)
  for (let k = 0; k < runs[0].length; k++) {
    const col = (f) => median(runs.map((r) => r[k][f]))
    console.log(`${b.label.padEnd(10)}  ${String(runs[0][k].concurrency).padStart(5)}  ${String(Math.round(col('rps'))).padStart(5)}  ${col('p50').toFixed(2).padStart(7)}  ${col('p99').toFixed(2).padStart(6)}  ${String(Math.round(col('cpuPerRequest'))).padStart(6)}`)
  }
}
console.log(`json ${JSON.stringify(Object.fromEntries(results))}`)

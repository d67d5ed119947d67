#!/usr/bin/env node
// Refresh-grant throughput and latency of the built token service on SQLite (or PostgreSQL).
//
//   npm run bench:refresh                # build, then 10 s at concurrency 1 and 32
//   BENCH_SECONDS=3 node bench/refresh.js
//   BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test node bench/refresh.js
//
// The server runs as a child process (the real `evergreen serve`), pinned to CPU 0 with taskset
// when there are two or more CPUs; this process, the load generator, pins itself to CPU 1. Each
// connection owns one session and keeps rotating its own chain, so every request is a real
// rotation (one signature, one transaction), never a grace-window replay. See bench/README.md.

/* global fetch -- Node 20's built-in; the repo's ESLint globals list only process, console, Buffer, URL */

import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { clearTimeout, setTimeout } from 'node:timers'
import { fileURLToPath } from 'node:url'
import { cpuMicros, freePort } from './lib/process.js'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
// BENCH_CLI: another build's bin/evergreen.js (bench/ab.js uses it to compare two checkouts).
const CLI = process.env.BENCH_CLI ?? join(ROOT, 'packages/cli/bin/evergreen.js')
// BENCH_CPU_PROF=<dir>: the server writes a V8 CPU profile there when it stops.
const CPU_PROF = process.env.BENCH_CPU_PROF
// BENCH_JSON=1: one JSON line with the results after the table (for bench/ab.js).
const JSON_OUT = process.env.BENCH_JSON === '1'
// BENCH_POSTGRES_URL=postgres://…: the server on PostgreSQL instead of SQLite, in a fresh schema
// (created with psql, dropped afterwards), so runs never see each other's rows.
const PG_URL = process.env.BENCH_POSTGRES_URL
let pgSchema = ''
// Extra arguments for `evergreen serve` (e.g. `--workers 2`), space-separated.
const SERVE_ARGS = (process.env.BENCH_SERVE_ARGS ?? '').split(' ').filter(Boolean)

const SECONDS = positiveNumber('BENCH_SECONDS', 10)
const WARMUP_SECONDS = positiveNumber('BENCH_WARMUP_SECONDS', 2, true)
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? '1,32').split(',').map((v) => {
  const n = Number(v.trim())
  if (!Number.isSafeInteger(n) || n < 1 || n > 1024) fail(`BENCH_CONCURRENCY must be a comma-separated list of 1..1024, got ${JSON.stringify(v)}`)
  return n
})
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'warn'
const START_TIMEOUT_MS = 20_000
const REQUEST_TIMEOUT_MS = 10_000

/** @type {import('node:child_process').ChildProcess | undefined} */
let server
let dataDir = ''

function positiveNumber(name, fallback, allowZero = false) {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isFinite(n) || n < 0 || (!allowZero && n === 0) || n > 3600) fail(`${name} must be a number of seconds (0 < n ≤ 3600), got ${JSON.stringify(raw)}`)
  return n
}

function fail(message) {
  process.stderr.write(`bench: ${message}\n`)
  cleanup()
  process.exit(1)
}

function cleanup() {
  if (server && server.exitCode === null && server.signalCode === null) server.kill('SIGKILL')
  if (dataDir) rmSync(dataDir, { recursive: true, force: true })
  if (pgSchema) spawnSync('psql', [PG_URL, '-qc', `DROP SCHEMA IF EXISTS ${pgSchema} CASCADE`], { stdio: 'ignore', timeout: 20_000 })
  pgSchema = ''
}


function hasTaskset() {
  try {
    execFileSync('taskset', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** Starts the built server and resolves with its base URL once it prints "listening on". */
async function startServer(pin, adminKey) {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  dataDir = mkdtempSync(join(tmpdir(), 'evergreen-bench-'))
  const args = [
    ...(CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', CPU_PROF] : []),
    CLI, 'serve', '--host', '127.0.0.1', '--port', String(port), '--data-dir', dataDir, ...SERVE_ARGS,
  ]
  if (PG_URL) {
    pgSchema = `bench_${randomBytes(4).toString('hex')}`
    const created = spawnSync('psql', [PG_URL, '-v', 'ON_ERROR_STOP=1', '-qc', `CREATE SCHEMA ${pgSchema}`], { encoding: 'utf8', timeout: 20_000 })
    if (created.status !== 0) fail(`psql could not create a schema: ${created.stderr || created.error}`)
    const sep = PG_URL.includes('?') ? '&' : '?'
    args.push('--database-url', `${PG_URL}${sep}options=${encodeURIComponent(`-c search_path=${pgSchema}`)}`, '--secret', randomBytes(24).toString('hex'))
  }
  const env = { ...process.env }
  for (const k of Object.keys(env)) if (k.startsWith('EVERGREEN_') || k === 'DATABASE_URL' || k === 'PORT') delete env[k]
  Object.assign(env, {
    EVERGREEN_ISSUER: url,
    EVERGREEN_ADMIN_KEY: adminKey,
    EVERGREEN_RATE_LIMIT_TOKEN: '0',
    EVERGREEN_LOG_LEVEL: LOG_LEVEL,
  })
  server = pin
    ? spawn('taskset', ['-c', '0', process.execPath, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] })
    : spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start within ${START_TIMEOUT_MS} ms:\n${stderr}`)), START_TIMEOUT_MS)
    server.stderr.setEncoding('utf8').on('data', (d) => {
      stderr += d
      if (stderr.includes('listening on')) {
        clearTimeout(timer)
        resolve(undefined)
      }
    })
    server.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`server exited (${code ?? signal}) before listening:\n${stderr}`))
    })
  })
  server.removeAllListeners('exit')
  // Keep draining stderr (warnings) so the pipe never fills and stalls the server.
  server.stderr.resume()
  return url
}

async function stopServer() {
  if (!server || server.exitCode !== null || server.signalCode !== null) return
  const exited = new Promise((resolve) => server.once('exit', resolve))
  server.kill('SIGTERM')
  const timer = setTimeout(() => server?.kill('SIGKILL'), 5_000)
  await exited
  clearTimeout(timer)
}

async function adminGet(url, adminKey, path) {
  const res = await fetch(`${url}/admin/v1${path}`, { headers: { authorization: `Bearer ${adminKey}` } })
  const json = await res.json()
  if (!res.ok) throw new Error(`GET ${path} → ${res.status}: ${JSON.stringify(json)}`)
  return json
}

async function adminPost(url, adminKey, path, body) {
  const res = await fetch(`${url}/admin/v1${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  const json = await res.json()
  if (!res.ok) throw new Error(`POST ${path} → ${res.status}: ${JSON.stringify(json)}`)
  return json
}


/** One refresh grant over the keep-alive agent: resolves { status, text, ms }. */
function refresh(agent, port, body) {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/oauth/token',
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks = []
        res.on('data', (c) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - started }))
        res.on('error', reject)
      },
    )
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error('request timed out')))
    req.on('error', reject)
    req.end(body)
  })
}

/**
 * Runs `chains.length` connections for `seconds`: each keeps rotating its own refresh token.
 * A failed refresh breaks that chain, so the connection mints a fresh session and goes on.
 */
async function run(ctx, chains, seconds) {
  const concurrency = chains.length
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency })
  const latencies = []
  let ok = 0
  let errors = 0
  const firstErrors = []
  const started = performance.now()
  const cpuBefore = cpuMicros(ctx.serverPid)
  const deadline = started + seconds * 1000
  await Promise.all(
    chains.map(async (chain) => {
      while (performance.now() < deadline) {
        const body = `grant_type=refresh_token&client_id=${encodeURIComponent(ctx.clientId)}&refresh_token=${chain.refreshToken}`
        try {
          const r = await refresh(agent, ctx.port, body)
          latencies.push(r.ms)
          if (r.status === 200) {
            chain.refreshToken = JSON.parse(r.text).refresh_token
            chain.rotations++
            ok++
            continue
          }
          errors++
          if (firstErrors.length < 3) firstErrors.push(`${r.status} ${r.text.slice(0, 200)}`)
        } catch (err) {
          errors++
          if (firstErrors.length < 3) firstErrors.push(String(err))
        }
        Object.assign(chain, await ctx.mint(), { rotations: 0 })
        ctx.remints++
      }
    }),
  )
  const elapsed = (performance.now() - started) / 1000
  // Includes the re-mints' admin requests, if any (there are none when errors is 0).
  const cpuPerRequest = ok === 0 ? NaN : (cpuMicros(ctx.serverPid) - cpuBefore) / ok
  agent.destroy()
  latencies.sort((a, b) => a - b)
  const pct = (p) => (latencies.length === 0 ? NaN : latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))])
  return { concurrency, ok, errors, elapsed, rps: ok / elapsed, p50: pct(50), p99: pct(99), cpuPerRequest, firstErrors }
}

function table(rows) {
  const header = ['concurrency', 'requests/s', 'p50 ms', 'p99 ms', 'server CPU µs/req', 'errors', 'refreshes']
  const lines = rows.map((r) => [
    String(r.concurrency),
    Math.round(r.rps).toLocaleString('en-US'),
    r.p50.toFixed(2),
    r.p99.toFixed(2),
    Number.isNaN(r.cpuPerRequest) ? '-' : Math.round(r.cpuPerRequest).toLocaleString('en-US'),
    String(r.errors),
    r.ok.toLocaleString('en-US'),
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)))
  const fmt = (cells) => cells.map((c, i) => c.padStart(widths[i])).join('  ')
  return [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(fmt)].join('\n')
}

async function main() {
  if (!existsSync(join(ROOT, 'packages/cli/dist/main.js'))) fail('packages/cli/dist is missing: run `npm run build` (or `npm run bench`)')
  const maxConcurrency = Math.max(...CONCURRENCY)
  // A hard bound on the whole run, whatever happens to the server.
  const budget = (WARMUP_SECONDS + SECONDS * CONCURRENCY.length) * 1000 + 120_000
  setTimeout(() => fail(`gave up after ${Math.round(budget / 1000)} s`), budget).unref()

  const cores = availableParallelism()
  // Read before we add load of our own: anything else running skews every figure below.
  const loadBefore = loadavg()[0]
  const pin = cores >= 2 && hasTaskset()
  if (pin) execFileSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' })
  const adminKey = `ega_bench_${randomBytes(16).toString('hex')}`
  const url = await startServer(pin, adminKey)
  const port = Number(new URL(url).port)

  const user = await adminPost(url, adminKey, '/users', { email: 'bench@example.test' })
  const client = await adminPost(url, adminKey, '/clients', { name: 'bench', grant_types: ['refresh_token'], token_endpoint_auth_method: 'none' })
  const ctx = {
    port,
    serverPid: server?.pid ?? 0,
    clientId: client.client_id,
    remints: 0,
    mint: async () => {
      const minted = await adminPost(url, adminKey, '/tokens', { user: user.id, client_id: client.client_id })
      return { refreshToken: minted.refresh_token, sessionId: minted.session_id }
    },
  }
  const chains = []
  for (let i = 0; i < maxConcurrency; i++) chains.push({ ...(await ctx.mint()), rotations: 0 })

  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU'
  console.log(`Evergreen refresh benchmark: ${process.version}, ${cores} CPU(s) (${cpu}), SQLite in a temp dir`)
  console.log(
    pin
      ? 'server pinned to CPU 0 (taskset -c 0), load generator pinned to CPU 1'
      : `not pinned (${cores < 2 ? 'one CPU' : 'taskset not found'}): server and load generator share the CPUs`,
  )
  console.log(
    `load average before start: ${loadBefore.toFixed(2)}` +
      (loadBefore > 0.5 ? ' (other processes are busy on this machine: expect lower, noisier figures)' : ''),
  )
  console.log(`log level ${LOG_LEVEL}, rate limit off, ${SECONDS} s per run${WARMUP_SECONDS > 0 ? `, ${WARMUP_SECONDS} s warm-up` : ''}, one session per connection\n`)

  if (WARMUP_SECONDS > 0) await run(ctx, chains, WARMUP_SECONDS)
  const results = []
  for (const c of CONCURRENCY) results.push(await run(ctx, chains.slice(0, c), SECONDS))
  console.log(table(results))
  if (JSON_OUT) console.log(`json ${JSON.stringify(results.map(({ firstErrors: _, ...r }) => r))}`)

  for (const r of results) {
    for (const e of r.firstErrors) console.log(`  concurrency ${r.concurrency} error: ${e}`)
  }
  // Every rotation the client saw must be one the server recorded, and no more: each session's
  // generation equals the number of successful refreshes made on its chain.
  let mismatched = 0
  for (const chain of chains) {
    const session = await adminGet(url, adminKey, `/sessions/${chain.sessionId}`)
    if (session.generation !== chain.rotations || session.active !== true) mismatched++
  }
  console.log(
    mismatched === 0
      ? `\ncheck: all ${chains.length} sessions are active and their generations match the rotations counted here`
      : `\ncheck FAILED: ${mismatched} of ${chains.length} sessions disagree with the rotations counted here`,
  )
  if (mismatched > 0) process.exitCode = 1
  const errors = results.reduce((n, r) => n + r.errors, 0)
  console.log(
    `${errors === 0 ? 'no errors' : `${errors} errors (${ctx.remints} sessions re-minted)`}; ` +
      'targets (docs/architecture.md "Performance budget"): ratios against oidc-provider and the minimal endpoint, measured side by side by bench/compare.js (npm run bench)',
  )
}

process.once('SIGINT', () => fail('interrupted'))
process.once('SIGTERM', () => fail('terminated'))
main()
  .then(async () => {
    await stopServer()
    cleanup()
    process.exit(process.exitCode ?? 0)
  })
  .catch(async (err) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.stack : String(err)}\n`)
    await stopServer().catch(() => {})
    cleanup()
    process.exit(1)
  })

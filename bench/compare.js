#!/usr/bin/env node
// Side by side, in one run: Evergreen (SQLite and PostgreSQL), oidc-provider 9 (SQLite through a
// minimal adapter, and in memory) and a minimal hand-written endpoint, all driven by the same load
// generator; then the web middleware's valid-cookie path and `evergreen token` as a whole process.
// Prints the table and the ratios against the targets, and writes bench/RESULTS.md.
//
//   npm run bench                       # build, then this
//   BENCH_REQUESTS=3000 node bench/compare.js
//
// Every server is a child process pinned to CPU 0 (`taskset -c 0`) when there are two CPUs and
// taskset exists; this process, the load generator, pins itself to CPU 1. The generator is a
// closed loop over keep-alive node:http connections, and every request presents ONE UNUSED
// refresh token, pre-minted before the clock starts, so every request is a real rotation and no
// chain's latency feeds the next request. Server CPU per request comes from /proc/<pid>/stat
// (utime + stime) read before and after each run. See bench/README.md.

/* global fetch -- Node 20's built-in; the repo's ESLint globals list only process, console, Buffer, URL */

import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { clearTimeout, setTimeout } from 'node:timers'
import { fileURLToPath, URLSearchParams } from 'node:url'
import { cpuMicros, freePort } from './lib/process.js'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const CLI = join(ROOT, 'packages/cli/bin/evergreen.js')
const REQUESTS = bounded('BENCH_REQUESTS', 4000, 100, 200_000)
const CLI_RUNS = bounded('BENCH_CLI_RUNS', 21, 5, 500)
// Rounds of the refresh runs: every server runs once per round, in an order that rotates, and the
// table reports each figure's median over the rounds, so a burst of load from elsewhere on the
// machine lands on one round of one server instead of deciding a ratio.
const ROUNDS = bounded('BENCH_ROUNDS', 5, 1, 15)
const PG_URL = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const RUN_TIMEOUT_MS = 120_000
const REQUEST_TIMEOUT_MS = 10_000

/** @type {Set<import('node:child_process').ChildProcess>} */
const children = new Set()
const tempDirs = []

function bounded(name, fallback, min, max) {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isSafeInteger(n) || n < min || n > max) fail(`${name} must be an integer in ${min}..${max}, got ${JSON.stringify(raw)}`)
  return n
}

function safe(fn) {
  try {
    return fn()
  } catch {
    return undefined
  }
}

function fail(message) {
  process.stderr.write(`bench: ${message}\n`)
  cleanup()
  process.exit(1)
}

function cleanup() {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true })
}


// Read before this process pins itself: availableParallelism() follows the CPU affinity mask.
const CORES = availableParallelism()
const PIN = CORES >= 2 && spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0

/** Starts `args` under node (pinned to CPU 0) and resolves once a line says "listening on <url>". */
async function startChild(args, env, pattern = /listening on (http:\/\/\S+)/) {
  // BENCH_CPU_PROF=<dir>: a V8 CPU profile per server, written when it stops (slows every server).
  const label = args.find((a) => a.endsWith('.js')) ?? 'server'
  if (process.env.BENCH_CPU_PROF) args = ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF, ...args]
  const child = PIN
    ? spawn('taskset', ['-c', '0', process.execPath, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  let output = ''
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${label} did not start within 30 s:\n${output}`)), 30_000)
    const onData = (d) => {
      output += d
      const m = pattern.exec(output)
      if (m) {
        clearTimeout(timer)
        resolve(m[1])
      }
    }
    child.stdout.setEncoding('utf8').on('data', onData)
    child.stderr.setEncoding('utf8').on('data', onData)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`${label} exited (${code ?? signal}) before listening:\n${output}`))
    })
  })
  child.removeAllListeners('exit')
  return { child, url, port: Number(new URL(url).port), output: () => output }
}

async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return children.delete(child)
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
  await exited
  clearTimeout(timer)
  children.delete(child)
}


async function json(url, init) {
  const res = await fetch(url, init)
  const text = await res.text()
  if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${url} → ${res.status}: ${text.slice(0, 300)}`)
  return JSON.parse(text)
}

function request(agent, port, method, path, body, headers) {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const req = http.request({ host: '127.0.0.1', port, path, method, agent, headers: body ? { ...headers, 'content-length': Buffer.byteLength(body) } : headers }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - started }))
      res.on('error', reject)
    })
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error('request timed out')))
    req.on('error', reject)
    req.end(body)
  })
}

/**
 * The load generator: `concurrency` keep-alive connections in a closed loop, request i built by
 * `make(i)`, `count` requests in all (bounded also by RUN_TIMEOUT_MS).
 */
async function load(target, { concurrency, count, make, expect = 200 }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency })
  const latencies = []
  const firstErrors = []
  let next = 0
  let errors = 0
  const deadline = performance.now() + RUN_TIMEOUT_MS
  const cpuBefore = cpuMicros(target.child.pid)
  const started = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count && performance.now() < deadline) {
        const { method, path, body, headers } = make(next++)
        try {
          const r = await request(agent, target.port, method, path, body, headers)
          latencies.push(r.ms)
          if (r.status !== expect) {
            errors++
            if (firstErrors.length < 3) firstErrors.push(`${r.status} ${r.text.slice(0, 200)}`)
          }
        } catch (err) {
          errors++
          if (firstErrors.length < 3) firstErrors.push(String(err))
        }
      }
    }),
  )
  const elapsed = (performance.now() - started) / 1000
  const cpu = cpuMicros(target.child.pid) - cpuBefore
  agent.destroy()
  latencies.sort((a, b) => a - b)
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]
  const ok = latencies.length - errors
  return { concurrency, ok, errors, rps: ok / elapsed, p50: pct(50), p99: pct(99), cpuUs: cpu / Math.max(1, latencies.length), firstErrors }
}

const form = (o) => new URLSearchParams(o).toString()
const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

const WARMUP = Math.floor(REQUESTS / 4)
const C1 = Math.floor(REQUESTS / 4)
/** Every server's pre-minted tokens: the warm-up, then each round's run at 1 and at 32 connections. */
const refreshTokensNeeded = () => WARMUP + ROUNDS * (C1 + REQUESTS)

/**
 * A started server with its pre-minted tokens, ready for refresh runs: `run` spends the next
 * `count` tokens at `concurrency` connections.
 */
function refreshTarget(label, target, tokens, path, clientId) {
  let used = 0
  const run = (concurrency, count) => {
    const batch = tokens.slice(used, (used += count))
    if (batch.length < count) throw new Error(`${label}: ran out of pre-minted tokens`)
    return load(target, { concurrency, count, make: (i) => ({ method: 'POST', path, body: form({ grant_type: 'refresh_token', client_id: clientId, refresh_token: batch[i] }), headers: FORM }) })
  }
  return { label, target, run }
}

async function mintInChunks(target, n) {
  const tokens = []
  while (tokens.length < n) tokens.push(...(await json(`${target.url}/__bench/mint?n=${Math.min(5000, n - tokens.length)}`, { method: 'POST' })))
  return tokens
}

/** Starts `evergreen serve` (SQLite, or PostgreSQL at `databaseUrl`) and mints its tokens. */
async function startEvergreen(label, databaseUrl) {
  const dataDir = mkdtempSync(join(tmpdir(), 'evergreen-bench-'))
  tempDirs.push(dataDir)
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const adminKey = `ega_bench_${randomBytes(16).toString('hex')}`
  const env = { ...process.env }
  for (const k of Object.keys(env)) if (k.startsWith('EVERGREEN_') || k === 'DATABASE_URL' || k === 'PORT') delete env[k]
  Object.assign(env, { EVERGREEN_ISSUER: url, EVERGREEN_ADMIN_KEY: adminKey, EVERGREEN_RATE_LIMIT_TOKEN: '0', EVERGREEN_LOG_LEVEL: 'warn' })
  const args = [CLI, 'serve', '--host', '127.0.0.1', '--port', String(port), '--data-dir', dataDir]
  if (databaseUrl) {
    args.push('--database-url', databaseUrl)
    env.EVERGREEN_SECRET = randomBytes(32).toString('base64url')
  }
  const target = await startChild(args, env)
  const admin = (path, body) => json(`${url}/admin/v1${path}`, { method: 'POST', headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const user = await admin('/users', { email: 'bench@example.test' })
  const client = await admin('/clients', { name: 'bench', grant_types: ['refresh_token'], token_endpoint_auth_method: 'none', allowed_scopes: ['openid', 'email'] })
  const rs = await admin('/clients', { name: 'rs', grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic' }).catch(() => undefined)
  // Minting is not measured: 16 in flight so setup stays short.
  const tokens = []
  let accessToken
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (tokens.length < refreshTokensNeeded()) {
      const minted = await admin('/tokens', { user: user.id, client_id: client.client_id, scope: 'openid email' })
      tokens.push(minted.refresh_token)
      accessToken ??= minted.access_token
    }
  }))
  const server = refreshTarget(label, target, tokens, '/oauth/token', client.client_id)
  /** Userinfo and introspection on one access token, 32 connections (SQLite only, once). */
  server.extra = async () => {
    const count = Math.floor(REQUESTS / 2)
    const result = {}
    if (!accessToken) return result
    result.userinfo = await load(target, { concurrency: 32, count, make: () => ({ method: 'GET', path: '/userinfo', headers: { authorization: `Bearer ${accessToken}` } }) })
    if (rs?.client_secret) {
      const basic = `Basic ${Buffer.from(`${encodeURIComponent(rs.client_id)}:${encodeURIComponent(rs.client_secret)}`).toString('base64')}`
      result.introspection = await load(target, { concurrency: 32, count, make: () => ({ method: 'POST', path: '/oauth/introspect', body: form({ token: accessToken }), headers: { ...FORM, authorization: basic } }) })
    }
    return result
  }
  return server
}

/** Starts one of bench/servers/ and mints its tokens through its `/__bench/mint` route. */
async function startMinted(label, script, extraArgs, path, clientId) {
  const dataDir = mkdtempSync(join(tmpdir(), 'evergreen-bench-'))
  tempDirs.push(dataDir)
  const target = await startChild([join(ROOT, 'bench/servers', script), dataDir, ...extraArgs], { ...process.env, NODE_ENV: 'production' })
  return refreshTarget(label, target, await mintInChunks(target, refreshTokensNeeded()), path, clientId)
}

const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b)
  if (s.length === 0) return NaN
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

/** One row of the table from a server's rounds: each figure's median; errors summed. */
function medianRun(runs) {
  return {
    concurrency: runs[0].concurrency,
    rps: median(runs.map((r) => r.rps)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    cpuUs: median(runs.map((r) => r.cpuUs)),
    errors: runs.reduce((n, r) => n + r.errors, 0),
    firstErrors: runs.flatMap((r) => r.firstErrors).slice(0, 3),
  }
}

/**
 * The refresh runs, interleaved: a warm-up per server, then ROUNDS rounds in which every server
 * runs at 1 and at 32 connections, the servers' order rotating from round to round. All servers
 * stay up (idle) throughout; each is pinned to the same CPU, so only the one under load uses it.
 */
async function interleavedRefreshRuns(servers) {
  for (const s of servers) await s.run(32, WARMUP)
  const runs = new Map(servers.map((s) => [s, { c1: [], c32: [] }]))
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < servers.length; k++) {
      const s = servers[(k + round) % servers.length]
      const c1 = await s.run(1, C1)
      const c32 = await s.run(32, REQUESTS)
      runs.get(s).c1.push(c1)
      runs.get(s).c32.push(c32)
      console.log(`  round ${round + 1} ${s.label.padEnd(24)} c1 ${fmt(c1.rps).padStart(6)}/s p50 ${fmt(c1.p50, 2)} ms, ${fmt(c1.cpuUs)} µs; c32 ${fmt(c32.rps).padStart(6)}/s p99 ${fmt(c32.p99, 2)} ms, ${fmt(c32.cpuUs)} µs${c1.errors + c32.errors ? `, errors ${c1.errors + c32.errors}` : ''}`)
    }
  }
  return new Map(servers.map((s) => [s, { c1: medianRun(runs.get(s).c1), c32: medianRun(runs.get(s).c32) }]))
}

function psql(sql) {
  return spawnSync('psql', [PG_URL, '-v', 'ON_ERROR_STOP=1', '-qc', sql], { encoding: 'utf8', timeout: 20_000 })
}

/** The web middleware, in its own process: parses bench/web-valid-cookie.js's `warm` line. */
function benchWebCookie() {
  const r = spawnSync(process.execPath, [join(ROOT, 'bench/web-valid-cookie.js')], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, BENCH_ITERATIONS: '20000' } })
  const us = (label) => Number(new RegExp(`^${label}\\s+([\\d.]+) µs`, 'm').exec(r.stdout ?? '')?.[1])
  return { warm: us('warm'), withRequest: us('warm \\+ new Request'), firstSight: us('first sight \\(ES256\\)'), ok: r.status === 0 }
}

/** `evergreen token` with a valid stored token vs `node -e ''`: interleaved runs, medians. */
async function benchCliToken() {
  const dir = mkdtempSync(join(tmpdir(), 'evergreen-bench-cli-'))
  tempDirs.push(dir)
  const { createFileStore } = await import('../packages/client/dist/node/index.js')
  const now = Date.now()
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url')
  const issuer = 'https://auth.bench.example'
  const accessToken = `${b64({ alg: 'ES256', typ: 'at+jwt' })}.${b64({ iss: issuer, sub: 'usr_bench', exp: Math.floor(now / 1000) + 86_400 })}.c2ln`
  await createFileStore({ dir }).write({ issuer, profile: 'default' }, { version: 1, issuer, client_id: 'cli', access_token: accessToken, access_token_expires_at: now + 86_400_000, refresh_token: `egr_${'x'.repeat(43)}`, token_type: 'Bearer', obtained_at: now })
  const env = { ...process.env, EVERGREEN_CONFIG_DIR: dir }
  for (const k of ['EVERGREEN_TOKEN', 'EVERGREEN_ISSUER', 'EVERGREEN_PROFILE', 'EVERGREEN_STORE']) delete env[k]
  const check = spawnSync(process.execPath, [CLI, 'token'], { env, encoding: 'utf8', timeout: 20_000 })
  if (check.status !== 0 || check.stdout.trim() !== accessToken) throw new Error(`evergreen token did not print the stored token (exit ${check.status}): ${check.stderr}`)
  const pinned = (args) => (PIN ? ['taskset', ['-c', '0', process.execPath, ...args]] : [process.execPath, args])
  const commands = { node: pinned(['-e', '']), token: pinned([CLI, 'token']) }
  const times = { node: [], token: [] }
  // Interleaved, so a burst of load from elsewhere hits both sides alike.
  for (let i = 0; i < CLI_RUNS; i++) {
    for (const [name, [file, args]] of Object.entries(commands)) {
      const t0 = performance.now()
      spawnSync(file, args, { env, stdio: 'ignore', timeout: 20_000 })
      times[name].push(performance.now() - t0)
    }
  }
  return { nodeMs: median(times.node), tokenMs: median(times.token), runs: CLI_RUNS }
}

const fmt = (n, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '—')
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : NaN)
const verdict = (ok) => (ok === undefined ? 'n/a' : ok ? 'met' : 'MISSED')

function buildReport(meta, rows, extra, web, cli) {
  const lines = []
  lines.push('| server | conns | req/s | p50 ms | p99 ms | server CPU µs/req | errors |', '|---|---|---|---|---|---|---|')
  for (const row of rows) {
    for (const key of ['c1', 'c32']) {
      const r = row[key]
      if (r) lines.push(`| ${row.label} | ${r.concurrency} | ${fmt(r.rps)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${fmt(r.cpuUs)} | ${r.errors} |`)
    }
  }
  for (const [name, r] of Object.entries(extra)) if (r) lines.push(`| ${name} | ${r.concurrency} | ${fmt(r.rps)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${fmt(r.cpuUs)} | ${r.errors} |`)
  const by = Object.fromEntries(rows.map((r) => [r.key, r]))
  const eg = by.evergreen
  const targets = [
    ['refresh, SQLite, 32 conns: Evergreen / oidc-provider (SQLite) req/s', ratio(eg?.c32.rps, by.oidcSqlite?.c32.rps), '≥ 3', (x) => x >= 3],
    ['refresh, SQLite, 32 conns: Evergreen / minimal req/s', ratio(eg?.c32.rps, by.minimal?.c32.rps), '≥ 0.85', (x) => x >= 0.85],
    ['refresh, SQLite, 32 conns: Evergreen / minimal p99', ratio(eg?.c32.p99, by.minimal?.c32.p99), '≤ 1.5', (x) => x <= 1.5],
    ['refresh, SQLite, 1 conn: Evergreen / minimal p50', ratio(eg?.c1.p50, by.minimal?.c1.p50), '≤ 1.2', (x) => x <= 1.2],
    ['refresh CPU µs/req, 32 conns: Evergreen PostgreSQL / SQLite', ratio(by.evergreenPg?.c32.cpuUs, eg?.c32.cpuUs), '≤ 1.3', (x) => x <= 1.3],
    ['web valid-cookie path (warm), µs/request', web.warm, '< 50', (x) => x < 50],
    ['`evergreen token` / `node -e \'\'` median wall time', ratio(cli?.tokenMs, cli?.nodeMs), '≤ 1.5', (x) => x <= 1.5],
  ]
  const tlines = ['| ratio | measured | target | |', '|---|---|---|---|']
  for (const [what, value, target, ok] of targets) tlines.push(`| ${what} | ${fmt(value, 2)} | ${target} | ${verdict(Number.isFinite(value) ? ok(value) : undefined)} |`)
  const info = [
    `| ratio (for reference) | measured |`,
    '|---|---|',
    `| refresh, 32 conns: Evergreen / oidc-provider (memory) req/s | ${fmt(ratio(eg?.c32.rps, by.oidcMemory?.c32.rps), 2)} |`,
    `| refresh, 32 conns: Evergreen PostgreSQL / SQLite req/s | ${fmt(ratio(by.evergreenPg?.c32.rps, eg?.c32.rps), 2)} |`,
    `| refresh CPU µs/req, 32 conns: Evergreen / minimal | ${fmt(ratio(eg?.c32.cpuUs, by.minimal?.c32.cpuUs), 2)} |`,
    `| web: warm + new Request / first sight (ES256), µs | ${fmt(web.withRequest, 1)} / ${fmt(web.firstSight, 1)} |`,
    `| \`evergreen token\` / \`node -e ''\`, ms (median of ${cli?.runs ?? 0}) | ${fmt(cli?.tokenMs, 1)} / ${fmt(cli?.nodeMs, 1)} |`,
  ]
  return { table: lines.join('\n'), targets: tlines.join('\n'), info: info.join('\n'), meta }
}

async function main() {
  if (!existsSync(join(ROOT, 'packages/cli/dist/main.js'))) fail('packages/cli/dist is missing: run `npm run build` (or `npm run bench`)')
  setTimeout(() => fail('gave up after 15 minutes'), 15 * 60_000).unref()
  const loadBefore = loadavg()[0]
  if (PIN) execFileSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' })
  const versions = Object.fromEntries(['oidc-provider', 'better-sqlite3', 'pg', 'hono', 'jose'].map((p) => [p, safe(() => JSON.parse(readFileSync(join(ROOT, 'node_modules', p, 'package.json'), 'utf8')).version) ?? '—']))
  const evergreenVersion = JSON.parse(readFileSync(join(ROOT, 'packages/server/package.json'), 'utf8')).version
  const commit = safe(() => execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim()) ?? 'unknown'
  const meta = {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    cpu: cpus()[0]?.model.trim() ?? 'unknown CPU',
    cores: CORES,
    node: process.version,
    loadBefore,
    pin: PIN,
    versions: `@evergreen/server ${evergreenVersion} (${commit}), ${Object.entries(versions).map(([k, v]) => `${k} ${v}`).join(', ')}`,
  }
  console.log(`${meta.date}: ${meta.cpu}, ${meta.cores} CPU(s), Node ${meta.node}; load average before start ${loadBefore.toFixed(2)}`)
  console.log(PIN ? 'servers pinned to CPU 0 (taskset -c 0), load generator on CPU 1' : 'not pinned: servers and load generator share the CPUs')
  console.log(`${ROUNDS} round(s) of ${REQUESTS} refresh requests at 32 conns and ${C1} at 1 conn, each on its own unused pre-minted token\n`)

  const servers = []
  const schema = `bench_${randomBytes(4).toString('hex')}`
  let schemaCreated = false
  const start = async (key, what, fn) => {
    process.stdout.write(`starting ${what} … `)
    try {
      const server = await fn()
      server.key = key
      servers.push(server)
      console.log('ready')
    } catch (err) {
      console.log(`skipped: ${String(err?.message ?? err).split('\n')[0]}`)
    }
  }
  const rows = []
  const extra = {}
  try {
    await start('evergreen', 'Evergreen, SQLite', () => startEvergreen('Evergreen, SQLite'))
    const created = psql(`CREATE SCHEMA ${schema}`)
    if (created.status === 0) {
      schemaCreated = true
      await start('evergreenPg', 'Evergreen, PostgreSQL', () => startEvergreen('Evergreen, PostgreSQL', `${PG_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}`))
    } else console.log(`Evergreen, PostgreSQL … skipped: ${PG_URL} is not reachable (${(created.stderr || created.error?.message || '').trim().split('\n')[0]})`)
    await start('minimal', 'minimal endpoint (node:http + better-sqlite3)', () => startMinted('minimal endpoint', 'minimal.js', [], '/token', 'bench'))
    await start('oidcSqlite', 'oidc-provider, SQLite adapter', () => startMinted('oidc-provider, SQLite', 'oidc-provider.js', ['sqlite'], '/token', 'bench'))
    await start('oidcMemory', 'oidc-provider, memory adapter', () => startMinted('oidc-provider, memory', 'oidc-provider.js', ['memory'], '/token', 'bench'))
    console.log(`\nrefresh runs: a warm-up of ${WARMUP} per server, then ${ROUNDS} interleaved round(s)`)
    const medians = await interleavedRefreshRuns(servers)
    for (const s of servers) {
      const m = medians.get(s)
      rows.push({ key: s.key, label: s.label, ...m })
      for (const e of [...m.c1.firstErrors, ...m.c32.firstErrors]) console.log(`  error (${s.label}): ${e}`)
    }
    const eg = servers.find((s) => s.key === 'evergreen')
    if (eg) {
      const more = await eg.extra()
      extra['Evergreen userinfo (JWT)'] = more.userinfo
      extra['Evergreen introspection (JWT)'] = more.introspection
    }
  } finally {
    for (const s of servers) await stopChild(s.target.child)
    if (schemaCreated) psql(`DROP SCHEMA ${schema} CASCADE`)
  }

  process.stdout.write('web valid-cookie path … ')
  const web = benchWebCookie()
  console.log(`${fmt(web.warm, 1)} µs warm`)
  process.stdout.write('`evergreen token` vs `node -e \'\'` … ')
  const cli = await benchCliToken().catch((err) => (console.log(`skipped: ${err.message}`), undefined))
  if (cli) console.log(`${fmt(cli.tokenMs, 1)} ms vs ${fmt(cli.nodeMs, 1)} ms`)

  const report = buildReport(meta, rows, extra, web, cli)
  console.log(`\n${report.table}\n\n${report.targets}\n\n${report.info}`)
  const md = `# Benchmark results

Written by \`npm run bench\` (bench/compare.js); see bench/README.md for what each row does.

- date: ${meta.date}
- machine: ${meta.cpu}, ${meta.cores} CPU(s)${meta.pin ? '; servers pinned to CPU 0 (`taskset -c 0`), load generator on CPU 1' : '; not pinned'}
- load average (1 min) before the run: ${meta.loadBefore.toFixed(2)}${meta.loadBefore > 0.5 ? ' — other work was running: the absolute figures are low and noisy; read the ratios, and repeat before believing one' : ''}
- Node ${meta.node}; ${meta.versions}
- refresh: per round, ${REQUESTS} requests at 32 connections and ${C1} at 1, after ${WARMUP} warm-up requests; ${ROUNDS} rounds, the servers interleaved (their order rotating each round), each figure the median over the rounds; every request on its own pre-minted unused refresh token
- server CPU: the server process's utime + stime from /proc/<pid>/stat over the run, divided by the requests (clock-tick resolution)

## Table

${report.table}

Userinfo and introspection are Evergreen only: oidc-provider 9 neither introspects nor serves
userinfo for the JWT access tokens this configuration issues, so there is no like-for-like row.

## Against the targets

${report.targets}

${report.info}

## Rerun

\`\`\`sh
npm install
npm run bench                          # build, then bench/compare.js and bench/scale-out.js (about 7 minutes)
BENCH_REQUESTS=2000 node bench/compare.js
BENCH_ROUNDS=9 node bench/compare.js   # more interleaved rounds, steadier medians
BENCH_POSTGRES_URL=postgres://user@host:5432/db node bench/compare.js
\`\`\`
`
  // What follows the generated part is kept: bench/scale-out.js's section and the hand-written
  // "## Notes" (the analysis of the figures), which a rerun must not erase.
  const resultsFile = join(ROOT, 'bench/RESULTS.md')
  const previous = existsSync(resultsFile) ? readFileSync(resultsFile, 'utf8') : ''
  const keptAt = ['\n## Scale-out on PostgreSQL\n', '\n## Notes\n'].map((m) => previous.indexOf(m)).filter((i) => i >= 0).sort((a, b) => a - b)[0]
  writeFileSync(resultsFile, keptAt === undefined ? md : `${md.trimEnd()}\n${previous.slice(keptAt)}`)
  console.log('\nwrote bench/RESULTS.md')
  if (rows.some((r) => r.c1.errors + r.c32.errors > 0) || !web.ok) process.exitCode = 1
}

process.once('SIGINT', () => fail('interrupted'))
process.once('SIGTERM', () => fail('terminated'))
main()
  .then(() => {
    cleanup()
    process.exit(process.exitCode ?? 0)
  })
  .catch((err) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.stack : String(err)}\n`)
    cleanup()
    process.exit(1)
  })

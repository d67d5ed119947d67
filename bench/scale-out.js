#!/usr/bin/env node
// Scale-out on one PostgreSQL: the refresh grant served by 1 process, by 2 nodes (two
// `evergreen serve` on their own ports, the load split between them) and by 1 node with
// `--workers 2`, all on one database. Run by `npm run bench` after compare.js; appends its table
// to bench/RESULTS.md (BENCH_RESULTS=0: print only).
//
//   node bench/scale-out.js                      # dist/ built; PostgreSQL at BENCH_POSTGRES_URL
//   BENCH_REQUESTS=2000 node bench/scale-out.js
//
// Per configuration: pre-minted unused refresh tokens (one rotation per request), a warm-up, then
// BENCH_REQUESTS at 32 connections. Reported: req/s, p50/p99, the server processes' CPU per
// refresh, the PostgreSQL backends' CPU per refresh (the backends serving this run, found by
// application_name, read from /proc), and PostgreSQL commits per refresh (pg_stat_database of a
// database created for the run: one per statement outside a transaction, so it counts round trips).
//
// On a 2-core machine the servers are pinned to CPU 0 and the generator to CPU 1, so req/s cannot
// grow with a second process: CPU per refresh is the figure that says what more cores would give.

/* global fetch -- Node 20's built-in; the repo's ESLint globals list only process, console, Buffer, URL */

import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout } from 'node:timers'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath, URLSearchParams } from 'node:url'
import { cpuMicros, freePort } from './lib/process.js'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const CLI = join(ROOT, 'packages/cli/bin/evergreen.js')
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 4000)
const PG_URL = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const APP = `evergreen-scale-${randomBytes(3).toString('hex')}`
const CORES = availableParallelism()
const PIN = CORES >= 2 && spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0

const children = new Set()
const dirs = []
const cleanup = () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
}
process.once('SIGINT', () => (cleanup(), process.exit(1)))
setTimeout(() => (process.stderr.write('scale-out: gave up after 10 minutes\n'), cleanup(), process.exit(1)), 10 * 60_000).unref()

function psql(sql, url = PG_URL) {
  return spawnSync('psql', [url, '-v', 'ON_ERROR_STOP=1', '-Atqc', sql], { encoding: 'utf8', timeout: 20_000 })
}

/** PG_URL naming another database on the same server. */
function databaseUrl(name) {
  const u = new URL(PG_URL)
  u.pathname = `/${name}`
  return u.toString()
}



/** CPU µs of the PostgreSQL backends serving this run (by application_name). */
function pgCpu() {
  const r = psql(`SELECT pid FROM pg_stat_activity WHERE application_name = '${APP}'`)
  return (r.stdout ?? '').split('\n').filter(Boolean).reduce((n, pid) => n + cpuMicros(pid), 0)
}
/**
 * Commits in `db` (a database of this run alone, so no one else's work counts), after the
 * statistics are flushed: backends report them at most once a second when idle.
 */
async function pgCommits(db) {
  await sleep(1500)
  return Number(psql(`SELECT xact_commit FROM pg_stat_database WHERE datname = '${db}'`).stdout.trim())
}

async function startNode(databaseUrl, secret, adminKey, extra = []) {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const dataDir = mkdtempSync(join(tmpdir(), 'evergreen-scale-'))
  dirs.push(dataDir)
  const env = { ...process.env }
  for (const k of Object.keys(env)) if (k.startsWith('EVERGREEN_') || k === 'DATABASE_URL' || k === 'PORT') delete env[k]
  Object.assign(env, { EVERGREEN_ISSUER: 'http://evergreen.bench', EVERGREEN_ADMIN_KEY: adminKey, EVERGREEN_SECRET: secret, EVERGREEN_RATE_LIMIT_TOKEN: '0', EVERGREEN_LOG_LEVEL: 'warn' })
  const args = [CLI, 'serve', '--host', '127.0.0.1', '--port', String(port), '--data-dir', dataDir, '--database-url', databaseUrl, ...extra]
  const child = PIN ? spawn('taskset', ['-c', '0', process.execPath, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] }) : spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  let out = ''
  await new Promise((resolve, reject) => {
    const onData = (d) => {
      out += d
      if (out.includes('listening on')) resolve()
    }
    child.stdout.setEncoding('utf8').on('data', onData)
    child.stderr.setEncoding('utf8').on('data', onData)
    child.once('exit', (code) => reject(new Error(`node exited (${code}):\n${out}`)))
    setTimeout(() => reject(new Error(`node did not start:\n${out}`)), 30_000).unref()
  })
  child.removeAllListeners('exit')
  return { child, url, port }
}

async function stopNode(node) {
  if (node.child.exitCode !== null) return
  const exited = new Promise((r) => node.child.once('exit', r))
  node.child.kill('SIGTERM')
  await Promise.race([exited, sleep(8000).then(() => node.child.kill('SIGKILL'))])
  children.delete(node.child)
}

function post(agent, port, path, body, headers) {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', agent, headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - started }))
    })
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end(body)
  })
}

/** 32 connections in a closed loop, spread evenly over `nodes`; each request on its own token. */
async function load(nodes, clientId, tokens) {
  const agents = nodes.map(() => new http.Agent({ keepAlive: true, maxSockets: 32 }))
  const latencies = []
  let next = 0
  let errors = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: 32 }, async (_, conn) => {
      const n = conn % nodes.length
      while (next < tokens.length) {
        const body = new URLSearchParams({ grant_type: 'refresh_token', client_id: clientId, refresh_token: tokens[next++] }).toString()
        try {
          const r = await post(agents[n], nodes[n].port, '/oauth/token', body, { 'content-type': 'application/x-www-form-urlencoded' })
          latencies.push(r.ms)
          if (r.status !== 200) errors++
        } catch {
          errors++
        }
      }
    }),
  )
  const elapsed = (performance.now() - started) / 1000
  for (const a of agents) a.destroy()
  latencies.sort((a, b) => a - b)
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]
  return { ok: latencies.length - errors, errors, rps: (latencies.length - errors) / elapsed, p50: pct(50), p99: pct(99) }
}

async function configuration(label, databaseUrl, db, layout) {
  const secret = randomBytes(32).toString('base64url')
  const adminKey = `ega_bench_${randomBytes(16).toString('hex')}`
  const nodes = []
  // One node first: it migrates and makes the first key; the others find them.
  for (const extra of layout) nodes.push(await startNode(databaseUrl, secret, adminKey, extra))
  try {
    const admin = async (path, body) => {
      const res = await fetch(`${nodes[0].url}/admin/v1${path}`, { method: 'POST', headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
      if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`)
      return res.json()
    }
    const user = await admin('/users', { email: `scale-${randomBytes(3).toString('hex')}@example.test` })
    const client = await admin('/clients', { name: 'scale', grant_types: ['refresh_token'], token_endpoint_auth_method: 'none' })
    const tokens = []
    const need = Math.floor(REQUESTS / 4) + REQUESTS
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (tokens.length < need) tokens.push((await admin('/tokens', { user: user.id, client_id: client.client_id })).refresh_token)
    }))
    await load(nodes, client.client_id, tokens.slice(0, Math.floor(REQUESTS / 4)))
    const measured = tokens.slice(Math.floor(REQUESTS / 4))
    const cpu0 = nodes.reduce((n, node) => n + cpuMicros(node.child.pid), 0)
    const pg0 = pgCpu()
    const commits0 = await pgCommits(db)
    const r = await load(nodes, client.client_id, measured)
    const commits = (await pgCommits(db)) - commits0
    const pg = pgCpu() - pg0
    const cpu = nodes.reduce((n, node) => n + cpuMicros(node.child.pid), 0) - cpu0
    return { label, ...r, serverCpu: cpu / measured.length, pgCpu: pg / measured.length, commits: commits / measured.length }
  } finally {
    await Promise.all(nodes.map(stopNode))
  }
}

async function main() {
  if (!existsSync(join(ROOT, 'packages/cli/dist/main.js'))) throw new Error('run `npm run build` first')
  const reachable = psql('SELECT 1')
  if (reachable.status !== 0) {
    console.log(`scale-out: skipped, ${PG_URL} is not reachable (${(reachable.stderr || '').trim().split('\n')[0]})`)
    return
  }
  if (PIN) execFileSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' })
  const loadBefore = loadavg()[0]
  const rows = []
  const configs = [
    ['1 process', [[]]],
    ['2 nodes (2 processes, 2 ports)', [[], []]],
    ['1 node, --workers 2', [['--workers', '2']]],
  ]
  for (const [label, layout] of configs) {
    // A database of its own: its commit counter then counts this run alone.
    const db = `evergreen_scale_${randomBytes(4).toString('hex')}`
    const created = psql(`CREATE DATABASE ${db}`)
    if (created.status !== 0) throw new Error(`CREATE DATABASE failed: ${created.stderr}`)
    try {
      const u = new URL(databaseUrl(db))
      u.searchParams.set('application_name', APP)
      const row = await configuration(label, u.toString(), db, layout)
      rows.push(row)
      console.log(`${label.padEnd(32)} ${Math.round(row.rps)}/s p50 ${row.p50.toFixed(2)} p99 ${row.p99.toFixed(2)} server CPU ${Math.round(row.serverCpu)} µs, PostgreSQL CPU ${Math.round(row.pgCpu)} µs, ${row.commits.toFixed(2)} commits/refresh, errors ${row.errors}`)
    } finally {
      psql(`DROP DATABASE ${db} WITH (FORCE)`)
    }
  }
  const table = [
    `Scale-out on one PostgreSQL (bench/scale-out.js, ${new Date().toISOString().slice(0, 19)}Z, load average before: ${loadBefore.toFixed(2)}; ` +
      `${PIN ? 'every server process pinned to CPU 0, generator on CPU 1' : 'not pinned'}; PostgreSQL on the same machine, unpinned; ${REQUESTS} refreshes at 32 connections):`,
    '',
    '| configuration | req/s | p50 ms | p99 ms | server CPU µs/refresh | PostgreSQL CPU µs/refresh | PostgreSQL commits/refresh | errors |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.label} | ${Math.round(r.rps).toLocaleString('en-US')} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${Math.round(r.serverCpu).toLocaleString('en-US')} | ${Math.round(r.pgCpu).toLocaleString('en-US')} | ${r.commits.toFixed(2)} | ${r.errors} |`),
  ].join('\n')
  console.log(`\n${table}`)
  if (process.env.BENCH_RESULTS !== '0') {
    const file = join(ROOT, 'bench/RESULTS.md')
    const marker = '\n## Scale-out on PostgreSQL\n'
    // Replaces its own section; the hand-written "## Notes" after it stays.
    const current = existsSync(file) ? readFileSync(file, 'utf8') : ''
    const notesAt = current.indexOf('\n## Notes\n')
    const notes = notesAt < 0 ? '' : current.slice(notesAt)
    const head = notesAt < 0 ? current : current.slice(0, notesAt)
    const at = head.indexOf(marker)
    const kept = at < 0 ? head : head.slice(0, at)
    writeFileSync(file, `${kept.trimEnd()}\n${marker}\n${table}\n${notes}`)
  }
  if (rows.some((r) => r.errors > 0)) process.exitCode = 1
}

main()
  .catch((err) => {
    process.stderr.write(`scale-out: ${err.stack ?? err}\n`)
    process.exitCode = 1
  })
  .finally(cleanup)

import type { Command } from 'commander'
import { CliError, type Io } from '../io.js'

/**
 * `evergreen serve`: the token service. Each setting has a flag and environment variables
 * (flags win); the server package is loaded lazily so a client-only install never needs it.
 */
export async function registerServe(program: Command, io: Io): Promise<void> {
  const server = await loadServer()
  const cmd = program
    .command('serve')
    .description('run the token service (SQLite by default; a postgres:// URL switches to PostgreSQL)')
  for (const spec of server?.SETTINGS ?? []) {
    const arg = spec.key === 'trustProxy' ? '' : ' <value>'
    cmd.option(`${spec.flag}${arg}`, `${spec.description} [env: ${spec.env.join(', ')}]${spec.defaultText ? ` (default: ${spec.defaultText})` : ''}`)
  }
  cmd.action(async (options: Record<string, string | boolean>) => {
    if (!server) throw new CliError('evergreen serve needs the @evergreen/server package: npm install @evergreen/server')
    const explicit: Record<string, string> = {}
    for (const spec of server.SETTINGS) {
      const v = options[spec.key]
      if (v !== undefined) explicit[spec.key] = v === true ? 'true' : String(v)
    }
    let settings
    try {
      settings = server.loadSettings(explicit)
    } catch (err) {
      if (err instanceof server.SettingsError) throw new CliError(err.message)
      throw err
    }
    if (server.isClusterWorker()) {
      // A worker of `--workers N`: the primary prints; a worker only serves until told to stop.
      const running = await server.startClusterWorker(settings)
      await new Promise<void>((resolve) => {
        const stop = () => void running.stop().then(resolve, resolve)
        process.once('SIGTERM', stop)
        process.once('SIGINT', stop)
      })
      // The channel to the primary would keep this process alive.
      process.disconnect?.()
      return
    }
    let running: { url: string; generatedAdminKey: string | undefined; stop(): Promise<void> }
    try {
      if (settings.workers > 1) {
        running = await server.startCluster(settings, { log: (line) => io.err(line) })
      } else {
        const single = await server.startServer(settings)
        running = { url: single.url, generatedAdminKey: single.service.generatedAdminKey, stop: single.stop }
      }
    } catch (err) {
      if (err instanceof server.StartupError || (err as { code?: string }).code === 'KEY_DECRYPTION_FAILED') throw new CliError(String((err as Error).message))
      if ((err as { code?: string }).code === 'EADDRINUSE') throw new CliError(`port ${settings.port} is already in use (set EVERGREEN_PORT or --port)`)
      throw err
    }
    // Handlers go in before the "listening" line: a supervisor (or test) that signals as soon as
    // it sees the line must get a graceful stop, not the default SIGTERM action (death by signal).
    const stopped = new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        io.err(`${signal}: finishing in-flight requests and shutting down`)
        running.stop().then(resolve, resolve)
      }
      process.once('SIGTERM', () => stop('SIGTERM'))
      process.once('SIGINT', () => stop('SIGINT'))
    })
    const store = settings.databaseUrl ? 'PostgreSQL' : `SQLite in ${settings.dataDir}`
    const workers = settings.workers > 1 ? `, ${settings.workers} worker processes` : ''
    io.err(`evergreen token service listening on ${running.url} (${store}${workers})`)
    io.err(`issuer: ${settings.issuer}`)
    if (running.generatedAdminKey) {
      // Shown once, on the start that created it; saved 0600 for `evergreen admin` on this machine.
      io.err(`admin key (shown once, also saved to ${settings.dataDir}/admin-key):`)
      io.err(`  ${running.generatedAdminKey}`)
    }
    await stopped
  })
}

type ServerModule = typeof import('@evergreen/server')

async function loadServer(): Promise<ServerModule | undefined> {
  try {
    return await import('@evergreen/server')
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') return undefined
    throw err
  }
}

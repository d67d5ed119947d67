import { serve, type ServerType } from '@hono/node-server'
import type { AddressInfo } from 'node:net'
import type { Settings } from '../settings.js'
import { createBackchannelSender, type BackchannelSenderOptions } from '../logout/backchannel-sender.js'
import { startMaintenance } from './maintenance.js'
import { createService, type Service, type ServiceOverrides } from './bootstrap.js'

export interface RunningServer {
  service: Service
  /** The base URL actually listening (the port is real even when 0 was asked). */
  url: string
  /** Stops accepting connections, lets in-flight requests finish, then closes the store. */
  stop(): Promise<void>
}

/**
 * Starts the HTTP server on the settings' host and port, with the background upkeep and the
 * back-channel logout sender beside it.
 */
export async function startServer(
  settings: Settings,
  overrides: ServiceOverrides & { backchannel?: BackchannelSenderOptions } = {},
): Promise<RunningServer> {
  const service = await createService(settings, overrides)
  let server: ServerType
  try {
    server = await new Promise((resolveListening, reject) => {
      const s = serve({ fetch: service.app.fetch, port: settings.port, hostname: settings.host }, () => resolveListening(s))
      s.once('error', reject)
    })
  } catch (err) {
    // Could not listen (port taken): release the database before reporting it.
    await service.close()
    throw err
  }
  // Slow clients must not pin sockets forever; keep-alive stays on for load balancers.
  if ('requestTimeout' in server) server.requestTimeout = 30_000
  if ('headersTimeout' in server) server.headersTimeout = 10_000
  const address = server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  // With port 0 and no explicit issuer, the derived issuer named port 0; name the real one before
  // the first request can see it (settings are shared by reference with every handler).
  if (settings.port === 0 && settings.issuer.endsWith(':0')) settings.issuer = `${settings.issuer.slice(0, -2)}:${address.port}`
  const stopMaintenance = startMaintenance(service.deps)
  const backchannel = createBackchannelSender(service.deps, overrides.backchannel)
  backchannel.start()
  let stopping: Promise<void> | undefined
  return {
    service,
    url: `http://${host}:${address.port}`,
    stop: () =>
      (stopping ??= (async () => {
        stopMaintenance()
        await backchannel.stop()
        await new Promise<void>((done) => {
          server.close(() => done())
          // close() waits for in-flight requests; idle keep-alive sockets would hold it forever.
          if ('closeIdleConnections' in server) server.closeIdleConnections()
        })
        await service.close()
      })()),
  }
}

import { getRequestListener } from '@hono/node-server'
import { Hono } from 'hono'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { metricsEndpoint } from '../endpoints/metrics.js'
import type { Settings } from '../settings.js'
import { createBackchannelSender, type BackchannelSenderOptions } from '../logout/backchannel-sender.js'
import { startMaintenance } from './maintenance.js'
import { createService, type Service, type ServiceOverrides } from './bootstrap.js'
import { createTokenRoute } from './token-route.js'

type ServerType = Server
type FastRoute = (incoming: IncomingMessage, outgoing: ServerResponse) => boolean

export interface RunningServer {
  service: Service
  /** The base URL actually listening (the port is real even when 0 was asked). */
  url: string
  /** The separate metrics listener's base URL, when EVERGREEN_METRICS_PORT is set. */
  metricsUrl?: string
  /** Stops accepting connections, lets in-flight requests finish, then closes the store. */
  stop(): Promise<void>
}

/**
 * Starts the HTTP server on the settings' host and port, with the background upkeep and the
 * back-channel logout sender beside it.
 */
export async function startServer(
  settings: Settings,
  overrides: ServiceOverrides & {
    backchannel?: BackchannelSenderOptions
    /** false in a cluster worker: the primary serves EVERGREEN_METRICS_PORT for all (node/cluster.ts). */
    metricsListener?: boolean
  } = {},
): Promise<RunningServer> {
  const service = await createService(settings, overrides)
  let server: ServerType
  let metricsServer: ServerType | undefined
  try {
    // The token endpoint is served straight on node:http (node/token-route.ts); the rest by Hono.
    server = await listen(service.app.fetch, settings.port, settings.host, createTokenRoute(service))
    if (settings.metricsPort !== undefined && overrides.metricsListener !== false) {
      const metricsApp = new Hono()
      metricsApp.get('/metrics', metricsEndpoint(service.deps, undefined))
      metricsServer = await listen(metricsApp.fetch, settings.metricsPort, settings.metricsHost).catch(async (err: unknown) => {
        await close(server)
        throw err
      })
    }
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
    ...(metricsServer ? { metricsUrl: urlOf(metricsServer) } : {}),
    stop: () =>
      (stopping ??= (async () => {
        stopMaintenance()
        await backchannel.stop()
        await Promise.all([close(server), metricsServer && close(metricsServer)])
        await service.close()
      })()),
  }
}

function listen(fetch: (req: Request) => Response | Promise<Response>, port: number, hostname: string, fast?: FastRoute): Promise<ServerType> {
  const hono = getRequestListener(fetch, { hostname })
  const s = createServer(fast ? (incoming, outgoing) => void (fast(incoming, outgoing) || hono(incoming, outgoing)) : hono)
  return new Promise((resolveListening, reject) => {
    s.once('error', reject)
    s.listen(port, hostname, () => resolveListening(s))
  })
}

function close(server: ServerType): Promise<void> {
  return new Promise<void>((done) => {
    server.close(() => done())
    // close() waits for in-flight requests; idle keep-alive sockets would hold it forever.
    if ('closeIdleConnections' in server) server.closeIdleConnections()
  })
}

function urlOf(server: ServerType): string {
  const address = server.address() as AddressInfo
  return `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`
}

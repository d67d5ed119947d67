import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/** Prometheus metrics of one app instance (a registry each, so tests can run several apps). */
export interface Metrics {
  registry: Registry
  requests: Counter<'route' | 'method' | 'status'>
  duration: Histogram<'route' | 'method' | 'status'>
  refreshes: Counter<'outcome'>
  backchannelLogouts: Counter<'outcome'>
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry()
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'evergreen_' })
  return {
    registry,
    requests: new Counter({
      name: 'evergreen_http_requests_total',
      help: 'HTTP requests by route template, method and status.',
      labelNames: ['route', 'method', 'status'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'evergreen_http_request_duration_seconds',
      help: 'HTTP request latency by route template, method and status.',
      labelNames: ['route', 'method', 'status'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    refreshes: new Counter({
      name: 'evergreen_refresh_total',
      help: 'Refresh-token grants by outcome: rotated, grace_replay, or the invalid_grant reason.',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    backchannelLogouts: new Counter({
      name: 'evergreen_backchannel_logout_total',
      help: 'Back-channel logout deliveries by outcome: delivered, retried, failed (given up) or dropped (outbox over its cap).',
      labelNames: ['outcome'],
      registers: [registry],
    }),
  }
}

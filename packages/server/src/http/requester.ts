import type { Context } from 'hono'
import type { Requester } from '../audit.js'

const MAX_USER_AGENT = 512

/**
 * Who is calling: the socket address (or the first X-Forwarded-For hop when the operator says a
 * proxy of theirs is in front) and the user agent, trimmed so a huge header cannot bloat rows.
 */
export function requesterOf(c: Context, trustProxy: boolean): Requester {
  let ip: string | null = null
  if (trustProxy) ip = c.req.header('x-forwarded-for')?.split(',')[0]?.trim() || null
  if (!ip) {
    const incoming = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming
    ip = incoming?.socket?.remoteAddress ?? null
  }
  const ua = c.req.header('user-agent')
  return { ip, user_agent: ua ? ua.slice(0, MAX_USER_AGENT) : null }
}

import type { Context } from 'hono'
import { BlockList, isIP } from 'node:net'
import type { Requester } from '../audit.js'
import type { Settings } from '../settings.js'

const MAX_USER_AGENT = 512

/** The settings that decide which `X-Forwarded-For` entry, if any, names the caller. */
export type ProxyTrust = Pick<Settings, 'trustProxy' | 'trustedProxies' | 'trustProxyHops'>

/**
 * Who is calling: the client address and the user agent, trimmed so a huge header cannot bloat
 * rows. Without trust-proxy the address is the socket's. With it, `X-Forwarded-For` is read from
 * the right, because each proxy appends the address it saw and only the entries our own proxies
 * appended can be believed; the left-most entry is whatever the caller chose to send.
 *
 * @param proxy the trust-proxy settings (`deps.settings`)
 * @example const { ip, user_agent } = requesterOf(c, deps.settings)
 * @see https://www.rfc-editor.org/rfc/rfc7239#section-8.1
 */
export function requesterOf(c: Context, proxy: ProxyTrust): Requester {
  const incoming = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming
  return requesterFrom(incoming?.socket?.remoteAddress ?? null, c.req.header('user-agent'), c.req.header('x-forwarded-for'), proxy)
}

/** {@link requesterOf} from the socket peer and the two headers, for the Node fast path. */
export function requesterFrom(peer: string | null, userAgent: string | undefined, forwardedFor: string | undefined, proxy: ProxyTrust): Requester {
  return { ip: clientAddress(peer, forwardedFor, proxy), user_agent: userAgent ? userAgent.slice(0, MAX_USER_AGENT) : null }
}

/**
 * The caller's address from the socket peer and the `X-Forwarded-For` chain.
 *
 * - Trusted proxy list: walk from the peer leftwards while the hop is one of our proxies; the
 *   first hop that is not is the caller. A peer that is not ours means no proxy of ours is in
 *   front, so its header proves nothing and the peer is the caller.
 * - Hop count n (`trustProxy` alone means 1): the n-th address from the right, counting the peer
 *   as the first, i.e. the one our outermost proxy saw. Fewer hops than n: the left-most.
 */
export function clientAddress(peer: string | null, forwardedFor: string | undefined, proxy: ProxyTrust): string | null {
  if (!proxy.trustProxy || forwardedFor === undefined) return peer
  const chain = [...forwardedFor.split(',').map(normalize), peer === null ? null : normalize(peer)]
  if (proxy.trustedProxies.length > 0) {
    const trusted = trustedList(proxy.trustedProxies)
    let i = chain.length - 1
    while (i > 0 && isTrusted(trusted, chain[i] ?? null)) i--
    // Only a trusted hop can have appended chain[i]; an entry that is not an address is not
    // believable, so the hop that passed it on is the best we know.
    if (i === chain.length - 1) return chain[i] ?? null
    return chain[i] ?? chain[i + 1] ?? null
  }
  const hops = Math.max(1, proxy.trustProxyHops)
  const i = Math.max(0, chain.length - 1 - hops)
  return chain[i] ?? chain.slice(i + 1).find((a) => a !== null) ?? null
}

/** An address as a bare IP: brackets, ports and the IPv4-mapped IPv6 prefix removed; else null. */
function normalize(entry: string): string | null {
  let a = entry.trim()
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(a)
  if (bracketed) a = bracketed[1]!
  else if (/^[\d.]+:\d+$/.test(a)) a = a.slice(0, a.lastIndexOf(':'))
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a)
  if (mapped) a = mapped[1]!
  return isIP(a) === 0 ? null : a.toLowerCase()
}

function isTrusted(list: BlockList, address: string | null): boolean {
  if (address === null) return false
  return list.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4')
}

const lists = new WeakMap<readonly string[], BlockList>()

/** The trusted-proxy CIDRs as a BlockList, built once per settings object. */
function trustedList(cidrs: readonly string[]): BlockList {
  let list = lists.get(cidrs)
  if (!list) {
    list = new BlockList()
    for (const cidr of cidrs) {
      const parsed = parseCidr(cidr)
      if (parsed) list.addSubnet(parsed.address, parsed.prefix, parsed.family)
    }
    lists.set(cidrs, list)
  }
  return list
}

/**
 * `10.0.0.0/8`, `2001:db8::/32`, or a bare address (a single host); undefined when invalid.
 *
 * @example parseCidr('10.0.0.0/8') // { address: '10.0.0.0', prefix: 8, family: 'ipv4' }
 */
export function parseCidr(text: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(text.trim())
  if (!m) return undefined
  const version = isIP(m[1]!)
  if (version === 0) return undefined
  const max = version === 4 ? 32 : 128
  const prefix = m[2] === undefined ? max : Number(m[2])
  if (prefix > max) return undefined
  return { address: m[1]!, prefix, family: version === 4 ? 'ipv4' : 'ipv6' }
}

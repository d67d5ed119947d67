import { BlockList, isIP } from 'node:net'

// Server-side request forgery defence (docs/architecture.md "Client registration"): a client id
// URL is chosen by whoever sends a browser to /authorize, so the service must not be made to
// reach its own network. These are the IANA special-purpose ranges that are not the public
// internet: "this network", private (RFC 1918), shared/CGNAT (RFC 6598), loopback, link-local,
// IETF protocol assignments, documentation, benchmarking, multicast and the reserved block with
// broadcast; for IPv6 unspecified, loopback, IPv4-compatible, discard, documentation,
// local-use NAT64, unique-local, site-local, link-local and multicast.
const BLOCKED = new BlockList()
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24],
  ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) BLOCKED.addSubnet(net, prefix, 'ipv4')
for (const [net, prefix] of [
  ['::', 128], ['::1', 128], ['::', 96], ['64:ff9b:1::', 48], ['100::', 64], ['2001:db8::', 32], ['fc00::', 7], ['fec0::', 10], ['fe80::', 10], ['ff00::', 8],
] as const) BLOCKED.addSubnet(net, prefix, 'ipv6')

/**
 * Whether `address` (an IP literal) is on the public internet. IPv6 forms that carry an IPv4
 * address — IPv4-mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16` — are judged by
 * the IPv4 address they reach, so `::ffff:127.0.0.1` is loopback. Anything that is not an IP
 * literal is not public.
 *
 * @param address an IPv4 or IPv6 literal, without brackets or zone
 * @example isPublicAddress('10.0.0.1') // false
 * @example isPublicAddress('::ffff:7f00:1') // false
 * @see https://www.iana.org/assignments/iana-ipv4-special-registry
 * @see https://www.iana.org/assignments/iana-ipv6-special-registry
 */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address)
  if (family === 4) return !BLOCKED.check(address, 'ipv4')
  if (family !== 6) return false
  // A zone index (fe80::1%eth0) only exists on link-local addresses.
  if (address.includes('%')) return false
  const words = ipv6Words(address)
  if (!words) return false
  const embedded = embeddedIpv4(words)
  if (embedded !== undefined) return isPublicAddress(embedded)
  return !BLOCKED.check(address, 'ipv6')
}

/** The eight 16-bit words of an IPv6 literal (with `::` and a dotted IPv4 tail expanded). */
function ipv6Words(address: string): number[] | undefined {
  let text = address.toLowerCase()
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (dotted) {
    const o = dotted[1]!.split('.').map(Number)
    text = `${text.slice(0, dotted.index)}${((o[0]! << 8) | o[1]!).toString(16)}:${((o[2]! << 8) | o[3]!).toString(16)}`
  }
  const [head, tail] = text.split('::') as [string, string | undefined]
  const left = head ? head.split(':') : []
  const right = tail ? tail.split(':') : []
  const fill = tail === undefined ? 0 : 8 - left.length - right.length
  const words = [...left, ...Array<string>(fill).fill('0'), ...right].map((w) => parseInt(w, 16))
  return words.length === 8 && words.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffff) ? words : undefined
}

function embeddedIpv4(w: number[]): string | undefined {
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`
  const zero = (from: number, to: number) => w.slice(from, to).every((x) => x === 0)
  // ::ffff:a.b.c.d (IPv4-mapped) and ::ffff:0:a.b.c.d (IPv4-translated)
  if (zero(0, 5) && w[5] === 0xffff) return v4(w[6]!, w[7]!)
  if (zero(0, 4) && w[4] === 0xffff && w[5] === 0) return v4(w[6]!, w[7]!)
  // 64:ff9b::/96, the NAT64 well-known prefix (local-use 64:ff9b:1::/48 is blocked outright).
  if (w[0] === 0x64 && w[1] === 0xff9b && zero(2, 6)) return v4(w[6]!, w[7]!)
  // 2002::/16 (6to4): the relay delivers to the IPv4 address in bits 16–47.
  if (w[0] === 0x2002) return v4(w[1]!, w[2]!)
  return undefined
}

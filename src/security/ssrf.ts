/**
 * @module Destination guard for outbound provider calls (SSRF defence).
 *
 * The gateway only sends to a provider base URL taken from the provider registry (public hosts) or
 * from operator config (which may name a self-hosted model on a private address). Before a call
 * leaves, `checkDestination` confirms the URL still points where that base URL points, and that
 * a non-public host was put there by the operator.
 *
 * Host classification reads `URL.hostname`, i.e. the host as the WHATWG URL parser (the parser
 * `fetch()` itself uses) has already normalised it: `2130706433`, `0x7f.1`, `127.1` and
 * `017700000001` all arrive here as `127.0.0.1`, and IPv6 arrives compressed and lower-case.
 * `classifyHost` also parses those legacy IPv4 forms itself, so a caller holding a raw host string
 * gets the same answer. Anything that looks like an address but does not parse is `reserved`:
 * the guard fails closed.
 *
 * Limits: a Worker cannot resolve a name before `fetch()`, so a public name whose DNS answers with
 * a private address (DNS rebinding, `127.0.0.1.nip.io`) is not caught here. In production
 * Cloudflare's egress refuses to connect public names to private addresses; outside Workers the
 * host network must provide the same guarantee.
 *
 * Cloud metadata endpoints are refused even when an operator configured them: no model is served
 * there, and they hand out instance credentials.
 */
import { GatewayError } from '../errors'
import type { ProviderConfig } from '../types'

export type HostClass =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'cgnat'
  | 'metadata'
  | 'unspecified'
  | 'multicast'
  | 'reserved'
  | 'internal-name'

export type DestinationPolicy = {
  /** True when the base URL came from operator config rather than the built-in registry. */
  operatorConfigured: boolean
  /** `URL.origin` of the configured base URL: the only origin a call may go to. */
  allowedOrigin: string
}

export type DestinationVerdict = { allowed: true } | { allowed: false; reason: string }

type IPv4Rule = readonly [cidr: string, hostClass: HostClass]

/** First match wins, so single addresses precede the ranges that contain them. */
const IPV4_RULES: readonly IPv4Rule[] = [
  ['169.254.169.254/32', 'metadata'], // AWS, GCP, Azure, OCI, DigitalOcean instance metadata
  ['169.254.170.2/32', 'metadata'], // AWS ECS task metadata and credentials
  ['100.100.100.200/32', 'metadata'], // Alibaba Cloud instance metadata
  ['168.63.129.16/32', 'metadata'], // Azure WireServer (VM agent configuration)
  ['0.0.0.0/8', 'unspecified'], // "this network", RFC 791 / RFC 1122 §3.2.1.3
  ['10.0.0.0/8', 'private'], // RFC 1918
  ['100.64.0.0/10', 'cgnat'], // shared address space, RFC 6598
  ['127.0.0.0/8', 'loopback'], // RFC 1122 §3.2.1.3
  ['169.254.0.0/16', 'link-local'], // RFC 3927
  ['172.16.0.0/12', 'private'], // RFC 1918
  ['192.0.0.0/24', 'reserved'], // IETF protocol assignments, RFC 6890
  ['192.0.2.0/24', 'reserved'], // TEST-NET-1, RFC 5737
  ['192.88.99.0/24', 'reserved'], // deprecated 6to4 relay anycast, RFC 7526
  ['192.168.0.0/16', 'private'], // RFC 1918
  ['198.18.0.0/15', 'reserved'], // benchmarking, RFC 2544
  ['198.51.100.0/24', 'reserved'], // TEST-NET-2, RFC 5737
  ['203.0.113.0/24', 'reserved'], // TEST-NET-3, RFC 5737
  ['224.0.0.0/4', 'multicast'], // RFC 5771
  ['240.0.0.0/4', 'reserved'], // RFC 1112 §4; includes 255.255.255.255 (RFC 919 broadcast)
]

/** An IPv6 form that carries an IPv4 address: where it sits, and what a public one means. */
type EmbeddedIPv4 = { shift: bigint; ifPublic: HostClass }

type IPv6Rule = readonly [cidr: string, verdict: HostClass | EmbeddedIPv4]

const LOW_32_BITS: EmbeddedIPv4 = { shift: 0n, ifPublic: 'public' }

/** First match wins. Outside these, only global unicast (2000::/3, RFC 4291 §2.4) is public. */
const IPV6_RULES: readonly IPv6Rule[] = [
  ['::/128', 'unspecified'], // RFC 4291 §2.5.2
  ['::1/128', 'loopback'], // RFC 4291 §2.5.3
  ['fd00:ec2::254/128', 'metadata'], // AWS instance metadata over IPv6
  ['::ffff:0:0/96', LOW_32_BITS], // IPv4-mapped, RFC 4291 §2.5.5.2
  ['64:ff9b::/96', LOW_32_BITS], // NAT64 well-known prefix, RFC 6052 §2.1
  ['2002::/16', { shift: 80n, ifPublic: 'public' }], // 6to4, RFC 3056 §2: v4 in bits 16–47
  // Deprecated forms (IPv4-compatible, RFC 4291 §2.5.5.1; SIIT-translated, RFC 2765): no stack
  // should route them, yet a private embedded address still says where they would go.
  ['::/96', { shift: 0n, ifPublic: 'reserved' }],
  ['::ffff:0:0:0/96', { shift: 0n, ifPublic: 'reserved' }],
  ['64:ff9b:1::/48', 'private'], // local-use NAT64, RFC 8215
  ['100::/64', 'reserved'], // discard-only, RFC 6666
  ['2001::/23', 'reserved'], // IETF protocol assignments incl. Teredo, RFC 2928 / RFC 4380
  ['2001:db8::/32', 'reserved'], // documentation, RFC 3849
  ['3fff::/20', 'reserved'], // documentation, RFC 9637
  ['fc00::/7', 'private'], // unique local, RFC 4193
  ['fe80::/10', 'link-local'], // RFC 4291 §2.5.6
  ['fec0::/10', 'private'], // deprecated site-local, RFC 3879
  ['ff00::/8', 'multicast'], // RFC 4291 §2.7
]

/** Names of metadata services that resolve only inside the cloud that serves them. */
const METADATA_NAMES: ReadonlySet<string> = new Set([
  'metadata.google.internal',
  'metadata',
  'instance-data',
  'instance-data.ec2.internal',
  'metadata.tencentyun.com',
])

/**
 * Suffixes that resolve only on private networks: `.local` (mDNS, RFC 6762), `.home.arpa`
 * (RFC 8375), `.internal` (reserved by ICANN for private use), and the names RFC 6762 Appendix G
 * lists as common private practice.
 */
const INTERNAL_SUFFIXES: readonly string[] = [
  'internal',
  'local',
  'localdomain',
  'home.arpa',
  'lan',
  'home',
  'corp',
  'private',
  'intranet',
].map((suffix) => `.${suffix}`)

const DECIMAL = /^[0-9]+$/
const OCTAL = /^[0-7]+$/
const HEX = /^[0-9a-f]+$/
const HEX_GROUP = /^[0-9a-f]{1,4}$/
const DOTTED_PART = /^[0-9]{1,3}$/

/** WHATWG URL "IPv4 number parser": decimal, octal (leading 0) or hex (0x). */
function parseIPv4Number(part: string): number | undefined {
  if (part === '') return undefined
  let digits = part
  let pattern = DECIMAL
  let radix = 10
  if (part.startsWith('0x')) {
    digits = part.slice(2)
    pattern = HEX
    radix = 16
  } else if (part.length > 1 && part.startsWith('0')) {
    digits = part.slice(1)
    pattern = OCTAL
    radix = 8
  }
  if (digits === '') return 0
  return pattern.test(digits) ? Number.parseInt(digits, radix) : undefined
}

/** WHATWG URL "ends in a number checker": such a host is an IPv4 address or no host at all. */
function endsInNumber(host: string): boolean {
  const parts = host.split('.')
  const last = parts.at(-1) === '' && parts.length > 1 ? parts.at(-2) : parts.at(-1)
  if (last === undefined || last === '') return false
  return DECIMAL.test(last) || parseIPv4Number(last) !== undefined
}

/** WHATWG URL IPv4 parser: 1–4 parts, the last filling the remaining bytes (`127.1`). */
function parseIPv4(host: string): number | undefined {
  const parts = host.split('.')
  if (parts.length > 1 && parts.at(-1) === '') parts.pop()
  if (parts.length > 4) return undefined
  const numbers: number[] = []
  for (const part of parts) {
    const value = parseIPv4Number(part)
    if (value === undefined) return undefined
    numbers.push(value)
  }
  const last = numbers.pop()
  if (last === undefined || last >= 256 ** (4 - numbers.length)) return undefined
  let address = last
  for (const [index, value] of numbers.entries()) {
    if (value > 255) return undefined
    address += value * 256 ** (3 - index)
  }
  return address
}

/** Strict `a.b.c.d`, as it may end an IPv6 address (RFC 4291 §2.2, form 3). */
function parseDottedQuad(text: string): number | undefined {
  const parts = text.split('.')
  if (parts.length !== 4) return undefined
  let address = 0
  for (const part of parts) {
    const value = DOTTED_PART.test(part) ? Number(part) : 256
    if (value > 255) return undefined
    address = address * 256 + value
  }
  return address
}

/** Hex groups of one side of `::`; only the final side may end in a dotted quad. */
function readGroups(text: string, mayEndInIPv4: boolean): number[] | undefined {
  if (text === '') return []
  const pieces = text.split(':')
  const groups: number[] = []
  for (const [index, piece] of pieces.entries()) {
    if (mayEndInIPv4 && index === pieces.length - 1 && piece.includes('.')) {
      const v4 = parseDottedQuad(piece)
      if (v4 === undefined) return undefined
      groups.push(Math.floor(v4 / 0x10000), v4 % 0x10000)
    } else if (HEX_GROUP.test(piece)) {
      groups.push(Number.parseInt(piece, 16))
    } else {
      return undefined
    }
  }
  return groups
}

/** RFC 4291 §2.2 text forms, as a 128-bit integer. */
function parseIPv6(text: string): bigint | undefined {
  const gap = text.indexOf('::')
  let groups: number[] | undefined
  if (gap === -1) {
    groups = readGroups(text, true)
    if (groups?.length !== 8) return undefined
  } else {
    if (text.includes('::', gap + 1)) return undefined
    const head = readGroups(text.slice(0, gap), false)
    const tail = readGroups(text.slice(gap + 2), true)
    if (head === undefined || tail === undefined || head.length + tail.length > 7) return undefined
    groups = [...head, ...Array<number>(8 - head.length - tail.length).fill(0), ...tail]
  }
  return groups.reduce((address, group) => (address << 16n) | BigInt(group), 0n)
}

function splitCidr(cidr: string): [address: string, length: number] {
  const slash = cidr.lastIndexOf('/')
  return [cidr.slice(0, slash), Number(cidr.slice(slash + 1))]
}

const compiledIPv4 = IPV4_RULES.map(([cidr, hostClass]) => {
  const [text, length] = splitCidr(cidr)
  const address = parseIPv4(text)
  if (address === undefined) throw new Error(`ssrf: bad IPv4 rule ${cidr}`)
  const mask = length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0
  return { mask, base: (address & mask) >>> 0, hostClass }
})

const compiledIPv6 = IPV6_RULES.map(([cidr, verdict]) => {
  const [text, length] = splitCidr(cidr)
  const address = parseIPv6(text)
  if (address === undefined) throw new Error(`ssrf: bad IPv6 rule ${cidr}`)
  const shift = BigInt(128 - length)
  return { shift, prefix: address >> shift, verdict }
})

function classifyIPv4(address: number): HostClass {
  for (const rule of compiledIPv4) {
    if ((address & rule.mask) >>> 0 === rule.base) return rule.hostClass
  }
  return 'public'
}

function classifyIPv6(text: string): HostClass {
  // A zone id (RFC 6874) never reaches URL.hostname; ignore it if a caller passes one.
  const zone = text.indexOf('%')
  const address = parseIPv6(zone === -1 ? text : text.slice(0, zone))
  if (address === undefined) return 'reserved'
  for (const rule of compiledIPv6) {
    if (address >> rule.shift !== rule.prefix) continue
    if (typeof rule.verdict === 'string') return rule.verdict
    const embedded = classifyIPv4(Number((address >> rule.verdict.shift) & 0xffffffffn))
    return embedded === 'public' ? rule.verdict.ifPublic : embedded
  }
  return address >> 125n === 1n ? 'public' : 'reserved'
}

function classifyName(name: string): HostClass {
  if (METADATA_NAMES.has(name)) return 'metadata'
  // RFC 6761 §6.3: localhost and every name under it are loopback.
  if (name === 'localhost' || name.endsWith('.localhost')) return 'loopback'
  // A single label is completed from the resolver's search list, i.e. an internal name.
  if (!name.includes('.')) return 'internal-name'
  const dotted = `.${name}`
  return INTERNAL_SUFFIXES.some((suffix) => dotted.endsWith(suffix)) ? 'internal-name' : 'public'
}

/** Classifies a host in `URL.hostname` form (IPv6 with or without brackets). */
export function classifyHost(hostname: string): HostClass {
  let host = hostname.toLowerCase()
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1)
  if (host.includes(':')) return classifyIPv6(host)
  // An absolute name (`localhost.`) resolves exactly like the relative one.
  while (host.endsWith('.')) host = host.slice(0, -1)
  if (host === '') return 'reserved'
  if (endsInNumber(host)) {
    const address = parseIPv4(host)
    return address === undefined ? 'reserved' : classifyIPv4(address)
  }
  return classifyName(host)
}

const ALLOWED: DestinationVerdict = { allowed: true }

const deny = (reason: string): DestinationVerdict => ({ allowed: false, reason })

/**
 * Decides whether a call may go to `url`. Reasons name the rule that failed, never the URL, since
 * its query string or credentials may hold secrets.
 */
export function checkDestination(url: URL, policy: DestinationPolicy): DestinationVerdict {
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return deny('destination scheme must be https or http')
  }
  if (url.protocol === 'http:' && !policy.operatorConfigured) {
    return deny('plain http is allowed only for operator-configured endpoints')
  }
  if (url.username !== '' || url.password !== '') {
    return deny('credentials in the destination URL are not allowed')
  }
  if (url.origin !== policy.allowedOrigin) {
    return deny('destination origin differs from the configured provider origin')
  }
  const hostClass = classifyHost(url.hostname)
  if (hostClass === 'public') return ALLOWED
  if (hostClass === 'metadata') return deny('destination is a cloud metadata endpoint')
  return policy.operatorConfigured
    ? ALLOWED
    : deny(`destination host is ${hostClass}; allowed only for operator-configured endpoints`)
}

const verdicts = new WeakMap<URL, DestinationVerdict>()

/**
 * Throws `DESTINATION_REFUSED` when `url` is not an allowed destination for `provider`. Endpoint
 * URLs are memoised per configuration, so the verdict is too; a fresh URL is checked.
 */
export const assertDestination = (provider: ProviderConfig, url: URL): void => {
  let verdict = verdicts.get(url)
  if (verdict === undefined) {
    verdict = checkDestination(url, {
      operatorConfigured: provider.operatorConfigured,
      allowedOrigin: provider.origin,
    })
    verdicts.set(url, verdict)
  }
  if (!verdict.allowed) {
    console.error(
      JSON.stringify({
        level: 'error',
        msg: 'destination refused',
        provider: provider.spec.id,
        reason: verdict.reason,
      }),
    )
    throw new GatewayError(
      'DESTINATION_REFUSED',
      `The destination configured for '${provider.spec.id}' is not allowed by the gateway's egress policy.`,
    )
  }
}

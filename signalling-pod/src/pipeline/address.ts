import { isIP } from 'node:net'

/** An IP address as a number, with its family. */
export interface IpValue {
  family: 4 | 6
  value: bigint
}

/** A parsed CIDR block. */
export interface Cidr {
  family: 4 | 6
  base: bigint
  prefix: number
  text: string
}

function v4(s: string): bigint {
  let out = 0n
  for (const part of s.split('.')) out = (out << 8n) | BigInt(Number(part))
  return out
}

function v6(s: string): bigint {
  let text = s
  let tail: bigint[] = []
  const lastColon = text.lastIndexOf(':')
  const last = text.slice(lastColon + 1)
  if (last.includes('.')) {
    const n = v4(last)
    tail = [n >> 16n, n & 0xffffn]
    text = text.slice(0, lastColon + 1)
    if (!text.endsWith('::')) text = text.slice(0, -1)
  }
  const [head = '', rest] = text.split('::') as [string, string | undefined]
  const parse = (t: string) => (t === '' ? [] : t.split(':').map((h) => BigInt(Number.parseInt(h, 16))))
  const h = parse(head)
  const r = rest === undefined ? [] : parse(rest)
  const missing = 8 - h.length - r.length - tail.length
  const groups = [...h, ...(rest === undefined ? [] : new Array<bigint>(missing).fill(0n)), ...r, ...tail]
  let out = 0n
  for (const g of groups) out = (out << 16n) | g
  return out
}

const MAPPED_PREFIX = 0xffffn << 32n

/**
 * Parses an IP literal (IPv6 brackets and zone allowed); IPv4-mapped IPv6 addresses (from dual-stack
 * sockets) become IPv4. Undefined when not an IP literal.
 */
export function parseIp(text: string): IpValue | undefined {
  let s = text.trim()
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1)
  const zone = s.indexOf('%')
  if (zone >= 0) s = s.slice(0, zone)
  const family = isIP(s)
  if (family === 4) return { family: 4, value: v4(s) }
  if (family === 6) {
    const value = v6(s)
    if (value >> 32n === MAPPED_PREFIX >> 32n) return { family: 4, value: value & 0xffffffffn }
    return { family: 6, value }
  }
  return undefined
}

/** A canonical key of an IP literal for map lookups, or undefined when not an IP literal. */
export function ipKey(text: string): string | undefined {
  const ip = parseIp(text)
  return ip === undefined ? undefined : `${ip.family}:${ip.value.toString(16)}`
}

/** Parses `a.b.c.d/n` or `x::y/n` (a bare address is a host route); undefined when malformed. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/')
  const addr = slash < 0 ? text : text.slice(0, slash)
  const ip = parseIp(addr)
  if (ip === undefined) return undefined
  const bits = ip.family === 4 ? 32 : 128
  const prefixText = slash < 0 ? String(bits) : text.slice(slash + 1)
  if (!/^\d{1,3}$/.test(prefixText)) return undefined
  let prefix = Number(prefixText)
  // An IPv4-mapped IPv6 block (::ffff:10.0.0.0/104) is the IPv4 block it maps.
  if (ip.family === 4 && isIP(addr.replace(/^\[|\]$/g, '')) === 6) prefix -= 96
  if (prefix < 0 || prefix > bits) return undefined
  const mask = prefix === 0 ? 0n : ((1n << BigInt(prefix)) - 1n) << BigInt(bits - prefix)
  return { family: ip.family, base: ip.value & mask, prefix, text }
}

/** Whether `ip` is inside `cidr`. */
export function inCidr(ip: IpValue, cidr: Cidr): boolean {
  if (ip.family !== cidr.family) return false
  const bits = cidr.family === 4 ? 32 : 128
  if (cidr.prefix === 0) return true
  const shift = BigInt(bits - cidr.prefix)
  return ip.value >> shift === cidr.base >> shift
}

import { createHmac, timingSafeEqual } from 'node:crypto'
import { isIPv4 } from 'node:net'
import { crc32 } from 'node:zlib'

/**
 * STUN message codec (RFC 5389) as far as an ICE-lite responder needs it: parse a Binding request,
 * check MESSAGE-INTEGRITY with a short-term key (§15.4, §10.1) and FINGERPRINT (§15.5), build a
 * response with XOR-MAPPED-ADDRESS (§15.2). Pure functions; malformed input gives `null`/`false`,
 * never an exception, because these bytes come straight off a media socket.
 */

/** RFC 5389 §6: the fixed magic cookie in bytes 4–7 of every message. */
export const MAGIC_COOKIE = 0x2112a442
/** RFC 5389 §15.5: CRC-32 of the message XOR this value. */
const FINGERPRINT_XOR = 0x5354554e
const HEADER = 20

/** Message types (RFC 5389 §6, §18.1): method Binding in the four classes. */
export const StunType = {
  bindingRequest: 0x0001,
  bindingIndication: 0x0011,
  bindingSuccess: 0x0101,
  bindingError: 0x0111,
} as const

/** Attribute types (RFC 5389 §18.2, RFC 8445 §16.1). */
export const StunAttr = {
  username: 0x0006,
  messageIntegrity: 0x0008,
  errorCode: 0x0009,
  xorMappedAddress: 0x0020,
  priority: 0x0024,
  useCandidate: 0x0025,
  software: 0x8022,
  fingerprint: 0x8028,
  iceControlled: 0x8029,
  iceControlling: 0x802a,
} as const

export interface StunAttribute {
  readonly type: number
  readonly value: Buffer
}

export interface StunMessage {
  readonly type: number
  readonly transactionId: Buffer
  /** Attributes in wire order up to MESSAGE-INTEGRITY (later ones are ignored, §15.4), FINGERPRINT last. */
  readonly attributes: readonly StunAttribute[]
  /** Byte offset of the MESSAGE-INTEGRITY attribute header, -1 when absent. */
  readonly integrityAt: number
  /** Byte offset of the FINGERPRINT attribute header, -1 when absent. */
  readonly fingerprintAt: number
  /** The whole message (a view on the input). */
  readonly raw: Buffer
}

/**
 * RFC 7983 §7 demultiplexing: a first byte in 0–3 is STUN (DTLS is 20–63, RTP/RTCP 128–191). The
 * header checks (length multiple of 4 and matching the datagram, magic cookie) follow RFC 5389 §6.
 */
export function looksLikeStun(buf: Uint8Array): boolean {
  return (
    buf.length >= HEADER &&
    (buf[0] as number) <= 3 &&
    ((buf[2] as number) << 8) + (buf[3] as number) === buf.length - HEADER &&
    (buf[3] as number) % 4 === 0 &&
    Buffer.from(buf.buffer, buf.byteOffset, buf.length).readUInt32BE(4) === MAGIC_COOKIE
  )
}

/** Parses one STUN message (RFC 5389 §6, §15); null when it is not a well-formed one. */
export function parseStun(input: Uint8Array): StunMessage | null {
  if (!looksLikeStun(input)) return null
  const buf = Buffer.from(input.buffer, input.byteOffset, input.length)
  const type = buf.readUInt16BE(0)
  const attributes: StunAttribute[] = []
  let integrityAt = -1
  let fingerprintAt = -1
  let at = HEADER
  while (at < buf.length) {
    if (at + 4 > buf.length) return null
    const t = buf.readUInt16BE(at)
    const len = buf.readUInt16BE(at + 2)
    const end = at + 4 + len
    if (end > buf.length) return null
    const value = buf.subarray(at + 4, end)
    if (fingerprintAt >= 0) return null // §15.5: FINGERPRINT is the last attribute
    if (t === StunAttr.fingerprint) {
      if (len !== 4) return null
      fingerprintAt = at
      attributes.push({ type: t, value })
    } else if (integrityAt < 0) {
      if (t === StunAttr.messageIntegrity) {
        if (len !== 20) return null
        integrityAt = at
      }
      attributes.push({ type: t, value })
    }
    // §15.4: attributes after MESSAGE-INTEGRITY other than FINGERPRINT are ignored.
    at = end + ((4 - (len % 4)) % 4) // §15: values are padded to a multiple of 4 bytes
  }
  if (at !== buf.length) return null
  return { type, transactionId: buf.subarray(8, HEADER), attributes, integrityAt, fingerprintAt, raw: buf }
}

/** The first attribute of `type`, if any. */
export function attribute(msg: StunMessage, type: number): Buffer | undefined {
  return msg.attributes.find((a) => a.type === type)?.value
}

/** A copy of the message up to `end` with the header length set to `length` (§15.4, §15.5). */
function withLength(raw: Buffer, end: number, length: number): Buffer {
  const b = Buffer.from(raw.subarray(0, end))
  b.writeUInt16BE(length, 2)
  return b
}

/**
 * RFC 5389 §15.4: HMAC-SHA1 keyed with `key` (short-term credentials, §15.4/§10.1: the SASLprep'd
 * password; ICE passwords are ASCII so it is the password's bytes) over the message up to the
 * MESSAGE-INTEGRITY attribute, with the header length counting up to the end of that attribute.
 */
export function verifyIntegrity(msg: StunMessage, key: Uint8Array | string): boolean {
  if (msg.integrityAt < 0) return false
  const mac = integrityOf(msg.raw, msg.integrityAt, key)
  return timingSafeEqual(mac, msg.raw.subarray(msg.integrityAt + 4, msg.integrityAt + 24))
}

function integrityOf(raw: Buffer, at: number, key: Uint8Array | string): Buffer {
  return createHmac('sha1', key)
    .update(withLength(raw, at, at + 24 - HEADER))
    .digest()
}

/** RFC 5389 §15.5: true when there is no FINGERPRINT or it matches; false when it does not. */
export function verifyFingerprint(msg: StunMessage): boolean {
  if (msg.fingerprintAt < 0) return true
  const at = msg.fingerprintAt
  const want = (crc32(withLength(msg.raw, at, at + 8 - HEADER)) ^ FINGERPRINT_XOR) >>> 0
  return msg.raw.readUInt32BE(at + 4) === want
}

/** A UDP transport address. */
export interface StunAddress {
  readonly address: string
  readonly port: number
}

/** RFC 5389 §15.2: the XOR-MAPPED-ADDRESS value of `addr` for transaction `tid`. */
export function encodeXorAddress(addr: StunAddress, tid: Uint8Array): Buffer {
  const v4 = isIPv4(addr.address)
  const ip = v4 ? ipv4Bytes(addr.address) : ipv6Bytes(addr.address)
  const out = Buffer.alloc(4 + ip.length)
  out[1] = v4 ? 0x01 : 0x02
  out.writeUInt16BE((addr.port ^ (MAGIC_COOKIE >>> 16)) & 0xffff, 2)
  const mask = Buffer.alloc(16)
  mask.writeUInt32BE(MAGIC_COOKIE, 0)
  Buffer.from(tid).copy(mask, 4)
  for (let i = 0; i < ip.length; i++) out[4 + i] = (ip[i] as number) ^ (mask[i] as number)
  return out
}

/** RFC 5389 §15.2: decodes an XOR-MAPPED-ADDRESS value; null when malformed. */
export function decodeXorAddress(value: Uint8Array, tid: Uint8Array): StunAddress | null {
  const family = value[1]
  const n = family === 0x01 ? 4 : family === 0x02 ? 16 : 0
  if (n === 0 || value.length !== 4 + n) return null
  const port = ((((value[2] as number) << 8) | (value[3] as number)) ^ (MAGIC_COOKIE >>> 16)) & 0xffff
  const mask = Buffer.alloc(16)
  mask.writeUInt32BE(MAGIC_COOKIE, 0)
  Buffer.from(tid).copy(mask, 4)
  const ip = Buffer.alloc(n)
  for (let i = 0; i < n; i++) ip[i] = (value[4 + i] as number) ^ (mask[i] as number)
  const address =
    n === 4
      ? [...ip].join('.')
      : Array.from({ length: 8 }, (_, i) => ip.readUInt16BE(i * 2).toString(16)).join(':')
  return { address, port }
}

function ipv4Bytes(a: string): Buffer {
  return Buffer.from(a.split('.').map(Number))
}

function ipv6Bytes(a: string): Buffer {
  // Expand "::" and an embedded dotted quad (e.g. ::ffff:1.2.3.4) into eight 16-bit groups.
  let s = a.replace(/%.*$/, '')
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(s)
  if (quad) {
    const b = ipv4Bytes(quad[1] as string)
    s = `${s.slice(0, quad.index)}${b.readUInt16BE(0).toString(16)}:${b.readUInt16BE(2).toString(16)}`
  }
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined]
  const h = head ? head.split(':') : []
  const t = tail ? tail.split(':') : []
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t]
  const out = Buffer.alloc(16)
  for (const [i, g] of groups.entries()) out.writeUInt16BE(Number.parseInt(g, 16) & 0xffff, i * 2)
  return out
}

export interface BuildOptions {
  /** Adds MESSAGE-INTEGRITY keyed with this (§15.4). */
  readonly integrityKey?: Uint8Array | string
  /** Adds FINGERPRINT (§15.5), last. */
  readonly fingerprint?: boolean
}

/** Encodes a message: header, attributes (padded, §15), then MESSAGE-INTEGRITY and FINGERPRINT. */
export function buildStun(
  type: number,
  transactionId: Uint8Array,
  attributes: readonly StunAttribute[],
  options: BuildOptions = {},
): Buffer {
  const parts: Buffer[] = []
  const header = Buffer.alloc(HEADER)
  header.writeUInt16BE(type, 0)
  header.writeUInt32BE(MAGIC_COOKIE, 4)
  Buffer.from(transactionId).copy(header, 8)
  parts.push(header)
  for (const a of attributes) {
    const h = Buffer.alloc(4)
    h.writeUInt16BE(a.type, 0)
    h.writeUInt16BE(a.value.length, 2)
    parts.push(h, a.value, Buffer.alloc((4 - (a.value.length % 4)) % 4))
  }
  let msg = Buffer.concat(parts)
  msg.writeUInt16BE(msg.length - HEADER, 2)
  if (options.integrityKey !== undefined) {
    const at = msg.length
    const mac = integrityOf(msg, at, options.integrityKey)
    const a = Buffer.alloc(24)
    a.writeUInt16BE(StunAttr.messageIntegrity, 0)
    a.writeUInt16BE(20, 2)
    mac.copy(a, 4)
    msg = Buffer.concat([msg, a])
    msg.writeUInt16BE(msg.length - HEADER, 2)
  }
  if (options.fingerprint) {
    const at = msg.length
    const a = Buffer.alloc(8)
    a.writeUInt16BE(StunAttr.fingerprint, 0)
    a.writeUInt16BE(4, 2)
    msg = Buffer.concat([msg, a])
    msg.writeUInt16BE(msg.length - HEADER, 2)
    msg.writeUInt32BE((crc32(msg.subarray(0, at)) ^ FINGERPRINT_XOR) >>> 0, at + 4)
  }
  return msg
}

/** RFC 5389 §15.6: an ERROR-CODE value (class in the hundreds digit, then number, then reason). */
export function errorCodeValue(code: number, reason: string): Buffer {
  const r = Buffer.from(reason, 'utf8')
  const v = Buffer.alloc(4 + r.length)
  v[2] = Math.floor(code / 100)
  v[3] = code % 100
  r.copy(v, 4)
  return v
}

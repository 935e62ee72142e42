import { SdpError, SdpErrorCode } from './errors.ts'
import type { SdpLines } from './session-description.ts'

/** `a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>]` (RFC 8866 §6.6). */
export interface RtpMap {
  payloadType: number
  encoding: string
  clockRate: number
  channels: number
}

/** `a=crypto:<tag> <suite> <key params> [<session params>]` (RFC 4568 §9.1). */
export interface Crypto {
  tag: number
  suite: string
  /** The key parameters, e.g. `inline:<base64 key||salt>[|<lifetime>][|<MKI>:<length>]`, `;`-separated. */
  keyParams: string
  sessionParams: string[]
}

/** `a=rtcp:<port> [<nettype> <addrtype> <address>]` (RFC 3605 §2.1). */
export interface RtcpAttribute {
  port: number
  address: string | undefined
  addrType: string | undefined
}

/** `a=candidate:` (RFC 8839 §5.1). */
export interface IceCandidate {
  foundation: string
  component: number
  transport: string
  priority: number
  address: string
  port: number
  type: string
  relatedAddress: string | undefined
  relatedPort: number | undefined
  /** Extension attribute name/value pairs after the mandatory part. */
  extensions: [string, string][]
}

/** `a=ssrc:<ssrc-id> <attribute>[:<value>]` (RFC 5576 §4.1). */
export interface SsrcAttribute {
  ssrc: number
  attribute: string
  value: string | undefined
}

/** The four RFC 3264 §5.1 direction attributes. */
export const Directions = ['sendrecv', 'sendonly', 'recvonly', 'inactive'] as const
export type Direction = (typeof Directions)[number]

/**
 * Static payload types of RFC 3551 §6 that may appear without a=rtpmap (only the ones a voice SBC
 * meets; others need an rtpmap to be matched by name).
 */
export const STATIC_PAYLOAD_TYPES: ReadonlyMap<number, RtpMap> = new Map(
  (
    [
      [0, 'PCMU', 8000],
      [3, 'GSM', 8000],
      [4, 'G723', 8000],
      [8, 'PCMA', 8000],
      [9, 'G722', 8000],
      [13, 'CN', 8000],
      [18, 'G729', 8000],
    ] as const
  ).map(([pt, encoding, clockRate]) => [pt, { payloadType: pt, encoding, clockRate, channels: 1 }]),
)

function bad(what: string, value: string): SdpError {
  return new SdpError(SdpErrorCode.syntax, `malformed ${what} '${value.slice(0, 80)}'`)
}

function int(text: string | undefined, max: number): number | undefined {
  if (text === undefined || !/^\d{1,10}$/.test(text)) return undefined
  const n = Number(text)
  return n <= max ? n : undefined
}

/** Parses an rtpmap value. */
export function parseRtpMap(value: string): RtpMap {
  const m = /^(\d{1,3}) ([^/\s]+)\/(\d+)(?:\/(\d+))?$/.exec(value.trim())
  const pt = int(m?.[1], 127)
  const clockRate = int(m?.[3], 10_000_000)
  const channels = m?.[4] === undefined ? 1 : int(m[4], 255)
  if (!m || pt === undefined || !clockRate || channels === undefined) throw bad('a=rtpmap', value)
  return { payloadType: pt, encoding: m[2] ?? '', clockRate, channels }
}

/** Formats an rtpmap value; channels are written only when not 1 (RFC 8866 §6.6). */
export function formatRtpMap(r: RtpMap): string {
  return `${r.payloadType} ${r.encoding}/${r.clockRate}${r.channels === 1 ? '' : `/${r.channels}`}`
}

/** Parses an a=crypto value. */
export function parseCrypto(value: string): Crypto {
  const parts = value.trim().split(/\s+/)
  const tag = int(parts[0], 999_999_999)
  const suite = parts[1]
  const keyParams = parts[2]
  if (tag === undefined || !suite || !keyParams || !/^[A-Za-z0-9_]+$/.test(suite))
    throw bad('a=crypto', value)
  return { tag, suite, keyParams, sessionParams: parts.slice(3) }
}

/** Formats an a=crypto value. */
export function formatCrypto(c: Crypto): string {
  return [String(c.tag), c.suite, c.keyParams, ...c.sessionParams].join(' ')
}

/**
 * The first inline key of a crypto attribute, base64-decoded (master key || master salt), or
 * `undefined` if the key method is not `inline` (RFC 4568 §6.1).
 */
export function cryptoInlineKey(c: Crypto): Buffer | undefined {
  const first = c.keyParams.split(';')[0] ?? ''
  if (!first.startsWith('inline:')) return undefined
  const b64 = first.slice('inline:'.length).split('|')[0] ?? ''
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw bad('a=crypto key', c.keyParams)
  return Buffer.from(b64, 'base64')
}

/** Parses an a=rtcp value. */
export function parseRtcp(value: string): RtcpAttribute {
  const m = /^(\d{1,5})(?: (\S+) (\S+) (\S+))?$/.exec(value.trim())
  const port = int(m?.[1], 65_535)
  if (!m || port === undefined) throw bad('a=rtcp', value)
  return { port, addrType: m[3], address: m[4] }
}

/** Formats an a=rtcp value. */
export function formatRtcp(r: RtcpAttribute): string {
  return r.address === undefined ? String(r.port) : `${r.port} IN ${r.addrType ?? 'IP4'} ${r.address}`
}

/** Parses an a=candidate value. */
export function parseCandidate(value: string): IceCandidate {
  const p = value.trim().split(/\s+/)
  const component = int(p[1], 256)
  const priority = int(p[3], 4_294_967_295)
  const port = int(p[5], 65_535)
  if (
    !p[0] ||
    component === undefined ||
    !p[2] ||
    priority === undefined ||
    !p[4] ||
    port === undefined ||
    p[6] !== 'typ' ||
    !p[7]
  ) {
    throw bad('a=candidate', value)
  }
  const c: IceCandidate = {
    foundation: p[0],
    component,
    transport: p[2],
    priority,
    address: p[4],
    port,
    type: p[7],
    relatedAddress: undefined,
    relatedPort: undefined,
    extensions: [],
  }
  for (let i = 8; i + 1 < p.length; i += 2) {
    const k = p[i] as string
    const v = p[i + 1] as string
    if (k === 'raddr') c.relatedAddress = v
    else if (k === 'rport') c.relatedPort = int(v, 65_535)
    else c.extensions.push([k, v])
  }
  return c
}

/** Formats an a=candidate value. */
export function formatCandidate(c: IceCandidate): string {
  const parts = [c.foundation, c.component, c.transport, c.priority, c.address, c.port, 'typ', c.type]
  if (c.relatedAddress !== undefined) parts.push('raddr', c.relatedAddress)
  if (c.relatedPort !== undefined) parts.push('rport', c.relatedPort)
  for (const [k, v] of c.extensions) parts.push(k, v)
  return parts.join(' ')
}

/** Parses an a=ssrc value. */
export function parseSsrc(value: string): SsrcAttribute {
  const m = /^(\d{1,10}) ([^:\s]+)(?::(.*))?$/.exec(value.trim())
  const ssrc = int(m?.[1], 4_294_967_295)
  if (!m || ssrc === undefined) throw bad('a=ssrc', value)
  return { ssrc, attribute: m[2] ?? '', value: m[3] }
}

/** All rtpmaps of a part, plus static payload types listed without one. */
export function rtpMaps(part: SdpLines, formats: readonly string[] = []): Map<number, RtpMap> {
  const out = new Map<number, RtpMap>()
  for (const v of part.attributes('rtpmap')) {
    const r = parseRtpMap(v)
    out.set(r.payloadType, r)
  }
  for (const f of formats) {
    const pt = int(f, 127)
    const s = pt === undefined ? undefined : STATIC_PAYLOAD_TYPES.get(pt)
    if (s && !out.has(s.payloadType)) out.set(s.payloadType, s)
  }
  return out
}

/** The a=fmtp parameters of one payload type, or `undefined`. */
export function fmtp(part: SdpLines, payloadType: number): string | undefined {
  for (const v of part.attributes('fmtp')) {
    const m = /^(\d{1,3}) (.*)$/.exec(v)
    if (m && Number(m[1]) === payloadType) return m[2]
  }
  return undefined
}

/** a=crypto lines of a part. */
export function cryptos(part: SdpLines): Crypto[] {
  return part.attributes('crypto').map(parseCrypto)
}

/** a=candidate lines of a part. */
export function candidates(part: SdpLines): IceCandidate[] {
  return part.attributes('candidate').map(parseCandidate)
}

/** a=ssrc lines of a part. */
export function ssrcs(part: SdpLines): SsrcAttribute[] {
  return part.attributes('ssrc').map(parseSsrc)
}

/** The a=rtcp attribute of a part, or `undefined`. */
export function rtcp(part: SdpLines): RtcpAttribute | undefined {
  const v = part.attribute('rtcp')
  return v === undefined ? undefined : parseRtcp(v)
}

/** A numeric attribute such as a=ptime / a=maxptime (milliseconds), or `undefined`. */
export function numericAttribute(part: SdpLines, name: 'ptime' | 'maxptime'): number | undefined {
  const v = part.attribute(name)
  if (v === undefined) return undefined
  const n = Number(v.trim())
  if (!Number.isFinite(n) || n <= 0) throw bad(`a=${name}`, v)
  return n
}

/** The direction attribute of a part, or `undefined` if none is present. */
export function direction(part: SdpLines): Direction | undefined {
  return Directions.find((d) => part.hasAttribute(d))
}

/**
 * The effective direction of a media section: its own attribute, else the session's, else
 * `sendrecv` (RFC 3264 §5.1 / RFC 8866 §6.7: sendrecv is the default).
 */
export function effectiveDirection(session: SdpLines, media: SdpLines): Direction {
  return direction(media) ?? direction(session) ?? 'sendrecv'
}

/** ICE credentials of a part (RFC 8839 §5.4). */
export function iceCredentials(part: SdpLines): { ufrag: string; pwd: string } | undefined {
  const ufrag = part.attribute('ice-ufrag')
  const pwd = part.attribute('ice-pwd')
  return ufrag === undefined || pwd === undefined ? undefined : { ufrag, pwd }
}

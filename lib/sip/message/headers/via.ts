import { SipParseError, SipParseReason } from '../../errors.ts'
import { ascii, bytesAt, HOST, octets, scanToken, skipWs } from '../scan.ts'
import type { Params } from './params.ts'
import { getParam, paramsStop, parseParamsAt, stringifyParams } from './params.ts'

/**
 * One Via value (RFC 3261 §20.42, §25.1 via-parm):
 * `SIP/2.0/UDP host:port;branch=z9hG4bK...;received=...;rport`.
 */
export interface Via {
  /** Protocol name as written, normally `SIP`. */
  protocol: string
  /** Protocol version as written, normally `2.0`. */
  version: string
  /** Transport token as written (`UDP`, `TCP`, `TLS`, `SCTP`, `WS`, `WSS` or an extension). */
  transport: string
  /** sent-by host: name, IPv4 or bracketed IPv6 reference. */
  host: string
  /** sent-by port, or undefined (then 5060, or 5061 for TLS, RFC 3261 §18.2.2). */
  port: number | undefined
  /** via-params in order (branch, received, rport, maddr, ttl, extensions). */
  params: Params
}

function bad(what: string): SipParseError {
  return new SipParseError(SipParseReason.BadHeaderValue, `Malformed Via (${what})`, { header: 'via' })
}

function slash(b: Uint8Array, i: number, end: number): number {
  i = skipWs(b, i, end)
  if (b[i] !== 47) throw bad('sent-protocol')
  return skipWs(b, i + 1, end)
}

const SIP = ascii('SIP')
const V2_0 = ascii('2.0')
const UDP = ascii('UDP')
const TCP = ascii('TCP')
const TLS = ascii('TLS')

// The usual spellings, returned without allocating a slice.
function transport3(s: string, b: Uint8Array, i: number): string {
  if (bytesAt(b, i, UDP)) return 'UDP'
  if (bytesAt(b, i, TCP)) return 'TCP'
  if (bytesAt(b, i, TLS)) return 'TLS'
  return s.slice(i, i + 3)
}

// Where the last parseOne() stopped: a second result without allocating a pair for it.
let stop = 0

/**
 * Parses one via-parm at `i` and returns it; {@link stop} is then the index after it (at a `,`
 * or the end). LWS is allowed around `/`, `:`, `;` and `=` (RFC 3261 §25.1 SLASH, COLON, SEMI, EQUAL).
 */
function parseOne(s: string, b: Uint8Array, i: number, end: number): Via {
  i = skipWs(b, i, end)
  let e = scanToken(b, i, end)
  if (e === i) throw bad('protocol name')
  const protocol = e - i === 3 && bytesAt(b, i, SIP) ? 'SIP' : s.slice(i, e)
  i = slash(b, e, end)
  e = scanToken(b, i, end)
  if (e === i) throw bad('protocol version')
  const version = e - i === 3 && bytesAt(b, i, V2_0) ? '2.0' : s.slice(i, e)
  i = slash(b, e, end)
  e = scanToken(b, i, end)
  if (e === i) throw bad('transport')
  const transport = e - i === 3 ? transport3(s, b, i) : s.slice(i, e)
  i = skipWs(b, e, end)
  const hs = i
  if (b[i] === 91) {
    const close = s.indexOf(']', i)
    if (close < 0 || close >= end) throw bad('IPv6 reference')
    i = close + 1
  } else {
    while (i < end) {
      const c = b[i]!
      if (HOST[c] !== 1 || c === 58 || c === 91 || c === 93) break
      i++
    }
  }
  if (i === hs) throw bad('sent-by host')
  const host = s.slice(hs, i)
  let port: number | undefined
  let j = skipWs(b, i, end)
  if (b[j] === 58) {
    j = skipWs(b, j + 1, end)
    let v = 0
    const ps = j
    while (j < end) {
      const c = b[j]!
      if (c < 48 || c > 57) break
      v = v * 10 + c - 48
      j++
    }
    if (j === ps || j - ps > 5 || v > 65535) throw bad('sent-by port')
    port = v
    i = j
  }
  const params = parseParamsAt(s, b, i, end, 'Via')
  i = paramsStop()
  stop = skipWs(b, i, end)
  return { protocol, version, transport, host, port, params }
}

/** Parses a Via header value that may hold several comma-separated via-parms. */
export function parseVia(s: string): Via[] {
  return parseViaAt(s, octets(s), 0, s.length)
}

/**
 * {@link parseVia} of `s.slice(start, end)` without the slice. `end` must be `s.length` or the
 * index of a whitespace character (a trimmed value in the message text); `b` holds the octets of
 * `s`. @internal
 */
export function parseViaAt(s: string, b: Uint8Array, start: number, end: number): Via[] {
  const first = parseOne(s, b, start, end)
  let i = stop
  // One value per line is the usual case: a one-element literal is sized exactly, where push
  // to an empty array allocates 16 slots.
  if (i >= end) return [first]
  const out: Via[] = [first]
  for (;;) {
    if (b[i] !== 44) throw bad(`unexpected '${s[i]}'`)
    out.push(parseOne(s, b, i + 1, end))
    i = stop
    if (i >= end) return out
  }
}

/** The canonical text of one Via value. */
export function stringifyVia(v: Via): string {
  const sentBy = v.port === undefined ? v.host : `${v.host}:${v.port}`
  return `${v.protocol}/${v.version}/${v.transport} ${sentBy}${stringifyParams(v.params)}`
}

/** The `branch` parameter, or undefined (RFC 2543 peers send none; RFC 3261 §17.2.3 falls back). */
export function viaBranch(v: Via): string | undefined {
  return getParam(v.params, 'branch') ?? undefined
}

/** The `received` parameter (RFC 3261 §18.2.1), or undefined. */
export function viaReceived(v: Via): string | undefined {
  return getParam(v.params, 'received') ?? undefined
}

/**
 * The `rport` parameter (RFC 3581 §4): `true` when present without a value (a request asking for
 * symmetric response routing), the port number when filled in, undefined when absent.
 */
export function viaRport(v: Via): number | true | undefined {
  const r = getParam(v.params, 'rport')
  if (r === undefined) return undefined
  if (r === null) return true
  const n = Number(r)
  return Number.isInteger(n) && n >= 0 && n <= 65535 ? n : undefined
}

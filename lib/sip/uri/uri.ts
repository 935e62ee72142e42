import { SipParseError, SipParseReason } from '../errors.ts'
import type { Params } from '../message/headers/params.ts'
import { stringifyParams } from '../message/headers/params.ts'
import { octets } from '../message/scan.ts'

/**
 * A `sip:` or `sips:` URI (RFC 3261 §19.1.1). Parts are kept as written, escapes included, so a
 * URI re-serialises to the same text; use {@link unescapeUriPart} to compare (RFC 3261 §19.1.4).
 */
export interface SipUri {
  readonly kind: 'sip'
  /** `sip` or `sips`, lower-case. */
  scheme: 'sip' | 'sips'
  /** User part as written (may hold `;` and escapes, RFC 4475 §3.1.1.9), or undefined. */
  user: string | undefined
  /** Password as written, or undefined. */
  password: string | undefined
  /** Host name, IPv4 address or IPv6 reference with its brackets. */
  host: string
  /** Port, or undefined when absent. */
  port: number | undefined
  /** URI parameters (`;transport=tcp;lr`). */
  params: Params
  /** URI headers (`?Route=...&Subject=...`), values as written (escaped). */
  headers: Array<[name: string, value: string]>
}

/** A `tel:` URI (RFC 3966): the number and its parameters, as written. */
export interface TelUri {
  readonly kind: 'tel'
  scheme: 'tel'
  /** The global or local number (`+1-201-555-0123`, `7042;phone-context=...` has number `7042`). */
  number: string
  params: Params
}

/** Any other absolute URI (RFC 3261 §25.1 absoluteURI), kept opaque (RFC 4475 §3.3.2 `unkscm`). */
export interface AbsoluteUri {
  readonly kind: 'absolute'
  /** Scheme, lower-case. */
  scheme: string
  /** Everything after the first `:`. */
  opaque: string
}

/** The URIs a SIP message can carry. */
export type Uri = SipUri | TelUri | AbsoluteUri

function table(chars: string): Uint8Array {
  const t = new Uint8Array(256)
  for (let c = 0x30; c <= 0x39; c++) t[c] = 1
  for (let c = 0x41; c <= 0x5a; c++) t[c] = 1
  for (let c = 0x61; c <= 0x7a; c++) t[c] = 1
  for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)] = 1
  return t
}

// RFC 3261 §25.1: unreserved = alphanum / mark; mark = - _ . ! ~ * ' ( )
const MARK = "-_.!~*'()"
const USER = table(`${MARK}&=+$,;?/%`)
const PASSWORD = table(`${MARK}&=+$,%`)
const PARAM = table(`${MARK}[]/:&+$%`)
const HNV = table(`${MARK}[]/?:+$%`)
const HOSTNAME = table('-._')
const IPV6 = table(':.')
const SCHEME = table('+-.')

function badUri(what: string): SipParseError {
  return new SipParseError(SipParseReason.BadUri, `Malformed URI (${what})`)
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66)
}

/** Scans octets of class `t` (with `%HH` escapes checked) from `i`; returns the stop index. */
function scanClass(b: Uint8Array, i: number, end: number, t: Uint8Array, what: string): number {
  while (i < end) {
    const c = b[i]!
    if (t[c] !== 1) break
    if (c === 37) {
      if (i + 2 >= end || !isHex(b[i + 1]!) || !isHex(b[i + 2]!)) throw badUri(`bad escape in ${what}`)
      i += 3
    } else i++
  }
  return i
}

/**
 * Parses a URI. Throws {@link SipParseError} (reason `bad-uri`) when the text matches none of the
 * SIP, SIPS, tel or absolute URI grammars.
 */
export function parseUri(s: string): Uri {
  return parseUriAt(s, octets(s), 0, s.length)
}

/**
 * {@link parseUri} of `s.slice(start, end)` without the slice; `b` holds the octets of `s` (see
 * `octets`), which the scanners read. @internal
 */
export function parseUriAt(s: string, b: Uint8Array, start: number, end: number): Uri {
  let colon = -1
  for (let i = start; i < end; i++) {
    const c = b[i]!
    if (c === 58) {
      colon = i
      break
    }
    if (SCHEME[c] !== 1 || (i === start && !((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a)))
      throw badUri('scheme')
  }
  if (colon <= start) throw badUri('no scheme')
  const scheme = schemeOf(s, b, start, colon)
  if (scheme === 'sip' || scheme === 'sips') return parseSipUri(s, b, scheme, colon + 1, end)
  if (scheme === 'tel') return parseTelUri(s, b, colon + 1, end)
  if (colon + 1 >= end) throw badUri('empty')
  for (let i = colon + 1; i < end; i++) {
    const c = b[i]!
    if (c <= 32 || c === 127 || c === 60 || c === 62 || c === 34) throw badUri('character')
  }
  return { kind: 'absolute', scheme, opaque: s.slice(colon + 1, end) }
}

/** The scheme, lower-case: the usual ones without allocating. */
function schemeOf(s: string, b: Uint8Array, start: number, colon: number): string {
  const len = colon - start
  const c0 = b[start]! | 0x20
  const c1 = b[start + 1]! | 0x20
  const c2 = b[start + 2]! | 0x20
  if (len === 3 && c0 === 0x73 && c1 === 0x69 && c2 === 0x70) return 'sip'
  if (len === 4 && c0 === 0x73 && c1 === 0x69 && c2 === 0x70 && (b[start + 3]! | 0x20) === 0x73) return 'sips'
  if (len === 3 && c0 === 0x74 && c1 === 0x65 && c2 === 0x6c) return 'tel'
  return s.slice(start, colon).toLowerCase()
}

function parseUriParams(s: string, b: Uint8Array, i: number, end: number, params: Params): number {
  while (i < end && b[i] === 59) {
    const ns = i + 1
    const ne = scanClass(b, ns, end, PARAM, 'parameter')
    if (ne === ns) throw badUri('empty parameter')
    if (ne < end && b[ne] === 61) {
      const ve = scanClass(b, ne + 1, end, PARAM, 'parameter')
      if (ve === ne + 1) throw badUri('empty parameter value')
      params.push([s.slice(ns, ne), s.slice(ne + 1, ve)])
      i = ve
    } else {
      params.push([s.slice(ns, ne), null])
      i = ne
    }
  }
  return i
}

function parseSipUri(s: string, b: Uint8Array, scheme: 'sip' | 'sips', i: number, n: number): SipUri {
  let user: string | undefined
  let password: string | undefined
  // The user part may hold ; ? , / : (user-unreserved), so the '@' is found first. Neither host,
  // parameters nor headers may contain an unescaped '@' (RFC 3261 §25.1).
  let at = s.indexOf('@', i)
  if (at >= n) at = -1
  if (at >= 0) {
    const ue = scanClass(b, i, at, USER, 'user')
    if (ue === at) {
      user = s.slice(i, at)
    } else if (b[ue] === 58) {
      user = s.slice(i, ue)
      if (scanClass(b, ue + 1, at, PASSWORD, 'password') !== at) throw badUri('password')
      password = s.slice(ue + 1, at)
    } else throw badUri('user')
    if (user.length === 0) throw badUri('empty user')
    i = at + 1
  }
  const hs = i
  if (b[i] === 91) {
    i++
    while (i < n && IPV6[b[i]!] === 1 && b[i] !== 93) i++
    if (b[i] !== 93 || i === hs + 1 || i >= n) throw badUri('IPv6 reference')
    i++
  } else {
    while (i < n && HOSTNAME[b[i]!] === 1) i++
  }
  if (i === hs) throw badUri('empty host')
  const host = s.slice(hs, i)
  let port: number | undefined
  if (i < n && b[i] === 58) {
    const ps = ++i
    let v = 0
    while (i < n) {
      const c = b[i]!
      if (c < 48 || c > 57) break
      v = v * 10 + c - 48
      i++
    }
    if (i === ps || i - ps > 5 || v > 65535) throw badUri('port')
    port = v
  }
  const params: Params = []
  i = parseUriParams(s, b, i, n, params)
  const headers: Array<[string, string]> = []
  if (i < n && b[i] === 63) {
    do {
      const ns = i + 1
      const ne = scanClass(b, ns, n, HNV, 'header name')
      if (ne === ns || ne >= n || b[ne] !== 61) throw badUri('header')
      const ve = scanClass(b, ne + 1, n, HNV, 'header value')
      headers.push([s.slice(ns, ne), s.slice(ne + 1, ve)])
      i = ve
    } while (i < n && b[i] === 38)
  }
  if (i !== n) throw badUri(`unexpected character '${s[i]}'`)
  return { kind: 'sip', scheme, user, password, host, port, params, headers }
}

function parseTelUri(s: string, b: Uint8Array, i: number, n: number): TelUri {
  let semi = s.indexOf(';', i)
  if (semi >= n) semi = -1
  const ne = semi < 0 ? n : semi
  if (ne === i) throw badUri('empty telephone number')
  for (let j = i; j < ne; j++) {
    const c = b[j]!
    if (c <= 32 || c === 127 || c === 60 || c === 62 || c === 34 || c === 63 || c === 64)
      throw badUri('tel number')
  }
  const params: Params = []
  if (parseUriParams(s, b, ne, n, params) !== n) throw badUri('tel parameter')
  return { kind: 'tel', scheme: 'tel', number: s.slice(i, ne), params }
}

/** The text of a URI; `parseUri(stringifyUri(u))` equals `u`. */
export function stringifyUri(u: Uri): string {
  if (u.kind === 'absolute') return `${u.scheme}:${u.opaque}`
  if (u.kind === 'tel') return `tel:${u.number}${stringifyParams(u.params)}`
  let out = `${u.scheme}:`
  if (u.user !== undefined) out += u.password === undefined ? `${u.user}@` : `${u.user}:${u.password}@`
  out += u.host
  if (u.port !== undefined) out += `:${u.port}`
  out += stringifyParams(u.params)
  for (let k = 0; k < u.headers.length; k++) {
    const h = u.headers[k]!
    out += `${k === 0 ? '?' : '&'}${h[0]}=${h[1]}`
  }
  return out
}

/** Resolves `%HH` escapes (RFC 3261 §19.1.4: compare URIs after unescaping); octets become chars. */
export function unescapeUriPart(s: string): string {
  if (s.indexOf('%') < 0) return s
  return s.replace(/%([0-9a-fA-F]{2})/g, (_m, h: string) => String.fromCharCode(Number.parseInt(h, 16)))
}

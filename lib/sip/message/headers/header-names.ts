import { ascii, bytesAt, TOKEN } from '../scan.ts'

/**
 * Compact header names (RFC 3261 §7.3.3 and the extensions that define one) mapped to the
 * lower-case full name.
 */
export const COMPACT_FORMS: Readonly<Record<string, string>> = {
  a: 'accept-contact', // RFC 3841
  b: 'referred-by', // RFC 3892
  c: 'content-type',
  d: 'request-disposition', // RFC 3841
  e: 'content-encoding',
  f: 'from',
  i: 'call-id',
  j: 'reject-contact', // RFC 3841
  k: 'supported',
  l: 'content-length',
  m: 'contact',
  n: 'identity-info', // RFC 4474
  o: 'event', // RFC 6665
  r: 'refer-to', // RFC 3515
  s: 'subject',
  t: 'to',
  u: 'allow-events', // RFC 6665
  v: 'via',
  x: 'session-expires', // RFC 4028
  y: 'identity', // RFC 8224
}

/** Conventional spelling of well-known headers, used when the library writes a header itself. */
export const DISPLAY_NAMES: Readonly<Record<string, string>> = {
  'call-id': 'Call-ID',
  cseq: 'CSeq',
  'www-authenticate': 'WWW-Authenticate',
  'mime-version': 'MIME-Version',
  'content-length': 'Content-Length',
  'max-forwards': 'Max-Forwards',
  'record-route': 'Record-Route',
  via: 'Via',
  from: 'From',
  to: 'To',
  contact: 'Contact',
  route: 'Route',
}

const cache = new Map<string, string>()
// Bounded, so that peers sending random header names cannot grow it without limit.
const CACHE_MAX = 512

for (const [short, long] of Object.entries(COMPACT_FORMS)) {
  cache.set(short, long)
  cache.set(short.toUpperCase(), long)
}
for (const [key, display] of Object.entries(DISPLAY_NAMES)) {
  cache.set(key, key)
  cache.set(display, key)
}
for (const display of ['Content-Type', 'Expires', 'Subject', 'Supported', 'Require', 'Allow', 'Accept']) {
  cache.set(display, display.toLowerCase())
}

/**
 * The canonical key of a header name as written: lower case, compact form expanded (RFC 3261 §7.3:
 * names are case-insensitive, §7.3.3: compact forms are equivalent). Returns undefined when the
 * name is not a token.
 */
export function headerKey(name: string): string | undefined {
  const fast = wellKnown(name)
  if (fast !== undefined) return fast
  const hit = cache.get(name)
  if (hit !== undefined) return hit
  const n = name.length
  if (n === 0) return undefined
  for (let i = 0; i < n; i++) if (TOKEN[name.charCodeAt(i)] !== 1) return undefined
  const lower = name.toLowerCase()
  const key = n === 1 ? (COMPACT_FORMS[lower] ?? lower) : lower
  if (cache.size < CACHE_MAX) cache.set(name, key)
  return key
}

/** How the library spells a header it writes itself, given its key. */
export function displayName(key: string): string {
  const known = DISPLAY_NAMES[key]
  if (known !== undefined) return known
  return key.replace(/(^|-)([a-z])/g, (_m, d: string, c: string) => d + c.toUpperCase())
}

// The usual spellings of the headers seen on most calls, matched in place in the parsed text:
// slicing each name and hashing it for the Map lookup measured as the largest cost of header
// splitting. Any other spelling or name still works, through headerKey().
const WELL_KNOWN_NAMES = [
  'To',
  'Via',
  'From',
  'CSeq',
  'Date',
  'Path',
  'RSeq',
  'RAck',
  'Route',
  'Allow',
  'Event',
  'Min-SE',
  'Reason',
  'Server',
  'Accept',
  'Call-ID',
  'Contact',
  'Require',
  'Expires',
  'Subject',
  'Privacy',
  'Warning',
  'Refer-To',
  'Replaces',
  'Supported',
  'Diversion',
  'Timestamp',
  'User-Agent',
  'Referred-By',
  'Min-Expires',
  'Unsupported',
  'Retry-After',
  'Max-Forwards',
  'Content-Type',
  'Record-Route',
  'Organization',
  'Allow-Events',
  'History-Info',
  'Authorization',
  'Proxy-Require',
  'Service-Route',
  'Content-Length',
  'Accept-Language',
  'Session-Expires',
  'Accept-Encoding',
  'Remote-Party-ID',
  'Content-Encoding',
  'WWW-Authenticate',
  'Proxy-Authenticate',
  'Proxy-Authorization',
  'P-Asserted-Identity',
  'Content-Disposition',
  'P-Preferred-Identity',
  'P-Charging-Vector',
  'P-Access-Network-Info',
]
/** The internalised copy of `s` (property keys are), so that `===` on keys compares pointers. */
function intern(s: string): string {
  return Object.keys({ [s]: 0 })[0]!
}

type WellKnown = readonly [name: string, key: string, bytes: Uint8Array]
// By length, then by first character: one or two string compares per name.
const BY_LENGTH: Array<Array<WellKnown[] | undefined> | undefined> = []
for (const name of WELL_KNOWN_NAMES) {
  const byFirst = BY_LENGTH[name.length] ?? []
  BY_LENGTH[name.length] = byFirst
  const c = name.charCodeAt(0)
  const list = byFirst[c] ?? []
  byFirst[c] = list
  list.push([name, intern(name.toLowerCase()), ascii(name)])
}

/**
 * If `src` holds, from `start` to `end`, the usual spelling of a common header, that [name, key]
 * pair (shared constants, so nothing is allocated); else undefined.
 */
export function wellKnownAt(src: string, start: number, end: number): WellKnown | undefined {
  const byFirst = BY_LENGTH[end - start]
  if (byFirst === undefined) return undefined
  const list = byFirst[src.charCodeAt(start)]
  if (list === undefined) return undefined
  for (let k = 0; k < list.length; k++) {
    const e = list[k]!
    if (src.startsWith(e[0], start)) return e
  }
  return undefined
}

// The same names by first character only, for finding a name and its colon without searching.
const BY_FIRST: Array<WellKnown[] | undefined> = []
for (const byFirst of BY_LENGTH) {
  if (byFirst === undefined) continue
  byFirst.forEach((list, c) => {
    if (list === undefined) return
    const all = BY_FIRST[c] ?? []
    BY_FIRST[c] = all
    all.push(...list)
  })
}

/**
 * If the header line at `start` of the message octets `bytes` begins with the usual spelling of a
 * common header immediately followed by `:`, that [name, key] pair (the colon is at
 * `start + name.length`); else undefined. Bytes are compared rather than the decoded text, as
 * String#startsWith costs a charCodeAt per character.
 */
export function wellKnownLineAt(bytes: Uint8Array, start: number): WellKnown | undefined {
  const list = BY_FIRST[bytes[start]!]
  if (list === undefined) return undefined
  for (let k = 0; k < list.length; k++) {
    const e = list[k]!
    const name = e[2]
    if (bytes[start + name.length] === 58 && bytesAt(bytes, start, name)) return e
  }
  return undefined
}

function wellKnown(name: string): string | undefined {
  const e = wellKnownAt(name, 0, name.length)
  return e === undefined ? undefined : e[1]
}

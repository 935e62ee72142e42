import { TOKEN } from '../scan.ts'

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

// The usual spellings of the headers on every call, matched in place in the parsed text: slicing
// each name and hashing it for the Map lookup measured as the largest cost of header splitting.
const WELL_KNOWN: ReadonlyArray<readonly [name: string, key: string]> = [
  ['To', 'to'],
  ['Via', 'via'],
  ['From', 'from'],
  ['CSeq', 'cseq'],
  ['Route', 'route'],
  ['Allow', 'allow'],
  ['Call-ID', 'call-id'],
  ['Contact', 'contact'],
  ['Require', 'require'],
  ['Supported', 'supported'],
  ['Max-Forwards', 'max-forwards'],
  ['Content-Type', 'content-type'],
  ['Record-Route', 'record-route'],
  ['Content-Length', 'content-length'],
]
const BY_LENGTH: Array<Array<readonly [string, string]>> = []
for (const e of WELL_KNOWN) {
  const list = BY_LENGTH[e[0].length] ?? []
  list.push(e)
  BY_LENGTH[e[0].length] = list
}

/**
 * If `src` holds, from `start` to `end`, the usual spelling of a common header, that [name, key]
 * pair (shared constants, so nothing is allocated); else undefined.
 */
export function wellKnownAt(src: string, start: number, end: number): readonly [string, string] | undefined {
  const list = BY_LENGTH[end - start]
  if (list === undefined) return undefined
  for (const e of list) if (src.startsWith(e[0], start)) return e
  return undefined
}

function wellKnown(name: string): string | undefined {
  const e = wellKnownAt(name, 0, name.length)
  return e === undefined ? undefined : e[1]
}

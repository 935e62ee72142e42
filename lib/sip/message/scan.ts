/**
 * Character classes and small scanners shared by the header and URI parsers. They work on the
 * octets of a value (see {@link octets}); the strings cut from it are latin1-decoded, index by index.
 */

function table(chars: string, ranges = true): Uint8Array {
  const t = new Uint8Array(256)
  if (ranges) {
    for (let c = 0x30; c <= 0x39; c++) t[c] = 1
    for (let c = 0x41; c <= 0x5a; c++) t[c] = 1
    for (let c = 0x61; c <= 0x7a; c++) t[c] = 1
  }
  for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)] = 1
  return t
}

/** RFC 3261 §25.1 `token` characters. */
export const TOKEN = table("-.!%*_+`'~")
/** Host name, IPv4 and IPv6 reference characters. */
export const HOST = table('-.[]:')

/**
 * The octets of `s`, index for index (`s` holds one octet per character, as the latin1-decoded
 * message does). A character above U+00FF becomes 0xFF, which every scanner treats like any other
 * octet above 0x7F. The scanners test these bytes rather than `s.charCodeAt(i)`: in V8 13 every charCodeAt call
 * re-checks the string's representation, and that made per-character loops cost about 60
 * instructions a character (callgrind); a Uint8Array load costs a few.
 */
export function octets(s: string): Uint8Array {
  const b = Buffer.from(s, 'latin1')
  if (WIDE.test(s)) for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0xff) b[i] = 0xff
  return b
}
const WIDE = /[\u0100-\uffff]/ // a UTF-16 code unit above latin1

/** The bytes of an ASCII literal, for {@link bytesAt}. */
export function ascii(text: string): Uint8Array {
  return Buffer.from(text, 'latin1')
}

/**
 * Whether `b` holds `word` at `i`. Comparing bytes is cheaper than String#startsWith, which V8
 * inlines as a charCodeAt per character.
 */
export function bytesAt(b: Uint8Array, i: number, word: Uint8Array): boolean {
  const n = word.length
  for (let k = 0; k < n; k++) if (b[i + k] !== word[k]) return false
  return true
}

/** Whether the code is SP, HT, CR or LF (folding is treated as whitespace by the value scanners). */
export function isWs(c: number | undefined): boolean {
  return c === 32 || c === 9 || c === 13 || c === 10
}

/** Index of the first non-whitespace octet at or after `i` (LWS, RFC 3261 §25.1). */
export function skipWs(b: Uint8Array, i: number, end: number): number {
  while (i < end && isWs(b[i])) i++
  return i
}

/** Index just past the last non-whitespace octet before `end`. */
export function trimEnd(b: Uint8Array, start: number, end: number): number {
  while (end > start && isWs(b[end - 1])) end--
  return end
}

/** Index of the end of the token starting at `i`. */
export function scanToken(b: Uint8Array, i: number, end: number): number {
  while (i < end && TOKEN[b[i]!] === 1) i++
  return i
}

/** Whether `s` is a non-empty token. */
export function isToken(s: string): boolean {
  return s.length > 0 && scanToken(octets(s), 0, s.length) === s.length
}

/**
 * Given `b[i]` is `"`, the index just past the closing quote, or -1 when the string is not
 * terminated (RFC 3261 §25.1 quoted-string with quoted-pair).
 */
export function scanQuoted(b: Uint8Array, i: number, end: number): number {
  for (let j = i + 1; j < end; j++) {
    const c = b[j]
    if (c === 92) j++
    else if (c === 34) return j + 1
  }
  return -1
}

/** The text of a quoted string (without quotes), with quoted-pairs resolved and folding made one SP. */
export function unquote(q: string): string {
  let inner = q.charCodeAt(0) === 34 ? q.slice(1, q.length - 1) : q
  if (inner.indexOf('\\') === -1 && inner.indexOf('\n') === -1) return inner
  inner = inner.replace(/\r?\n[ \t]+/g, ' ')
  return inner.replace(/\\([\s\S])/g, '$1')
}

/** A quoted-string for `text`, escaping `"` and `\` (RFC 3261 §25.1). */
export function quote(text: string): string {
  return `"${text.replace(/["\\]/g, '\\$&')}"`
}

/**
 * Splits a header value into its comma-separated elements (RFC 3261 §7.3.1), ignoring commas
 * inside quoted strings and angle brackets. Returns [start, end) pairs, trimmed; an element may be
 * empty (the caller decides whether that is an error). Returns undefined on an unterminated quote.
 */
export function splitCommas(s: string): number[] | undefined {
  const out: number[] = []
  const b = octets(s)
  let start = 0
  let angle = false
  const n = s.length
  for (let i = 0; i < n; i++) {
    const c = b[i]
    if (c === 34) {
      const q = scanQuoted(b, i, n)
      if (q < 0) return undefined
      i = q - 1
    } else if (c === 60) angle = true
    else if (c === 62) angle = false
    else if (c === 44 && !angle) {
      out.push(skipWs(b, start, i), trimEnd(b, start, i))
      start = i + 1
    }
  }
  out.push(skipWs(b, start, n), trimEnd(b, start, n))
  return out
}

/** Whether the string has any octet outside US-ASCII. */
export function hasNonAscii(s: string): boolean {
  // A regular expression rather than a charCodeAt loop: compiled to native code, it measured
  // several times faster on start lines and header values.
  return NON_ASCII.test(s)
}
const NON_ASCII = /[\u0080-\uffff]/ // any UTF-16 code unit above US-ASCII

/**
 * Character classes and small scanners shared by the header and URI parsers. They work on strings
 * whose characters are octets (latin1-decoded), index by index, so no regular expression runs on
 * the hot path.
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
/** RFC 3261 §25.1 `word` characters (Call-ID). */
export const WORD = table('-.!%*_+`\'~()<>:\\"/[]?{}')
/** Host name, IPv4 and IPv6 reference characters. */
export const HOST = table('-.[]:')

/** Whether the code is SP, HT, CR or LF (folding is treated as whitespace by the value scanners). */
export function isWs(c: number): boolean {
  return c === 32 || c === 9 || c === 13 || c === 10
}

/** Index of the first non-whitespace character at or after `i` (LWS, RFC 3261 §25.1). */
export function skipWs(s: string, i: number, end = s.length): number {
  while (i < end && isWs(s.charCodeAt(i))) i++
  return i
}

/** Index just past the last non-whitespace character before `end`. */
export function trimEnd(s: string, start: number, end: number): number {
  while (end > start && isWs(s.charCodeAt(end - 1))) end--
  return end
}

/** Index of the end of the token starting at `i`. */
export function scanToken(s: string, i: number, end = s.length): number {
  while (i < end && TOKEN[s.charCodeAt(i)] === 1) i++
  return i
}

/** Whether `s` is a non-empty token. */
export function isToken(s: string): boolean {
  return s.length > 0 && scanToken(s, 0) === s.length
}

/**
 * Given `s[i] === '"'`, the index just past the closing quote, or -1 when the string is not
 * terminated (RFC 3261 §25.1 quoted-string with quoted-pair).
 */
export function scanQuoted(s: string, i: number, end = s.length): number {
  for (let j = i + 1; j < end; j++) {
    const c = s.charCodeAt(j)
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
  let start = 0
  let angle = false
  const n = s.length
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c === 34) {
      const q = scanQuoted(s, i, n)
      if (q < 0) return undefined
      i = q - 1
    } else if (c === 60) angle = true
    else if (c === 62) angle = false
    else if (c === 44 && !angle) {
      out.push(skipWs(s, start, i), trimEnd(s, start, i))
      start = i + 1
    }
  }
  out.push(skipWs(s, start, n), trimEnd(s, start, n))
  return out
}

/** Whether the string has any octet outside US-ASCII. */
export function hasNonAscii(s: string): boolean {
  // A regular expression rather than a charCodeAt loop: compiled to native code, it measured
  // several times faster on start lines and header values.
  return NON_ASCII.test(s)
}
const NON_ASCII = /[\u0080-\uffff]/ // any UTF-16 code unit above US-ASCII

import { SipParseError, SipParseReason } from '../../errors.ts'
import type { Uri } from '../../uri/uri.ts'
import { parseUri, stringifyUri } from '../../uri/uri.ts'
import { isWs, octets, quote, scanQuoted, skipWs, TOKEN, trimEnd, unquote } from '../scan.ts'
import type { Params } from './params.ts'
import { getParam, paramsStop, parseParamsAt, stringifyParams } from './params.ts'

/**
 * A name-addr or addr-spec with header parameters (RFC 3261 §20.10, §25.1): the value of From, To,
 * Contact, Route, Record-Route, Reply-To and similar headers.
 */
export interface NameAddr {
  /** Display name, unquoted and unescaped, or undefined. */
  displayName: string | undefined
  /** The URI inside `<...>` (or the bare addr-spec). */
  uri: Uri
  /** Header parameters after the URI (`;tag=...`, `;expires=...`, `;q=...`). */
  params: Params
}

function bad(header: string, what: string): SipParseError {
  return new SipParseError(SipParseReason.BadHeaderValue, `Malformed ${header} (${what})`, {
    header: header.toLowerCase(),
  })
}

/**
 * A parsed name-addr whose URI is parsed only when first read: routing reads the tags of From and
 * To on every message but their URIs rarely. The URI text was checked for a scheme at parse time;
 * reading `uri` throws {@link SipParseError} if the rest of it is malformed.
 */
export class LazyNameAddr implements NameAddr {
  displayName: string | undefined
  params: Params
  #text: string | undefined
  #uri: Uri | undefined
  readonly #header: string

  constructor(displayName: string | undefined, uriText: string, params: Params, header: string) {
    this.displayName = displayName
    this.#text = uriText
    this.params = params
    this.#header = header
  }

  /** The URI (parsed on first access). */
  get uri(): Uri {
    if (this.#uri === undefined) this.#uri = uriOf(this.#text!, this.#header)
    return this.#uri
  }

  set uri(u: Uri) {
    this.#uri = u
    this.#text = undefined
  }

  /** The URI text as received, while the URI has not been replaced. */
  get uriText(): string {
    return this.#text ?? stringifyUri(this.uri)
  }
}

// Cheap check that runs at parse time in place of the full URI parse: a scheme and a colon.
// RFC 4475 §3.1.2.14 badaspec (`< sip:...>`) and §3.1.2.15 baddn fail it; the rest of the URI is
// checked when it is read.
function checkUriText(s: string, b: Uint8Array, start: number, end: number, header: string): string {
  let i = start
  for (; i < end; i++) {
    const d = b[i]!
    const c = d | 0x20
    if (!((c >= 0x61 && c <= 0x7a) || (i > start && (TOKEN[d] === 1 || d === 43)))) break
  }
  if (i === start || i >= end - 1 || b[i] !== 58) throw bad(header, 'URI without scheme')
  return s.slice(start, end)
}

function uriOf(text: string, header: string): Uri {
  try {
    return parseUri(text)
  } catch (err) {
    if (err instanceof SipParseError) throw bad(header, err.reasonPhrase)
    throw err
  }
}

// Where the last parseOne() stopped: a second result without allocating a pair for it.
let stop = 0

/**
 * Parses one name-addr / addr-spec from `s` at `i` and returns it; {@link stop} is then the index
 * after it and its parameters (at `,` or the end).
 */
function parseOne(s: string, b: Uint8Array, i: number, end: number, header: string): NameAddr {
  i = skipWs(b, i, end)
  let displayName: string | undefined
  let c = b[i]
  let uri: string
  if (c !== 34 && c !== 60) {
    // Either a display name made of tokens and LWS followed by '<', or an addr-spec.
    let j = i
    while (j < end) {
      const d = b[j]!
      if (TOKEN[d] !== 1 && !isWs(d)) break
      j++
    }
    if (b[j] === 60) {
      displayName = s.slice(i, trimEnd(b, i, j))
      i = j
      c = 60
    }
  } else if (c === 34) {
    const q = scanQuoted(b, i, end)
    if (q < 0) throw bad(header, 'unterminated quoted display name')
    // Without quoted-pairs or folding the text is what lies between the quotes.
    let plain = true
    for (let k = i + 1; k < q - 1; k++) {
      const d = b[k]
      if (d === 92 || d === 10) {
        plain = false
        break
      }
    }
    displayName = plain ? s.slice(i + 1, q - 1) : unquote(s.slice(i, q))
    i = skipWs(b, q, end)
    c = b[i]
    if (c !== 60) throw bad(header, "expected '<' after display name")
  }
  if (c === 60) {
    const gt = s.indexOf('>', i)
    if (gt < 0 || gt >= end) throw bad(header, "missing '>'")
    uri = checkUriText(s, b, i + 1, gt, header)
    i = gt + 1
  } else {
    // addr-spec: RFC 3261 §20.10 - a URI with ',', '?' or ';' must be in angle brackets, so the
    // URI ends at the first of these (its ';' params are header params, RFC 4475 §3.3.12).
    let j = i
    while (j < end) {
      const d = b[j]
      if (d === 59 || d === 44 || isWs(d)) break
      if (d === 63) throw bad(header, "'?' in a URI outside '<>'")
      j++
    }
    if (j === i) throw bad(header, 'empty address')
    uri = checkUriText(s, b, i, j, header)
    i = j
  }
  const params = parseParamsAt(s, b, i, end, header)
  i = paramsStop()
  stop = skipWs(b, i, end)
  return new LazyNameAddr(displayName, uri, params, header)
}

/** Parses a single name-addr (From, To). */
export function parseNameAddr(s: string, header = 'From'): NameAddr {
  return parseNameAddrAt(s, octets(s), 0, s.length, header)
}

/**
 * {@link parseNameAddr} of `s.slice(start, end)` without the slice. `end` must be `s.length` or
 * the index of a whitespace character (a trimmed value in the message text); `b` holds the octets
 * of `s`. @internal
 */
export function parseNameAddrAt(
  s: string,
  b: Uint8Array,
  start: number,
  end: number,
  header: string,
): NameAddr {
  const na = parseOne(s, b, start, end, header)
  if (stop !== end) throw bad(header, `unexpected '${s[stop]}'`)
  return na
}

/** Parses a comma-separated list of name-addrs (Contact, Route, Record-Route). */
export function parseNameAddrList(s: string, header = 'Contact'): NameAddr[] {
  return parseNameAddrListAt(s, octets(s), 0, s.length, header)
}

/** {@link parseNameAddrList} of `s.slice(start, end)`, as {@link parseNameAddrAt}. @internal */
export function parseNameAddrListAt(
  s: string,
  b: Uint8Array,
  start: number,
  end: number,
  header: string,
): NameAddr[] {
  const first = parseOne(s, b, start, end, header)
  let i = stop
  // One value per line is the usual case: a one-element literal is sized exactly, where push
  // to an empty array allocates 16 slots.
  if (i >= end) return [first]
  const out: NameAddr[] = [first]
  for (;;) {
    if (b[i] !== 44) throw bad(header, `unexpected '${s[i]}'`)
    out.push(parseOne(s, b, i + 1, end, header))
    i = stop
    if (i >= end) return out
  }
}

/** Canonical text: always `"display" <uri>;params`, which is valid for any URI. */
export function stringifyNameAddr(na: NameAddr): string {
  const dn = na.displayName === undefined ? '' : `${quote(na.displayName)} `
  const uri = na instanceof LazyNameAddr ? na.uriText : stringifyUri(na.uri)
  return `${dn}<${uri}>${stringifyParams(na.params)}`
}

/** The `tag` parameter (RFC 3261 §19.3), or undefined. */
export function nameAddrTag(na: NameAddr): string | undefined {
  return getParam(na.params, 'tag') ?? undefined
}

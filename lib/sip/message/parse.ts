import { isAscii } from 'node:buffer'
import { SipParseError, SipParseReason } from '../errors.ts'
import type { Uri } from '../uri/uri.ts'
import { parseUriAt } from '../uri/uri.ts'
import { HeaderLine } from './header-line.ts'
import { parseCallIdAt } from './headers/call-id.ts'
import type { CSeq } from './headers/cseq.ts'
import { methodAt, parseCSeqAt } from './headers/cseq.ts'
import { headerKey, wellKnownAt, wellKnownLineAt } from './headers/header-names.ts'
import { parseNameAddrAt, parseNameAddrListAt } from './headers/name-addr.ts'
import { parseUintAt, UINT32_MAX } from './headers/numeric.ts'
import { parseViaAt } from './headers/via.ts'
import type { SipParseLimits } from './limits.ts'
import { DEFAULT_LIMITS } from './limits.ts'
import type { HeaderField, SipMessage } from './message.ts'
import { CORE_SLOTS, MANY_LINES, SipRequest, SipResponse } from './message.ts'
import { ascii, bytesAt, octets, scanToken } from './scan.ts'

/** Options of {@link parse}. */
export interface SipParseOptions extends Partial<SipParseLimits> {
  /**
   * The bytes are one message cut from a stream (TCP/TLS) by a framer. Content-Length is then
   * mandatory (RFC 3261 §18.3, §20.14); for datagrams a missing one means "the rest of the
   * datagram" (RFC 4475 §3.4.1) and octets beyond it are ignored (RFC 3261 §18.3).
   */
  readonly stream?: boolean
}

const PLACEHOLDER_URI: Uri = Object.freeze({ kind: 'absolute', scheme: 'invalid', opaque: '' }) as Uri

// Headers parsed eagerly: what routing and transactions read first. Parsing them here also finds
// the malformed requests RFC 4475 §3.1.2 wants answered with 400. Single-valued ones get a bit for
// duplicate detection, list ones (Via, Contact) 0, all others -1. Keys are interned literals, so
// the switch compares pointers.
function coreBit(key: string): number {
  // Bit 1 << n is slot n of CORE_SLOTS.
  switch (key) {
    case 'from':
      return 1
    case 'to':
      return 2
    case 'call-id':
      return 4
    case 'cseq':
      return 8
    case 'max-forwards':
      return 16
    case 'content-length':
      return 32
    case 'via':
    case 'contact':
      return 0
    default:
      return -1
  }
}
// RFC 3261 §8.1.1: the headers every request must carry (Max-Forwards aside, which RFC 2543 peers
// omit, RFC 4475 §3.4.1), and the ones a stateless response copies (§8.2.6.2).
const MANDATORY = ['via', 'from', 'to', 'call-id', 'cseq'] as const

// Buffer#latin1Slice is what Buffer#toString('latin1', ...) calls after checking its arguments
// (node:buffer); called directly, it saved a few percent of parse time. Not in @types/node, so it is
// looked up once and toString is the fallback.
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice?: (start: number, end: number) => string })
  .latin1Slice

function latin1(buf: Buffer, start: number, end: number): string {
  return latin1Slice === undefined ? buf.toString('latin1', start, end) : latin1Slice.call(buf, start, end)
}

function utf8(s: string): string {
  return Buffer.from(s, 'latin1').toString('utf8')
}

function err(reason: SipParseReason, phrase: string, header?: string, status?: number): SipParseError {
  return new SipParseError(reason, phrase, { header, status })
}

function isSipVersion(v: string): boolean {
  return v.length === 7 && v.toUpperCase() === 'SIP/2.0'
}

/**
 * Parses one SIP message (RFC 3261 §7, §25) from `buf`.
 *
 * Only the start line and the headers routing needs (Via, From, To, Call-ID, CSeq, Max-Forwards,
 * Content-Length, Contact) are parsed here; other headers stay raw until asked for. The body is a
 * view on `buf`, not a copy. The message remembers its bytes, so serialising it unchanged gives them
 * back exactly.
 *
 * @throws {SipParseError} code `SBC_ERR_SIP_PARSE`, with `reason`, a `reasonPhrase` naming the
 * problem, and for requests the `status` to answer (400, 505, 513) and whether that is possible.
 */
export function parse(buf: Buffer, options?: SipParseOptions): SipMessage {
  const maxMessageSize = options?.maxMessageSize ?? DEFAULT_LIMITS.maxMessageSize
  const maxHeaders = options?.maxHeaders ?? DEFAULT_LIMITS.maxHeaders
  const maxLineLength = options?.maxLineLength ?? DEFAULT_LIMITS.maxLineLength
  const stream = options?.stream === true
  const n = buf.length

  // RFC 3261 §7.5: CRLFs before the start line are ignored.
  let start = 0
  while (start + 1 < n && buf[start] === 13 && buf[start + 1] === 10) start += 2
  if (n - start > maxMessageSize) {
    throw err(SipParseReason.TooLarge, 'Message Too Large', undefined, 513)
  }
  if (start >= n) throw err(SipParseReason.BadStartLine, 'Empty message')

  // One latin1 decode of the whole message (octet i of the message is char i) and string searches
  // on it: measured faster than Buffer#indexOf plus a decode of the header part only. The end of
  // the header section is found by the line loop below (the empty line), not by a separate search
  // for CRLF CRLF, which cost 3 % of a parse.
  const src = latin1(buf, start, n)
  const srcLen = n - start
  // The same octets as bytes, index for index: per-character tests read these, as a typed-array
  // load is a few instructions where String#charCodeAt re-checks the string's representation on
  // every call (V8 13), which made those tests the larger part of the line loop (callgrind).
  const u: Uint8Array = start === 0 ? buf : buf.subarray(start)
  // Header values with octets above 0x7f are UTF-8 (RFC 3261 §7.3.1 TEXT-UTF8); a non-ASCII body
  // alone does not count.
  let nonAscii = false
  if (!isAscii(buf)) {
    const he = src.indexOf('\r\n\r\n')
    nonAscii = !isAscii(buf.subarray(start, start + (he < 0 ? srcLen - 2 : he)))
  }
  let sl = src.indexOf('\r')
  if (sl < 0) throw err(SipParseReason.Unterminated, 'Header section not terminated')
  if (u[sl + 1] !== 10) sl = src.indexOf('\r\n') // a bare CR inside the start line
  if (sl < 0) throw structural(src, buf, stream, err(SipParseReason.BadStartLine, 'Malformed start line'))
  if (sl > maxLineLength)
    throw structural(src, buf, stream, err(SipParseReason.LineTooLong, 'Start line too long'))
  const line = src.slice(0, sl)
  if (src.indexOf('\n') !== sl + 1)
    throw structural(src, buf, stream, err(SipParseReason.BadStartLine, 'Bare LF in start line'))

  let first: SipParseError | undefined

  let msg: SipMessage
  if (u[0] === 83 && src.startsWith('SIP/')) {
    msg = parseStatusLine(line, u, nonAscii)
  } else {
    // Searches run on `src` (flat) rather than on the sliced `line`: measured cheaper in V8.
    let sp1 = src.indexOf(' ')
    if (sp1 > sl) sp1 = -1
    let sp2 = sl - 1
    while (sp2 > sp1 && u[sp2] !== 32) sp2--
    let method = sp1 > 0 ? methodAt(src, u, 0, sp1) : ''
    let uri = PLACEHOLDER_URI
    const tokenMethod = sp1 > 0 && scanToken(u, 0, sp1) === sp1
    if (sp1 <= 0 || sp2 === sp1 || !tokenMethod) {
      first ??= err(SipParseReason.BadStartLine, 'Malformed Request-Line', undefined, 400)
      if (!tokenMethod) method = 'INVALID'
    } else {
      if (
        sl - sp2 - 1 !== 7 ||
        !(src.startsWith('SIP/2.0', sp2 + 1) || isSipVersion(src.slice(sp2 + 1, sl)))
      ) {
        // RFC 3261 §8.2.2 / §21.5.6: another SIP version is answered with 505.
        const looksSip = /^SIP\/\d+\.\d+$/i.test(src.slice(sp2 + 1, sl))
        first ??= looksSip
          ? err(SipParseReason.BadVersion, 'Version Not Supported', undefined, 505)
          : err(SipParseReason.BadStartLine, 'Malformed Request-Line', undefined, 400)
      }
      try {
        uri = parseUriAt(src, u, sp1 + 1, sp2)
        if (uri.kind === 'sip' && uri.headers.length > 0) {
          // RFC 3261 §19.1.1 table: headers are not allowed in a Request-URI (RFC 4475 §3.1.2.11).
          first ??= err(SipParseReason.BadRequestUri, 'Headers not allowed in Request-URI', undefined, 400)
        }
      } catch (e) {
        if (!(e instanceof SipParseError)) throw e
        uri = PLACEHOLDER_URI
        // RFC 3261 §25.1: Request-Line = Method SP Request-URI SP SIP-Version; no LWS inside
        // (RFC 4475 §3.1.2.8 lwsruri, §3.1.2.9 lwsstart).
        const uriText = src.slice(sp1 + 1, sp2)
        const lws = uriText.length === 0 || uriText.includes(' ') || uriText.includes('\t')
        first ??= err(
          SipParseReason.BadRequestUri,
          `Malformed Request-URI${lws ? ' (whitespace)' : ''}`,
          undefined,
          400,
        )
      }
    }
    const req = new SipRequest(method, uri)
    msg = req
  }

  // Header lines (RFC 3261 §7.3), split and, for the core headers, parsed in one pass. Each field
  // keeps its byte range for exact re-serialisation. Errors in core values are kept apart from
  // those of the line structure, so the error reported is the one a split-then-parse would give.
  // Collected in a scratch array reused by every parse and copied out at exact size: pushing to a
  // new array reallocates its backing store twice for a typical INVITE (17, then 41 slots).
  const fields = SCRATCH
  let count = 0
  let pos = sl + 2
  let headEnd: number
  let terminated = true
  let seen = 0
  let contentLength: number | undefined
  let cseq: CSeq | undefined
  let coreErr: SipParseError | undefined
  // CORE_SLOTS: the single-valued core headers, then the first Via and Contact lines.
  const core: Array<HeaderField | undefined> = [
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
  ]
  try {
    for (;;) {
      if (pos >= srcLen) {
        // No empty line. A datagram whose header section never ends (RFC 4475 §3.1.2.15 baddn):
        // its headers are read anyway so the error can name the real problem and a 400 can be sent;
        // on a stream it is incomplete, which is the framer's business.
        if (unterminatedFatal(buf, stream))
          throw err(SipParseReason.Unterminated, 'Header section not terminated')
        terminated = false
        headEnd = srcLen - 2
        break
      }
      if (u[pos] === 13 && u[pos + 1] === 10) {
        headEnd = pos - 2 // RFC 3261 §7: the empty line ends the header section
        break
      }
      // RFC 3261 §7.3.1: a line starting with SP or HT continues the previous one (folding). Lines
      // end in CRLF only: a bare CR or LF could split the line differently in the next parser (header
      // injection). indexOf is used rather than a char loop: it measured twice as fast here.
      let le = pos
      for (;;) {
        const cr = src.indexOf('\r', le)
        if (cr < 0) throw err(SipParseReason.Unterminated, 'Header section not terminated')
        if (u[cr + 1] !== 10 || src.indexOf('\n', le) !== cr + 1) {
          throw structural(
            src,
            buf,
            stream,
            err(SipParseReason.BadHeaderLine, 'Bare CR or LF in header line', undefined, 400),
          )
        }
        le = cr
        const c = cr + 2 < srcLen ? u[cr + 2] : 0
        if (c !== 32 && c !== 9) break
        le = cr + 2
      }
      if (le + 2 - pos > maxLineLength)
        throw structural(
          src,
          buf,
          stream,
          err(SipParseReason.LineTooLong, 'Header line too long', undefined, 400),
        )
      if (count >= maxHeaders)
        throw structural(
          src,
          buf,
          stream,
          err(SipParseReason.TooManyHeaders, 'Too many headers', undefined, 400),
        )
      // The usual spelling of a common name right before its colon is matched without searching;
      // for anything else the colon is searched and the name looked up.
      let name: string
      let key: string | undefined
      let colon: number
      const line = wellKnownLineAt(u, pos)
      if (line !== undefined) {
        name = line[0]
        key = line[1]
        colon = pos + name.length
      } else {
        colon = src.indexOf(':', pos)
        if (colon < 0 || colon > le) {
          first ??= err(SipParseReason.BadHeaderLine, 'Header line without colon', undefined, 400)
          pos = le + 2
          continue
        }
        let ne = colon
        while (ne > pos && (u[ne - 1] === 32 || u[ne - 1] === 9)) ne--
        const known = wellKnownAt(src, pos, ne)
        name = known === undefined ? src.slice(pos, ne) : known[0]
        key = known === undefined ? headerKey(name) : known[1]
      }
      if (key === undefined) {
        first ??= err(SipParseReason.BadHeaderLine, 'Invalid header name', undefined, 400)
        pos = le + 2
        continue
      }
      let vs = colon + 1
      while (vs < le) {
        const c = u[vs]
        if (c !== 32 && c !== 9 && c !== 13 && c !== 10) break
        vs++
      }
      let ve = le
      while (ve > vs) {
        const c = u[ve - 1]
        if (c !== 32 && c !== 9 && c !== 13 && c !== 10) break
        ve--
      }
      const f = new HeaderLine(name, key, src, pos, le + 2, nonAscii)
      fields[count++] = f
      pos = le + 2

      // Core headers: parse now, count single-valued ones (RFC 4475 §3.3.8 multi01, §3.3.9 mcl01).
      const bit = coreBit(key)
      if (bit < 0) continue
      if (bit > 0) {
        if (seen & bit) {
          coreErr ??= err(SipParseReason.DuplicateHeader, `Multiple ${name} headers`, key, 400)
          continue
        }
        seen |= bit
        core[31 - Math.clz32(bit)] = f
      }
      if (bit === 0) {
        if (key === 'via') {
          // Only the first Via line is parsed now (the transaction layer's key); the others wait.
          if (core[CORE_SLOTS.via] !== undefined) continue
          core[CORE_SLOTS.via] = f
        } else core[CORE_SLOTS.contact] = core[CORE_SLOTS.contact] === undefined ? f : MANY_LINES
      }
      // Parsed in place on the message text (no value slice) unless values need UTF-8 decoding.
      let t = src
      let o = u
      let a = vs
      let b = ve
      if (nonAscii) {
        t = f.value
        o = octets(t)
        a = 0
        b = t.length
      }
      try {
        // Direct calls rather than through HEADER_TABLE: monomorphic, so V8 can inline them.
        switch (bit) {
          case 0:
            if (key === 'via') {
              seen |= VIA_BIT
              f.parsed = parseViaAt(t, o, a, b)
            } else f.parsed = b - a === 1 && o[a] === 42 ? [] : parseNameAddrListAt(t, o, a, b, 'Contact')
            break
          case 1:
            f.parsed = parseNameAddrAt(t, o, a, b, 'From')
            break
          case 2:
            f.parsed = parseNameAddrAt(t, o, a, b, 'To')
            break
          case 4:
            f.parsed = parseCallIdAt(t, a, b)
            break
          case 8:
            cseq = parseCSeqAt(t, o, a, b)
            f.parsed = cseq
            break
          case 16:
            f.parsed = parseUintAt(o, a, b, 255, 'Max-Forwards')
            break
          default:
            contentLength = parseUintAt(o, a, b, UINT32_MAX, 'Content-Length')
            f.parsed = contentLength
        }
      } catch (e) {
        if (!(e instanceof SipParseError)) throw e
        if (key === 'via' && (seen & VIA_BIT) === 0) seen |= VIA_BIT
        coreErr ??= err(e.reason, e.reasonPhrase, key, 400)
      }
    }
  } catch (e) {
    // A structural error: nothing of this message may stay behind in the scratch array.
    fields.fill(undefined, 0, count)
    throw e
  }
  first ??= coreErr
  for (const m of MANDATORY) {
    const bit = m === 'via' ? VIA_BIT : coreBit(m)
    if ((seen & bit) === 0)
      first ??= err(SipParseReason.MissingHeader, `Missing ${DISPLAY[m]} header`, m, 400)
  }
  if (msg.kind === 'request' && first === undefined) {
    if (cseq !== undefined && cseq.method !== msg.method) {
      // RFC 3261 §8.1.1.5: the CSeq method MUST match the request's (RFC 4475 §3.1.2.17).
      first ??= err(SipParseReason.CSeqMismatch, 'CSeq method does not match the request method', 'cseq', 400)
    }
  }

  // Body (RFC 3261 §7.4, §18.3).
  const bodyStart = start + headEnd + 4
  let msgEnd = n
  if (!terminated) {
    first ??= err(SipParseReason.Unterminated, 'Header section not terminated', undefined, 400)
  } else if (contentLength !== undefined) {
    if (bodyStart + contentLength > n) {
      first ??= err(
        SipParseReason.BadContentLength,
        'Content-Length larger than the message',
        'content-length',
        400,
      )
    } else {
      msgEnd = bodyStart + contentLength
    }
  } else if (stream && first === undefined) {
    first ??= err(SipParseReason.BadContentLength, 'Missing Content-Length', 'content-length', 400)
  }

  const own = fields.slice(0, count)
  // The scratch array must not keep the last message alive.
  fields.fill(undefined, 0, count)
  msg.adopt(buf, start, Math.min(bodyStart, msgEnd), msgEnd, src, own as HeaderField[], core)
  if (first !== undefined) {
    if (msg.kind === 'response')
      throw new SipParseError(first.reason, first.reasonPhrase, { header: first.header })
    // A stateless error response needs somewhere to go: a Via line (if even the top Via is
    // malformed, the transport answers the packet's source, RFC 3261 §18.2.2). It copies whatever
    // From, To, Call-ID and CSeq there are (RFC 4475 §3.3.1 insuf still wants its 400).
    const canAnswer = (seen & VIA_BIT) !== 0
    throw new SipParseError(first.reason, first.reasonPhrase, {
      header: first.header,
      status: first.status ?? 400,
      respondable: canAnswer,
      request: canAnswer ? msg : undefined,
    })
  }
  msg.adoptStartLine(nonAscii ? utf8(line) : line)
  return msg
}

/**
 * Whether a message without an empty line after its headers is refused outright: on a stream it
 * is incomplete, and a datagram must at least end in CRLF to be read as far as it goes.
 */
function unterminatedFatal(buf: Buffer, stream: boolean): boolean {
  const n = buf.length
  return stream || n < 2 || buf[n - 2] !== 13 || buf[n - 1] !== 10
}

/**
 * `e`, unless the header section has no end and that is fatal: a header section that does not end
 * is reported before anything found in it, as when it was searched for first.
 */
function structural(src: string, buf: Buffer, stream: boolean, e: SipParseError): SipParseError {
  if (src.indexOf('\r\n\r\n') < 0 && unterminatedFatal(buf, stream)) {
    return err(SipParseReason.Unterminated, 'Header section not terminated')
  }
  return e
}

const VIA_BIT = 1 << 6
// parse() is synchronous and does not re-enter itself, so one scratch array serves every call.
const SCRATCH: Array<HeaderField | undefined> = []
const DISPLAY: Record<string, string> = {
  via: 'Via',
  from: 'From',
  to: 'To',
  'call-id': 'Call-ID',
  cseq: 'CSeq',
}

const SIP_2_0_SP = ascii('SIP/2.0 ')

/** The Status-Line (RFC 3261 §7.2); `u` holds its octets from index 0 on. */
function parseStatusLine(line: string, u: Uint8Array, nonAscii: boolean): SipResponse {
  // The usual spelling is compared as bytes; other spellings and versions take the slow path.
  const usual = bytesAt(u, 0, SIP_2_0_SP)
  const sp1 = usual ? 7 : line.indexOf(' ')
  if (!usual) {
    const version = sp1 < 0 ? line : line.slice(0, sp1)
    if (!isSipVersion(version)) throw err(SipParseReason.BadVersion, 'Version Not Supported')
  }
  // RFC 3261 §25.1: Status-Code = 3DIGIT (RFC 4475 §3.1.2.19 bigcode has ten).
  const n = line.length
  let code = 0
  let i = sp1 + 1
  for (; i < n; i++) {
    const c = u[i]!
    if (c < 48 || c > 57) break
    code = code * 10 + c - 48
  }
  if (i - sp1 - 1 !== 3 || code < 100 || code > 699 || (i < n && u[i] !== 32)) {
    throw err(SipParseReason.BadStatus, 'Malformed Status-Code')
  }
  const reason = i < line.length ? line.slice(i + 1) : ''
  return new SipResponse(code, nonAscii ? utf8(reason) : reason)
}

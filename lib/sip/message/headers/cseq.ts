import { SipParseError, SipParseReason } from '../../errors.ts'
import { ascii, bytesAt, octets, scanToken, skipWs } from '../scan.ts'

/** A CSeq value (RFC 3261 §20.16): sequence number and method. */
export interface CSeq {
  /** 0 to 2^32-1 (RFC 3261 §8.1.1.5: "MUST be expressible as a 32-bit unsigned integer"). */
  seq: number
  /** The method, case-sensitive. */
  method: string
}

function bad(what: string): SipParseError {
  return new SipParseError(SipParseReason.BadHeaderValue, `Malformed CSeq (${what})`, { header: 'cseq' })
}

// The methods of RFC 3261 and its usual extensions, by length: a method read from a message is one
// of these shared strings rather than a new slice.
const METHODS: Array<Array<[string, Uint8Array]> | undefined> = []
const KNOWN_METHODS =
  'ACK BYE INFO PRACK REFER CANCEL INVITE NOTIFY UPDATE MESSAGE OPTIONS PUBLISH REGISTER SUBSCRIBE'
for (const m of KNOWN_METHODS.split(' ')) {
  const list = METHODS[m.length] ?? []
  METHODS[m.length] = list
  list.push([m, ascii(m)])
}

/** The method `s.slice(start, end)` (a token), without a slice for the usual ones. @internal */
export function methodAt(s: string, b: Uint8Array, start: number, end: number): string {
  const list = METHODS[end - start]
  if (list !== undefined) {
    for (let k = 0; k < list.length; k++) if (bytesAt(b, start, list[k]![1])) return list[k]![0]
  }
  return s.slice(start, end)
}

/** Parses `1*DIGIT LWS Method`; leading zeros are allowed (RFC 4475 §3.1.1.1). */
export function parseCSeq(s: string): CSeq {
  return parseCSeqAt(s, octets(s), 0, s.length)
}

/** {@link parseCSeq} of `s.slice(start, end)` without the slice; `b` holds the octets of `s`. @internal */
export function parseCSeqAt(s: string, b: Uint8Array, start: number, end: number): CSeq {
  let i = skipWs(b, start, end)
  const ds = i
  let seq = 0
  while (i < end) {
    const c = b[i]!
    if (c < 48 || c > 57) break
    seq = seq * 10 + c - 48
    // Checked per digit, so a 100-digit number cannot lose precision before the check.
    if (seq > 0xffffffff) throw bad('sequence number above 2^32-1')
    i++
  }
  if (i === ds) throw bad('sequence number')
  const ms = skipWs(b, i, end)
  if (ms === i) throw bad('missing method')
  const me = scanToken(b, ms, end)
  if (me === ms || skipWs(b, me, end) !== end) throw bad('method')
  return { seq, method: methodAt(s, b, ms, me) }
}

/** The canonical text: `seq METHOD`. */
export function stringifyCSeq(c: CSeq): string {
  return `${c.seq} ${c.method}`
}

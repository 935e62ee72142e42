import { SipParseError, SipParseReason } from '../../errors.ts'
import { octets, scanToken, skipWs } from '../scan.ts'

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
  return { seq, method: s.slice(ms, me) }
}

/** The canonical text: `seq METHOD`. */
export function stringifyCSeq(c: CSeq): string {
  return `${c.seq} ${c.method}`
}

import { SipParseError, SipParseReason } from '../../errors.ts'
import { octets } from '../scan.ts'

/**
 * Parses a header that is a single decimal number (Max-Forwards, Content-Length, Expires), allowing
 * leading zeros and rejecting values above `max` (RFC 3261 §20.22 Max-Forwards 0–255, §20.14
 * Content-Length and §20.19 Expires up to 2^32-1; RFC 4475 §3.1.2.4).
 */
export function parseUint(s: string, max: number, header: string): number {
  return parseUintAt(octets(s), 0, s.length, max, header)
}

/** {@link parseUint} of the octets `b[start..end)`. @internal */
export function parseUintAt(b: Uint8Array, start: number, end: number, max: number, header: string): number {
  if (end === start) throw bad(header, 'empty value')
  let v = 0
  for (let i = start; i < end; i++) {
    const c = b[i]!
    if (c < 48 || c > 57) throw bad(header, 'not a non-negative decimal number')
    v = v * 10 + c - 48
    if (v > max) throw bad(header, `value above ${max}`)
  }
  return v
}

function bad(header: string, what: string): SipParseError {
  return new SipParseError(SipParseReason.BadHeaderValue, `Malformed ${header} (${what})`, {
    header: header.toLowerCase(),
  })
}

/** Largest value of a 32-bit unsigned scalar. */
export const UINT32_MAX = 0xffffffff

/** Parses Max-Forwards (0–255). */
export function parseMaxForwards(s: string): number {
  return parseUint(s, 255, 'Max-Forwards')
}

/** Parses Content-Length (0–2^32-1). */
export function parseContentLength(s: string): number {
  return parseUint(s, UINT32_MAX, 'Content-Length')
}

/** Parses the Expires header (delta-seconds, 0–2^32-1). */
export function parseExpires(s: string): number {
  return parseUint(s, UINT32_MAX, 'Expires')
}

import { SipParseError, SipParseReason } from '../../errors.ts'
import { WORD } from '../scan.ts'

/**
 * Validates a Call-ID (RFC 3261 §20.8, §25.1: `word ["@" word]`) and returns it unchanged. Call-IDs
 * are compared byte for byte (case-sensitive), so no normalisation happens.
 */
export function parseCallId(s: string): string {
  return parseCallIdAt(s, 0, s.length)
}

/** {@link parseCallId} of `s.slice(start, end)`: validates in place, then slices once. @internal */
export function parseCallIdAt(s: string, start: number, end: number): string {
  let at = false
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i)
    if (WORD[c] === 1) continue
    if (c === 64 && !at && i > start && i < end - 1) {
      at = true
      continue
    }
    throw new SipParseError(SipParseReason.BadHeaderValue, 'Malformed Call-ID', { header: 'call-id' })
  }
  if (end === start)
    throw new SipParseError(SipParseReason.BadHeaderValue, 'Empty Call-ID', { header: 'call-id' })
  return start === 0 && end === s.length ? s : s.slice(start, end)
}

import { SipParseError, SipParseReason } from '../../errors.ts'
import { WORD } from '../scan.ts'

/**
 * Validates a Call-ID (RFC 3261 §20.8, §25.1: `word ["@" word]`) and returns it unchanged. Call-IDs
 * are compared byte for byte (case-sensitive), so no normalisation happens.
 */
export function parseCallId(s: string): string {
  const n = s.length
  let at = false
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if (WORD[c] === 1) continue
    if (c === 64 && !at && i > 0 && i < n - 1) {
      at = true
      continue
    }
    throw new SipParseError(SipParseReason.BadHeaderValue, 'Malformed Call-ID', { header: 'call-id' })
  }
  if (n === 0) throw new SipParseError(SipParseReason.BadHeaderValue, 'Empty Call-ID', { header: 'call-id' })
  return s
}

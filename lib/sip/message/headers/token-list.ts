import { SipParseError, SipParseReason } from '../../errors.ts'
import { scanToken, skipWs } from '../scan.ts'

/**
 * Parses a comma-separated list of tokens (Allow, Supported, Require, Proxy-Require, Unsupported;
 * RFC 3261 §20.5, §20.32, §20.37, §20.29, §20.40). An empty value is an empty list.
 */
export function parseTokenList(s: string, header = 'Require'): string[] {
  const out: string[] = []
  const end = s.length
  let i = skipWs(s, 0, end)
  if (i === end) return out
  for (;;) {
    const e = scanToken(s, i, end)
    if (e === i) {
      throw new SipParseError(SipParseReason.BadHeaderValue, `Malformed ${header}`, {
        header: header.toLowerCase(),
      })
    }
    out.push(s.slice(i, e))
    i = skipWs(s, e, end)
    if (i === end) return out
    if (s.charCodeAt(i) !== 44) {
      throw new SipParseError(SipParseReason.BadHeaderValue, `Malformed ${header}`, {
        header: header.toLowerCase(),
      })
    }
    i = skipWs(s, i + 1, end)
  }
}

/** The canonical text: `a, b, c`. */
export function stringifyTokenList(list: readonly string[]): string {
  return list.join(', ')
}

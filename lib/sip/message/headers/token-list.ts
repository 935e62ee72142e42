import { SipParseError, SipParseReason } from '../../errors.ts'
import { octets, scanToken, skipWs } from '../scan.ts'

/**
 * Parses a comma-separated list of tokens (Allow, Supported, Require, Proxy-Require, Unsupported;
 * RFC 3261 §20.5, §20.32, §20.37, §20.29, §20.40). An empty value is an empty list.
 */
export function parseTokenList(s: string, header = 'Require'): string[] {
  const out: string[] = []
  const b = octets(s)
  const end = s.length
  let i = skipWs(b, 0, end)
  if (i === end) return out
  for (;;) {
    const e = scanToken(b, i, end)
    if (e === i) {
      throw new SipParseError(SipParseReason.BadHeaderValue, `Malformed ${header}`, {
        header: header.toLowerCase(),
      })
    }
    out.push(s.slice(i, e))
    i = skipWs(b, e, end)
    if (i === end) return out
    if (b[i] !== 44) {
      throw new SipParseError(SipParseReason.BadHeaderValue, `Malformed ${header}`, {
        header: header.toLowerCase(),
      })
    }
    i = skipWs(b, i + 1, end)
  }
}

/** The canonical text: `a, b, c`. */
export function stringifyTokenList(list: readonly string[]): string {
  return list.join(', ')
}

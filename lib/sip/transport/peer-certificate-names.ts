import type { PeerCertificate } from 'node:tls'
import { parseUri } from '../uri/uri.ts'

/**
 * The SIP domain identities a peer certificate asserts, for classification (RFC 5922 §7.1): the
 * host of each `sip:` URI subjectAltName without a user part; if there is none, each DNS
 * subjectAltName; and the subject CN only when the certificate has no subjectAltName at all (a CN
 * beside SANs names nothing: a certificate for a.example with CN b.example is not b.example's). No
 * duplicates. IP SANs are left out (classification by address uses the source address). Empty when
 * there is no certificate.
 */
export function peerCertificateNames(cert: PeerCertificate | Record<string, never> | undefined): string[] {
  if (!cert || !('subject' in cert) || !cert.subject) return []
  const sans = subjectAltNames(cert.subjectaltname ?? '')
  if (sans.length === 0) {
    const cn = cert.subject.CN
    return [...new Set(Array.isArray(cn) ? cn : cn ? [cn] : [])]
  }
  const uriHosts: string[] = []
  for (const { type, value } of sans) {
    if (type !== 'URI') continue
    try {
      const u = parseUri(value)
      // §7.1: scheme sip only (not sips), and no user part (that names a user, not the domain).
      if (u.kind === 'sip' && u.scheme === 'sip' && u.user === undefined) uriHosts.push(u.host)
    } catch {
      // Not a URI: names nothing.
    }
  }
  const names = uriHosts.length > 0 ? uriHosts : sans.filter((s) => s.type === 'DNS').map((s) => s.value)
  return [...new Set(names)]
}

/**
 * The entries of node's `subjectaltname` text: `DNS:a.example, URI:sip:c.example, IP Address:…`,
 * where a value holding a comma, quote or other special character is a JSON string
 * (`URI:"sip:x,y"`).
 */
function subjectAltNames(text: string): { type: string; value: string }[] {
  const out: { type: string; value: string }[] = []
  let i = 0
  while (i < text.length) {
    const colon = text.indexOf(':', i)
    if (colon < 0) break
    const type = text.slice(i, colon).trim()
    let value: string
    let next: number
    if (text[colon + 1] === '"') {
      // A JSON string: up to the first unescaped quote.
      let j = colon + 2
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1
      try {
        value = JSON.parse(text.slice(colon + 1, j + 1)) as string
      } catch {
        value = ''
      }
      next = text.indexOf(',', j + 1)
    } else {
      next = text.indexOf(', ', colon + 1)
      value = text.slice(colon + 1, next < 0 ? undefined : next)
    }
    out.push({ type, value })
    if (next < 0) break
    i = next + 1
    while (text[i] === ' ') i++
  }
  return out
}

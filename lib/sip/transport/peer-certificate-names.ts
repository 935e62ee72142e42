import type { PeerCertificate } from 'node:tls'

/**
 * The names a peer certificate asserts, for classification: the subject CN first, then each DNS
 * subjectAltName, without duplicates. IP SANs are left out (classification by address uses the
 * source address). Empty when there is no certificate.
 */
export function peerCertificateNames(cert: PeerCertificate | Record<string, never> | undefined): string[] {
  if (!cert || !('subject' in cert) || !cert.subject) return []
  const names: string[] = []
  const cn = cert.subject.CN
  for (const n of Array.isArray(cn) ? cn : cn ? [cn] : []) names.push(n)
  for (const part of (cert.subjectaltname ?? '').split(',')) {
    const entry = part.trim()
    if (entry.startsWith('DNS:')) {
      const name = entry.slice(4)
      if (!names.includes(name)) names.push(name)
    }
  }
  return names
}

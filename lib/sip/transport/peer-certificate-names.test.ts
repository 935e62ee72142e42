import assert from 'node:assert/strict'
import type { PeerCertificate } from 'node:tls'
import { peerCertificateNames } from './peer-certificate-names.ts'

/** A peer certificate as node:tls reports it: only the fields the names come from. */
const cert = (cn: string | string[] | undefined, subjectaltname?: string) =>
  ({
    subject: cn === undefined ? {} : { CN: cn },
    ...(subjectaltname ? { subjectaltname } : {}),
  }) as PeerCertificate

describe('peerCertificateNames (RFC 5922 §7.1)', () => {
  const cases: [string, PeerCertificate | undefined, string[]][] = [
    ['no certificate', undefined, []],
    ['the CN when there is no subjectAltName', cert('pbx.example'), ['pbx.example']],
    [
      'the DNS SANs, not a CN beside them',
      cert('b.example', 'DNS:a.example, DNS:a2.example'),
      ['a.example', 'a2.example'],
    ],
    [
      'the hosts of sip: URI SANs, then neither DNS SANs nor the CN',
      cert('d.example', 'DNS:e.example, URI:sip:c.example, URI:sip:c2.example;transport=tls'),
      ['c.example', 'c2.example'],
    ],
    [
      'not a sip: URI with a user part, nor sips: or other schemes (DNS SANs then)',
      cert('d.example', 'URI:sip:alice@c.example, URI:sips:c.example, URI:https://c.example/, DNS:e.example'),
      ['e.example'],
    ],
    [
      'nothing from IP or email SANs alone, not even the CN',
      cert('d.example', 'IP Address:192.0.2.1, email:a@b.example'),
      [],
    ],
    [
      'a quoted value as one entry (node quotes one holding a comma): no URI smuggled in it',
      cert(undefined, 'DNS:"x.example, URI:sip:evil.example", DNS:e.example'),
      ['x.example, URI:sip:evil.example', 'e.example'],
    ],
    ['each name once', cert('a.example', 'DNS:a.example, DNS:a.example'), ['a.example']],
  ]
  for (const [name, c, want] of cases) it(name, () => assert.deepEqual(peerCertificateNames(c), want))
})

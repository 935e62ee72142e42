import fc from 'fast-check'

/**
 * SDP for the property tests of the parser and the media pod's NG handler: a corpus of the bodies
 * real peers send (audio and video, SDES a=crypto, ICE candidates, rtcp-mux, several m= lines, port 0,
 * IPv6, hold, T.38, DTLS) and random mutations of them (lines dropped, duplicated, swapped or inserted,
 * fields corrupted, huge values, non-ASCII, odd whitespace, CRLF/LF mixes, truncation). The addresses
 * written are loopback, unspecified, or no IP address at all (host names, multicast with a TTL); a
 * mutation splicing characters into one may make another address, which stays harmless where the
 * tests use it: relay sockets bound to 127.0.0.1, and no media sent to them, so nothing is relayed.
 */

const key = (n: number, octets = 30) => Buffer.alloc(octets, n).toString('base64')

/** The unmutated bodies, as lines (joined with CRLF unless a mutation says otherwise). */
export const SDP_CORPUS: Readonly<Record<string, readonly string[]>> = {
  'audio PCMU/PCMA/telephone-event': [
    'v=0',
    'o=alice 2890844526 2890844526 IN IP4 127.0.0.1',
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    'm=audio 49170 RTP/AVP 0 8 101',
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=fmtp:101 0-16',
    'a=ptime:20',
    'a=sendrecv',
  ],
  'audio and video, media-level c=, a=rtcp, AVPF': [
    'v=0',
    'o=- 1 1 IN IP4 127.0.0.1',
    's=call',
    't=0 0',
    'a=group:BUNDLE 0 1',
    'm=audio 40000 RTP/AVPF 111 0',
    'c=IN IP4 127.0.0.1',
    'a=mid:0',
    'a=rtcp:40001 IN IP4 127.0.0.1',
    'a=rtpmap:111 opus/48000/2',
    'a=fmtp:111 minptime=10;useinbandfec=1',
    'a=rtcp-fb:111 transport-cc',
    'a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level',
    'a=ssrc:1111 cname:abc',
    'm=video 40002 RTP/AVPF 96 97',
    'c=IN IP4 127.0.0.1',
    'a=mid:1',
    'a=rtpmap:96 VP8/90000',
    'a=rtpmap:97 H264/90000',
    'a=fmtp:97 profile-level-id=42e01f;packetization-mode=1',
    'a=rtcp-fb:96 nack pli',
    'a=recvonly',
  ],
  'SDES SRTP, two suites': [
    'v=0',
    'o=bob 7 7 IN IP4 127.0.0.1',
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    'm=audio 30000 RTP/SAVP 0 101',
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:101 telephone-event/8000',
    `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${key(1)}|2^31`,
    `a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:${key(2)}`,
    'a=rtcp-mux',
  ],
  'SDES SRTP, AES-256 and GCM suites': [
    'v=0',
    'o=- 8 8 IN IP4 127.0.0.1',
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    'm=audio 31000 RTP/SAVP 8',
    'a=rtpmap:8 PCMA/8000',
    `a=crypto:1 AEAD_AES_256_GCM inline:${key(11, 44)}`,
    `a=crypto:2 AES_256_CM_HMAC_SHA1_32 inline:${key(12, 46)}`,
    `a=crypto:3 AEAD_AES_128_GCM inline:${key(13, 28)}`,
  ],
  'ICE with candidates and rtcp-mux': [
    'v=0',
    'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'a=ice-ufrag:F7gI',
    'a=ice-pwd:x9cml/YzichV2+XlhiMu8g',
    'a=ice-options:trickle',
    'm=audio 9 RTP/AVP 111 0',
    'c=IN IP4 127.0.0.1',
    'a=rtcp:9 IN IP4 0.0.0.0',
    'a=candidate:1 1 UDP 2130706431 127.0.0.1 50000 typ host',
    'a=candidate:2 1 UDP 1694498815 127.0.0.1 50002 typ srflx raddr 127.0.0.1 rport 50000',
    'a=candidate:1 2 UDP 2130706430 127.0.0.1 50001 typ host',
    'a=end-of-candidates',
    'a=rtcp-mux',
    'a=rtpmap:111 opus/48000/2',
    'a=rtpmap:0 PCMU/8000',
  ],
  'several m= lines, a disabled video, T.38': [
    'v=0',
    'o=gw 10 11 IN IP4 127.0.0.1',
    's=session',
    'c=IN IP4 127.0.0.1',
    'b=AS:128',
    't=0 0',
    'm=audio 20000 RTP/AVP 18 0',
    'a=rtpmap:18 G729/8000',
    'a=fmtp:18 annexb=no',
    'm=video 0 RTP/AVP 31',
    'm=image 20004 udptl t38',
    'a=T38FaxVersion:0',
    'a=T38FaxRateManagement:transferredTCF',
    'm=audio 20006 RTP/AVP 9',
    'a=rtpmap:9 G722/8000',
  ],
  IPv6: [
    'v=0',
    'o=- 5 5 IN IP6 ::1',
    's=-',
    'c=IN IP6 ::1',
    't=0 0',
    'm=audio 6000 RTP/AVP 0',
    'a=rtpmap:0 PCMU/8000',
  ],
  'hold with c=0.0.0.0 and sendonly': [
    'v=0',
    'o=- 9 10 IN IP4 127.0.0.1',
    's=-',
    'c=IN IP4 0.0.0.0',
    't=0 0',
    'a=sendonly',
    'm=audio 7000 RTP/AVP 8',
    'a=rtpmap:8 PCMA/8000',
  ],
  'DTLS-SRTP': [
    'v=0',
    'o=- 3 3 IN IP4 127.0.0.1',
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    'm=audio 9000 UDP/TLS/RTP/SAVPF 111',
    'a=rtpmap:111 opus/48000/2',
    'a=fingerprint:sha-256 AB:CD:EF:01',
    'a=setup:actpass',
    'a=rtcp-mux',
  ],
  'port count, no session c=, odd attributes': [
    'v=0',
    'o=x 1 1 IN IP4 127.0.0.1',
    's= ',
    'i=info',
    'u=http://example.invalid/',
    'e=a@example.invalid',
    't=3034423619 3042462419',
    'r=7d 1h 0 25h',
    'z=2882844526 -1h',
    'k=clear:abc',
    'm=audio 8000/2 RTP/AVP 0 13',
    'c=IN IP4 127.0.0.1',
    'a=rtpmap:13 CN/8000',
    'a=maxptime:40',
    'a=inactive',
  ],
}

export const CORPUS_NAMES = Object.keys(SDP_CORPUS)

/** One edit of a body held as lines. */
export type SdpMutation =
  | { kind: 'drop'; at: number }
  | { kind: 'duplicate'; at: number }
  | { kind: 'swap'; at: number; with: number }
  | { kind: 'insert'; at: number; line: string }
  | { kind: 'field'; at: number; field: number; value: string }
  | { kind: 'splice'; at: number; offset: number; text: string }
  | { kind: 'truncate'; at: number; keep: number }

/** How the lines are joined: CRLF (RFC 8866), LF (tolerated), a mix, with or without a last EOL. */
export type SdpEol = 'crlf' | 'lf' | 'mixed' | 'crlf-no-final' | 'crlf-extra-blank'

const HUGE = [
  '99999999999999999999',
  '4294967296',
  '65536',
  '-1',
  '1e3',
  '0x10',
  '00000000049170',
  'A'.repeat(3000),
]

/** Replacement field values: numbers around every bound the parsers check, empty, non-ASCII, junk. */
const arbFieldValue = fc.oneof(
  fc.constantFrom(
    '',
    '0',
    '1',
    '65535',
    '127',
    '128',
    '96',
    'IN',
    'IP4',
    'IP6',
    '127.0.0.1',
    '::1',
    '0.0.0.0',
    '::',
    '::ffff:127.0.0.1',
    'fe80::1%lo',
    'host.example.invalid',
    '224.0.0.1/127',
    '127.0.0.1/5',
    'RTP/SAVP',
    'RTP/AVP',
    'UDP/TLS/RTP/SAVP',
    'TCP/RTP/AVP',
    'RTP/AVPé',
    'é',
    '\u00a0',
    '\u2028',
    '\t',
    '\0',
    '😀',
    'inline:',
    `inline:${key(3)}|1:4`,
    `inline:${key(4, 20)}`,
    `inline:${key(5)}|2^99`,
    'AES_256_CM_HMAC_SHA1_80',
    'F8_128_HMAC_SHA1_80',
    'UNENCRYPTED_SRTP',
    'PCMU/0',
    'opus/400000',
    'x/8000/0',
    'typ',
  ),
  fc.constantFrom(...HUGE),
  fc.string({ maxLength: 8 }),
  fc.string({ unit: 'binary', maxLength: 4 }),
)

/** Lines a peer might add: valid, nearly valid and plainly broken attributes and lines. */
const arbInsertedLine = fc.oneof(
  fc.constantFrom(
    'a=rtcp-mux',
    'a=rtcp:abc',
    'a=rtcp:65535',
    'a=rtcp:5000 IN IP4 host.example.invalid',
    'a=rtcp:5000 IN IP6 ::1',
    `a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:${key(6)}`,
    'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:not*base64',
    'a=crypto:x y',
    `a=crypto:4 AES_CM_128_HMAC_SHA1_80 inline:${key(7)} UNENCRYPTED_SRTCP`,
    `a=crypto:5 AES_256_CM_HMAC_SHA1_80 inline:${key(8, 46)}`,
    `a=crypto:6 AEAD_AES_128_GCM inline:${key(9, 28)}`,
    `a=crypto:7 AEAD_AES_256_GCM inline:${key(10, 44)}`,
    'a=candidate:garbage',
    'a=candidate:1 1 UDP 1 ::1 5000 typ host',
    'a=ice-ufrag:abcd',
    'a=ice-pwd:0123456789abcdefghijkl',
    'a=rtpmap:96 opus/48000/2',
    'a=rtpmap:96 foo/0',
    'a=rtpmap:300 PCMU/8000',
    'a=rtpmap:0 PCMU/400000',
    'a=rtpmap:97 L16/9999999999',
    'a=fmtp:96',
    'a=ptime:0',
    'a=ptime:abc',
    'a=sendonly',
    'a=recvonly',
    'a=inactive',
    'a=mid:9',
    'a=setup:active',
    'a=fingerprint:sha-1 00',
    'a=rtpengine:kube-sbc',
    'a=ice-lite',
    'c=IN IP4 127.0.0.1',
    'c=IN IP6 ::1',
    'c=IN IP4 0.0.0.0',
    'c=IN IP4',
    'c=IN IP4 host.example.invalid',
    'm=audio 1 RTP/AVP',
    'm=audio 5004 RTP/AVP 0',
    'm=audio 5006 RTP/SAVP 0',
    'm=video 0 RTP/AVP 96',
    'm=audio 65535 RTP/AVP 0',
    'm=application 5008 UDP/BFCP *',
    'm=audio 5010/0 RTP/AVP 0',
    'm=audio 70000 RTP/AVP 0',
    'v=0',
    'o=- 1 1 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'x=unknown line type',
    'A=upper case type',
    'a=',
    '=',
    '',
    ' ',
    'a=\u00e9\u00e8',
  ),
  fc.string({ maxLength: 20 }).map((s) => `a=${s}`),
)

export const arbMutation = (lines: number): fc.Arbitrary<SdpMutation> => {
  const at = fc.nat({ max: Math.max(0, lines - 1) })
  return fc.oneof(
    at.map((i) => ({ kind: 'drop' as const, at: i })),
    at.map((i) => ({ kind: 'duplicate' as const, at: i })),
    fc.tuple(at, at).map(([i, j]) => ({ kind: 'swap' as const, at: i, with: j })),
    fc
      .tuple(fc.nat({ max: lines }), arbInsertedLine)
      .map(([i, line]) => ({ kind: 'insert' as const, at: i, line })),
    fc
      .tuple(at, fc.nat({ max: 8 }), arbFieldValue)
      .map(([i, field, value]) => ({ kind: 'field' as const, at: i, field, value })),
    fc
      .tuple(
        at,
        fc.nat({ max: 80 }),
        fc.oneof(fc.constantFrom(' ', '  ', '\t', '\r', 'é', '\u00a0', '\0'), arbFieldValue),
      )
      .map(([i, offset, text]) => ({ kind: 'splice' as const, at: i, offset, text })),
    fc.tuple(at, fc.nat({ max: 60 })).map(([i, keep]) => ({ kind: 'truncate' as const, at: i, keep })),
  )
}

/** Applies mutations in order (positions taken modulo the current length). */
export function mutate(base: readonly string[], mutations: readonly SdpMutation[]): string[] {
  const lines = [...base]
  for (const m of mutations) {
    const n = lines.length
    const i = n === 0 ? 0 : m.at % n
    switch (m.kind) {
      case 'drop':
        lines.splice(i, 1)
        break
      case 'duplicate':
        if (n > 0) lines.splice(i, 0, lines[i] as string)
        break
      case 'swap': {
        const j = n === 0 ? 0 : m.with % n
        if (n > 0) [lines[i], lines[j]] = [lines[j] as string, lines[i] as string]
        break
      }
      case 'insert':
        lines.splice(m.at % (n + 1), 0, m.line)
        break
      case 'field': {
        if (n === 0) break
        const line = lines[i] as string
        const eq = line.indexOf('=')
        const fields = line.slice(eq + 1).split(' ')
        fields[m.field % fields.length] = m.value
        lines[i] = `${line.slice(0, eq + 1)}${fields.join(' ')}`
        break
      }
      case 'splice': {
        if (n === 0) break
        const line = lines[i] as string
        const o = m.offset % (line.length + 1)
        lines[i] = line.slice(0, o) + m.text + line.slice(o)
        break
      }
      case 'truncate':
        if (n > 0) lines[i] = (lines[i] as string).slice(0, m.keep)
        break
    }
  }
  return lines
}

export function joinSdp(lines: readonly string[], eol: SdpEol): string {
  switch (eol) {
    case 'crlf':
      return lines.map((l) => `${l}\r\n`).join('')
    case 'lf':
      return lines.map((l) => `${l}\n`).join('')
    case 'mixed':
      return lines.map((l, i) => `${l}${i % 2 ? '\n' : '\r\n'}`).join('')
    case 'crlf-no-final':
      return lines.join('\r\n')
    case 'crlf-extra-blank':
      return `${lines.map((l) => `${l}\r\n`).join('')}\r\n`
  }
}

export const arbEol: fc.Arbitrary<SdpEol> = fc.constantFrom(
  'crlf',
  'lf',
  'mixed',
  'crlf-no-final',
  'crlf-extra-blank',
)

/** A corpus body, with up to `maxMutations` mutations, and the recipe (for readable counterexamples). */
export interface FuzzedSdp {
  name: string
  mutations: SdpMutation[]
  eol: SdpEol
  text: string
}

export const arbSdp = (maxMutations = 4): fc.Arbitrary<FuzzedSdp> =>
  fc.constantFrom(...CORPUS_NAMES).chain((name) => {
    const base = SDP_CORPUS[name] as readonly string[]
    return fc
      .record({
        mutations: fc.array(arbMutation(base.length + maxMutations), { maxLength: maxMutations }),
        eol: arbEol,
      })
      .map(({ mutations, eol }) => ({ name, mutations, eol, text: joinSdp(mutate(base, mutations), eol) }))
  })

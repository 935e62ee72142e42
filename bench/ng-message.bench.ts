/**
 * NG control-plane benchmark: encode, decode and validate a realistic `offer` (with SDP) and parse +
 * rewrite its SDP, in µs per operation. Run: `node bench/ng-message.bench.ts`. Bounded: ROUNDS ×
 * ITERATIONS per case, a few seconds in total. Reports best and median round.
 */
import { bdecode, bencode } from '../lib/media/control/bencode.ts'
import { decodeNgDatagram, encodeNgDatagram, parseNgRequest } from '../lib/media/control/ng-message.ts'
import { filterCodecs } from '../lib/sdp/codec-filter.ts'
import { setMediaEndpoint, setProto } from '../lib/sdp/rewrite.ts'
import { SessionDescription } from '../lib/sdp/session-description.ts'

const ROUNDS = 7
const ITERATIONS = 10_000
let sink = 0

const SDP =
  'v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n' +
  'm=audio 49170 RTP/AVP 0 8 111 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n' +
  'a=rtpmap:111 opus/48000/2\r\na=fmtp:111 useinbandfec=1\r\na=rtpmap:101 telephone-event/8000\r\n' +
  'a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n'
const OFFER = {
  command: 'offer',
  'call-id': 'a84b4c76e66710@pc33.example.com',
  'from-tag': '1928301774',
  'via-branch': 'z9hG4bK776asdhds',
  sdp: SDP,
  flags: ['trust-address', 'SDES-no-AES_256_CM_HMAC_SHA1_80'],
  replace: ['origin', 'session-connection'],
  'transport protocol': 'RTP/SAVP',
  ICE: 'remove',
  'rtcp-mux': ['demux'],
}
const DATAGRAM = encodeNgDatagram('7219_42', OFFER)

const cases: [string, () => void][] = [
  ['bencode offer', () => (sink += bencode(OFFER).length)],
  ['bdecode offer', () => (sink += Object.keys(bdecode(DATAGRAM.subarray(8)) as object).length)],
  [
    'decode+validate offer',
    () => {
      const { cookie, dict } = decodeNgDatagram(DATAGRAM)
      sink += parseNgRequest(cookie, dict).warnings.length
    },
  ],
  ['parse+serialise SDP', () => (sink += SessionDescription.parse(SDP).toString().length)],
  [
    'parse+rewrite SDP',
    () => {
      const sdp = SessionDescription.parse(SDP)
      const m = sdp.media[0]
      if (!m) throw new Error('no media')
      setMediaEndpoint(m, '203.0.113.10', 30000, { mux: false, port: 30001 })
      setProto(m, 'RTP/SAVP')
      filterCodecs(m, [
        { name: 'PCMA', clockRate: 8000 },
        { name: 'PCMU', clockRate: 8000 },
      ])
      sdp.bumpVersion()
      sink += sdp.toString().length
    },
  ],
]

for (const [name, fn] of cases) {
  const rounds: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < ITERATIONS; i++) fn()
    rounds.push(Number(process.hrtime.bigint() - t0) / 1e3 / ITERATIONS)
  }
  rounds.sort((a, b) => a - b)
  console.log(
    `${name.padEnd(24)} best ${rounds[0]?.toFixed(2)} µs  median ${rounds[ROUNDS >> 1]?.toFixed(2)} µs`,
  )
}
if (sink === 0) console.log('(sink)')

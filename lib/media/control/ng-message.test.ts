import assert from 'node:assert/strict'
import { bdecode } from './bencode.ts'
import { BencodeError, NgError, NgErrorCode } from './errors.ts'
import {
  canonicalKey,
  decodeNgDatagram,
  encodeNgDatagram,
  type NgOfferRequest,
  parseNgRequest,
} from './ng-message.ts'

const SDP = 'v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\n'

function parse(dict: Record<string, unknown>) {
  return parseNgRequest('c1', bdecode(encodeNgDatagram('c1', dict).subarray(3)) as never)
}

function invalid(fn: () => unknown): void {
  assert.throws(fn, (e: unknown) => e instanceof NgError && e.code === NgErrorCode.ngInvalid)
}

describe('NG messages', () => {
  it('frames as "<cookie> <bencode>" exactly as rtpengine documents', () => {
    assert.equal(encodeNgDatagram('5323_1', { command: 'ping' }).toString(), '5323_1 d7:command4:pinge')
    assert.deepEqual(decodeNgDatagram(Buffer.from('5323_1 d6:result4:ponge')), {
      cookie: '5323_1',
      dict: Object.assign(Object.create(null), { result: 'pong' }),
    })
  })

  const badFrames: [string, string, string][] = [
    ['no cookie', 'd7:command4:pinge', NgErrorCode.ngFraming],
    ['empty cookie', ' d7:command4:pinge', NgErrorCode.ngFraming],
    ['a list body', 'c l4:pinge', NgErrorCode.ngFraming],
    ['bad bencode', 'c d7:command4:ping', NgErrorCode.bencodeSyntax],
  ]
  for (const [name, text, code] of badFrames) {
    it(`rejects a datagram with ${name}`, () => {
      assert.throws(
        () => decodeNgDatagram(Buffer.from(text)),
        (e: unknown) => (e instanceof NgError || e instanceof BencodeError) && e.code === code,
      )
    })
  }

  it('accepts hyphenated and spaced key spellings', () => {
    assert.equal(canonicalKey('transport-protocol'), 'transport protocol')
    assert.equal(canonicalKey('media-address'), 'media address')
    assert.equal(canonicalKey('call-id'), 'call-id')
    const { request } = parse({
      command: 'offer',
      'call-id': 'a',
      'from-tag': 'b',
      sdp: SDP,
      'transport-protocol': 'RTP/SAVP',
    })
    assert.equal((request as NgOfferRequest)['transport protocol'], 'RTP/SAVP')
  })

  it('folds prefixed flags into their keys, like rtpengine', () => {
    const { request, warnings } = parse({
      command: 'offer',
      'call-id': 'a',
      'from-tag': 'b',
      sdp: SDP,
      flags: [
        'trust address',
        'SDES-no-AES_256_CM_HMAC_SHA1_80',
        'codec-strip-G729',
        'replace-origin',
        'rtcp-mux-demux',
      ],
      codec: { offer: ['PCMU'] },
    })
    const r = request as NgOfferRequest
    assert.deepEqual(r.flags, ['trust-address'])
    assert.deepEqual(r.SDES, ['no-AES_256_CM_HMAC_SHA1_80'])
    assert.deepEqual(r.codec?.strip, ['G729'])
    assert.deepEqual(r.codec?.offer, ['PCMU'])
    assert.deepEqual(r.replace, ['origin'])
    assert.deepEqual(r['rtcp-mux'], ['demux'])
    assert.deepEqual(warnings, [])
  })

  it('tolerates unknown keys, flags and values with warnings', () => {
    const { warnings } = parse({
      command: 'offer',
      'call-id': 'a',
      'from-tag': 'b',
      sdp: SDP,
      flags: ['frobnicate'],
      ICE: 'sideways',
      'x-vendor': 1,
    })
    assert.deepEqual(warnings.sort(), [
      "Unknown 'ICE' value 'sideways' ignored",
      "Unknown flag 'frobnicate' ignored",
      "Unknown key 'x-vendor' ignored",
    ])
  })

  it('requires the mandatory keys per command', () => {
    invalid(() => parse({ command: 'offer', 'call-id': 'a', 'from-tag': 'b' }))
    invalid(() => parse({ command: 'answer', 'call-id': 'a', 'from-tag': 'b', sdp: SDP }))
    invalid(() => parse({ command: 'delete' }))
    invalid(() => parse({ command: 'query', 'call-id': '' }))
    invalid(() => parse({ command: 'list', limit: 0 }))
    invalid(() => parse({ command: 'withdraw offer', 'call-id': 'a' }))
  })

  it('rejects wrong types and unknown commands', () => {
    invalid(() =>
      parse({ command: 'offer', 'call-id': 'a', 'from-tag': 'b', sdp: SDP, flags: 'trust-address' }),
    )
    invalid(() => parse({ command: 'offer', 'call-id': 'a', 'from-tag': 'b', sdp: SDP, ptime: '20' }))
    invalid(() =>
      parse({ command: 'offer', 'call-id': 'a', 'from-tag': 'b', sdp: SDP, 'address family': 'IPX' }),
    )
    invalid(() => parse({ command: 'launch' }))
    invalid(() => parse({ 'call-id': 'a' }))
    invalid(() => parse({ command: 'ping', 'call-id': 'a', 'call id': 'b' }))
  })

  it('accepts the minimal requests of every command', () => {
    for (const dict of [
      { command: 'ping' },
      { command: 'offer', 'call-id': 'a', 'from-tag': 'b', sdp: SDP },
      { command: 'answer', 'call-id': 'a', 'from-tag': 'b', 'to-tag': 'c', sdp: SDP },
      { command: 'delete', 'call-id': 'a' },
      { command: 'query', 'call-id': 'a' },
      { command: 'list' },
      { command: 'statistics' },
      { command: 'withdraw offer', 'call-id': 'a', 'from-tag': 'b' },
    ]) {
      assert.equal(parse(dict).request.command, dict.command)
    }
  })
})

import assert from 'node:assert/strict'
import { RtpParseError } from './errors.ts'
import { isRtcp, parseRtpHeader, RtpHeader, rtpHeaderLength, writeRtpHeader } from './rtp-header.ts'

const hex = (s: string) => Buffer.from(s, 'hex')

describe('RTP header (RFC 3550 §5.1)', () => {
  it('parses every fixed field of a plain packet', () => {
    const pkt = hex('80e0f17b8041f8d35501a0b2deadbeef')
    const h = new RtpHeader()
    assert.equal(parseRtpHeader(pkt, pkt.length, h), 12)
    assert.deepEqual(
      [
        h.version,
        h.padding,
        h.extension,
        h.csrcCount,
        h.marker,
        h.payloadType,
        h.sequenceNumber,
        h.timestamp,
        h.ssrc,
      ],
      [2, false, false, 0, true, 96, 0xf17b, 0x8041f8d3, 0x5501a0b2],
    )
  })

  it('skips CSRCs and a header extension to find the payload (RFC 3550 §5.3.1)', () => {
    // CC=2, X=1, extension profile 0xBEDE with 1 word.
    const h = new RtpHeader()
    const b = Buffer.alloc(12 + 8 + 8 + 4)
    b[0] = 0x92
    b.writeUInt16BE(0xbede, 20)
    b.writeUInt16BE(1, 22)
    assert.equal(parseRtpHeader(b, b.length, h), 28)
    assert.equal(h.csrcCount, 2)
    assert.equal(h.extensionProfile, 0xbede)
    assert.equal(h.extensionLength, 8)
    assert.equal(rtpHeaderLength(b, b.length), 28)
  })

  it('reports the padding count from the last octet', () => {
    const b = Buffer.alloc(20)
    b[0] = 0xa0
    b[19] = 4
    const h = new RtpHeader()
    parseRtpHeader(b, b.length, h)
    assert.equal(h.paddingLength, 4)
  })

  const bad: Array<[string, Buffer]> = [
    ['a packet shorter than 12 octets', hex('8000')],
    ['version 1', hex('400000000000000000000000')],
    ['a CSRC list running past the end', hex('8f0000000000000000000000')],
    ['an extension running past the end', Buffer.concat([hex('900000000000000000000000'), hex('bede0005')])],
    [
      'a padding count larger than the payload',
      Buffer.concat([hex('a00000000000000000000000'), hex('0009')]),
    ],
  ]
  for (const [name, pkt] of bad) {
    it(`rejects ${name} with SBC_ERR_RTP_MALFORMED`, () => {
      assert.throws(
        () => parseRtpHeader(pkt, pkt.length, new RtpHeader()),
        (e: unknown) => e instanceof RtpParseError && e.code === 'SBC_ERR_RTP_MALFORMED',
      )
    })
  }

  it('writes what it parses, byte for byte', () => {
    const pkt = hex('80e0f17b8041f8d35501a0b2')
    const h = new RtpHeader()
    parseRtpHeader(pkt, pkt.length, h)
    const out = Buffer.alloc(12)
    writeRtpHeader(out, h)
    assert.deepEqual(out, pkt)
  })
})

describe('RTP/RTCP demultiplexing (RFC 5761 §4)', () => {
  for (const pt of [200, 201, 202, 203, 204, 205, 206, 207]) {
    it(`classifies RTCP packet type ${pt} as RTCP`, () => {
      assert.equal(isRtcp(Buffer.from([0x80, pt, 0, 1]), 4), true)
    })
  }
  for (const pt of [0, 8, 96, 111, 127]) {
    it(`classifies RTP payload type ${pt} (with and without marker) as RTP`, () => {
      assert.equal(isRtcp(Buffer.from([0x80, pt, 0, 1]), 4), false)
      assert.equal(isRtcp(Buffer.from([0x80, pt | 0x80, 0, 1]), 4), pt >= 64 && pt <= 95)
    })
  }
})

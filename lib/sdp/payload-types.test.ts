import assert from 'node:assert/strict'
import { assignPayloadTypes, renumberFormats } from './payload-types.ts'
import { SessionDescription } from './session-description.ts'

const sdp = (formats: string, attrs: string[]) =>
  SessionDescription.parse(
    [
      'v=0',
      'o=- 1 1 IN IP4 192.0.2.1',
      's=-',
      'c=IN IP4 192.0.2.1',
      't=0 0',
      `m=audio 4000 RTP/AVP ${formats}`,
      ...attrs.map((a) => `a=${a}`),
      'a=sendrecv',
      '',
    ].join('\r\n'),
  )
const media = (s: SessionDescription) => s.media[0] as NonNullable<SessionDescription['media'][0]>
const opus111 = { name: 'opus', clockRate: 48000, channels: 2, payloadType: 111 }

describe("assignPayloadTypes (the IP profile's dynamic payload types)", () => {
  it('moves opus offered on 96 to 111 with its fmtp and rtcp-fb, and returns the map', () => {
    const s = sdp('96 0 101', [
      'rtpmap:96 opus/48000/2',
      'fmtp:96 useinbandfec=1',
      'rtcp-fb:96 nack',
      'rtpmap:0 PCMU/8000',
      'rtpmap:101 telephone-event/8000',
      'fmtp:101 0-15',
    ])
    const moved = assignPayloadTypes(media(s), [opus111])
    assert.deepEqual([...moved], [[96, 111]])
    assert.match(s.toString(), /m=audio 4000 RTP\/AVP 111 0 101\r\n/)
    assert.match(
      s.toString(),
      /a=rtpmap:111 opus\/48000\/2\r\na=fmtp:111 useinbandfec=1\r\na=rtcp-fb:111 nack\r\n/,
    )
    assert.match(s.toString(), /a=rtpmap:101 telephone-event\/8000\r\na=fmtp:101 0-15\r\n/)
  })

  it('changes nothing when opus already is on 111, or is not offered', () => {
    const on111 = sdp('111 0', ['rtpmap:111 opus/48000/2', 'rtpmap:0 PCMU/8000'])
    const text = on111.toString()
    assert.equal(assignPayloadTypes(media(on111), [opus111]).size, 0)
    assert.equal(on111.toString(), text)
    const none = sdp('0 8', ['rtpmap:0 PCMU/8000', 'rtpmap:8 PCMA/8000'])
    assert.equal(assignPayloadTypes(media(none), [opus111]).size, 0)
  })

  it('matches name case-insensitively but clock rate and channels exactly', () => {
    const mono = sdp('96', ['rtpmap:96 OPUS/48000'])
    assert.equal(assignPayloadTypes(media(mono), [opus111]).size, 0, 'opus/48000/1 is not opus/48000/2')
    const upper = sdp('96', ['rtpmap:96 OPUS/48000/2'])
    assert.deepEqual([...assignPayloadTypes(media(upper), [opus111])], [[96, 111]])
  })

  it('moves a codec without a wish off 111 to the lowest free dynamic type (a swap here)', () => {
    const s = sdp('96 111', ['rtpmap:96 opus/48000/2', 'rtpmap:111 telephone-event/48000', 'fmtp:111 0-15'])
    const moved = assignPayloadTypes(media(s), [opus111])
    assert.deepEqual(
      [...moved].sort((a, b) => a[0] - b[0]),
      [
        [96, 111],
        [111, 96],
      ],
    )
    assert.match(s.toString(), /m=audio 4000 RTP\/AVP 111 96\r\n/)
    assert.match(
      s.toString(),
      /a=rtpmap:111 opus\/48000\/2\r\na=rtpmap:96 telephone-event\/48000\r\na=fmtp:96 0-15\r\n/,
    )
  })

  it('keeps static types and never moves a codec to a static type', () => {
    const s = sdp('0 97', ['rtpmap:0 PCMU/8000', 'rtpmap:97 opus/48000/2'])
    const moved = assignPayloadTypes(media(s), [
      { name: 'PCMU', clockRate: 8000, payloadType: 100 },
      { name: 'opus', clockRate: 48000, channels: 2, payloadType: 8 },
    ])
    assert.equal(moved.size, 0)
  })

  it('gives a contested type to the first wish only', () => {
    const s = sdp('96 97', ['rtpmap:96 opus/48000/2', 'rtpmap:97 G7221/16000'])
    const moved = assignPayloadTypes(media(s), [
      opus111,
      { name: 'G7221', clockRate: 16000, payloadType: 111 },
    ])
    assert.deepEqual([...moved], [[96, 111]])
  })

  it('finds a type for the codec that yields even when all 32 dynamic types are in use', () => {
    const all = Array.from({ length: 32 }, (_, i) => 96 + i)
    const attrs = all.map((pt) => (pt === 100 ? 'rtpmap:100 opus/48000/2' : `rtpmap:${pt} x${pt}/8000`))
    const s = sdp(all.join(' '), attrs)
    const moved = assignPayloadTypes(media(s), [opus111])
    assert.deepEqual(
      [...moved].sort((a, b) => a[0] - b[0]),
      [
        [100, 111],
        [111, 100],
      ],
    )
    assert.equal(new Set(media(s).formats).size, 32, 'still 32 distinct types')
  })
})

describe('renumberFormats', () => {
  it('applies all moves at once so that a swap does not chain', () => {
    const s = sdp('96 97', ['rtpmap:96 a/8000', 'rtpmap:97 b/8000'])
    renumberFormats(
      media(s),
      new Map([
        [96, 97],
        [97, 96],
      ]),
    )
    assert.match(
      s.toString(),
      /m=audio 4000 RTP\/AVP 97 96\r\na=rtpmap:97 a\/8000\r\na=rtpmap:96 b\/8000\r\n/,
    )
  })
})

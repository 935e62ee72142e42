import { strict as assert } from 'node:assert'
import { loopbackNgHandler } from '../../e2e/media/loopback-ng-handler.ts'
import type { NgRequest, NgResponse } from '../../lib/media/control/ng-message.ts'
import { formatSdesKeyParams, generateSdesKey } from '../../lib/media/srtp/sdes.ts'

/**
 * Topology hiding and keys in the media sections the handler does not relay: a section disabled
 * (port 0, as a re-INVITE that drops video leaves it, attributes and all) or one that is not RTP
 * (T.38 `udptl`, rejected). The party's addresses never reach the other party (docs/media-pod.md),
 * nor its SDES keys (issue 5: the SBC never hands one peer's keys to the other), whichever section
 * they are written in. Real handler, allocator and relay on loopback.
 */

const ctx = { cookie: 'c', remote: { address: '127.0.0.1', port: 9 }, warnings: [] }
const SUITE = 'AES_CM_128_HMAC_SHA1_80'

/** An SDP from a party behind `net` (10.0.0.x / 10.9.9.x) with audio, disabled video and T.38. */
function partySdp(net: string, audioPort: number, key: string): string {
  return [
    'v=0',
    `o=- 1 1 IN IP4 ${net}.1`,
    's=-',
    `c=IN IP4 ${net}.1`,
    't=0 0',
    `m=audio ${audioPort} RTP/SAVP 0`,
    `c=IN IP4 ${net}.2`,
    'a=rtpmap:0 PCMU/8000',
    `a=crypto:1 ${SUITE} ${formatSdesKeyParams(generateSdesKey(SUITE))}`,
    'm=video 0 RTP/SAVP 96',
    `c=IN IP4 ${net}.3`,
    'a=rtpmap:96 H264/90000',
    `a=rtcp:5001 IN IP4 ${net}.3`,
    `a=crypto:1 ${SUITE} ${key}`,
    `a=candidate:1 1 UDP 2130706431 ${net}.3 5000 typ host`,
    'm=image 6000 udptl t38',
    `c=IN IP4 ${net}.4`,
    'a=T38FaxVersion:0',
    '',
  ].join('\r\n')
}

describe('media pod NG handler: sections it does not relay carry nothing of the other party', () => {
  const { allocator, handler, close } = loopbackNgHandler({
    ports: 100,
    advertisedAddress: '203.0.113.9',
    mediaTimeoutMs: 0,
  })
  const req = (r: Record<string, unknown>) =>
    handler.handle(r as unknown as NgRequest, ctx) as Promise<NgResponse & { sdp: string }>

  after(async () => {
    await close()
  })

  it('no address, a=rtcp, candidate or a=crypto of the sender in disabled or rejected sections, both ways', async () => {
    const aKey = formatSdesKeyParams(generateSdesKey(SUITE))
    const bKey = formatSdesKeyParams(generateSdesKey(SUITE))
    const offer = await req({
      command: 'offer',
      'call-id': 'topo',
      'from-tag': 'a',
      replace: ['origin'],
      sdp: partySdp('10.0.0', 4000, aKey),
    })
    assert.doesNotMatch(offer.sdp, /10\.0\.0\./, offer.sdp)
    assert.ok(!offer.sdp.includes(aKey.slice(7, 47)), "A's video key went to B")
    assert.match(offer.sdp, /m=video 0 /)
    assert.match(offer.sdp, /m=image 0 /)
    const ours =
      /m=audio \d+ RTP\/SAVP 0\r\nc=IN IP4 \S+\r\na=rtpmap:0 PCMU\/8000\r\na=crypto:1 \S+ (\S+)/.exec(
        offer.sdp,
      )
    assert.ok(ours, offer.sdp)
    const answerSdp = partySdp('10.9.9', 4100, bKey)
    const answer = await req({
      command: 'answer',
      'call-id': 'topo',
      'from-tag': 'a',
      'to-tag': 'b',
      replace: ['origin'],
      sdp: answerSdp,
    })
    assert.doesNotMatch(answer.sdp, /10\.9\.9\./, answer.sdp)
    assert.ok(!answer.sdp.includes(bKey.slice(7, 47)), "B's video key went to A")
    await req({ command: 'delete', 'call-id': 'topo' })
    assert.equal(allocator.counts().inUse, 0)
  })
})

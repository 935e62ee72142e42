import { strict as assert } from 'node:assert'
import { audioSdp } from '../../e2e/media/helpers.ts'
import { loopbackNgHandler } from '../../e2e/media/loopback-ng-handler.ts'
import type { NgRequest, NgResponse } from '../../lib/media/control/ng-message.ts'

/**
 * `load limit` (rtpengine's reply to a client that `supports` it) tells the client to try another
 * media pod. rtpengine gives it only to an offer that would create a call: a call that exists lives
 * on this pod, and another one cannot take its re-offer or answer (it knows nothing of the call, or
 * would make a second half of it). So capacity met by a re-offer (a section added when the realm is
 * out of ports) or an answer is an error reply, as for a client that does not `supports` it. Real
 * handler, allocator and relay (native when built), loopback only.
 */

const ctx = { cookie: 'c', remote: { address: '127.0.0.1', port: 9 }, warnings: [] }

describe('media pod NG handler: `load limit` only for an offer that creates a call', function () {
  this.timeout(20_000)
  // Four ports: one RTP/RTCP pair per party of one audio section, nothing more.
  const { allocator, handler, close } = loopbackNgHandler({ ports: 4, mediaTimeoutMs: 0 })
  const req = (r: Record<string, unknown>) =>
    handler.handle(r as unknown as NgRequest, ctx) as Promise<NgResponse & { sdp: string }>
  const video = (port: number) => [`m=video ${port} RTP/AVP 97`, 'a=rtpmap:97 H264/90000', 'a=sendrecv']

  after(async () => {
    await close()
  })

  it('answers a new call `load limit` when the realm is out of ports, and a re-offer of a call it holds an error', async () => {
    const call = { 'call-id': 'full', 'from-tag': 'a', 'to-tag': 'b' }
    await req({ command: 'offer', ...call, sdp: audioSdp(5000) })
    await req({ command: 'answer', ...call, sdp: audioSdp(6000) })
    assert.equal(allocator.counts().inUse, 4, 'every port taken')
    try {
      const other = await req({
        command: 'offer',
        'call-id': 'another',
        'from-tag': 'a',
        sdp: audioSdp(5100),
        supports: ['load limit'],
      })
      assert.equal(other.result, 'load limit', 'a new call: another media pod may take it')
      // A re-offer adding video (RFC 3264 §8.1) finds no port: the call is here, not on another pod.
      await assert.rejects(
        req({
          command: 'offer',
          ...call,
          sdp: audioSdp(5000, { extra: video(5002) }),
          supports: ['load limit'],
        }),
        { code: 'SBC_ERR_PORT_EXHAUSTED' },
      )
      // The call is as it was: audio only, its ports kept, still answered.
      assert.equal(allocator.counts().inUse, 4)
      const again = await req({ command: 'offer', ...call, sdp: audioSdp(5000), supports: ['load limit'] })
      assert.equal(again.result, 'ok')
    } finally {
      await req({ command: 'delete', 'call-id': 'full' })
    }
    assert.equal(allocator.counts().inUse, 0)
  })
})

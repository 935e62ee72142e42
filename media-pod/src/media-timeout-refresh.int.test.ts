import { strict as assert } from 'node:assert'
import { audioSdp, endpointOf, Peer, rtpPacket } from '../../e2e/media/helpers.ts'
import { loopbackNgHandler } from '../../e2e/media/loopback-ng-handler.ts'
import type { NgRequest, NgResponse } from '../../lib/media/control/ng-message.ts'
import type { MediaTimeoutEvent } from './ng-handler.ts'

/**
 * The media timeout against signals that change nothing a party sends. A session refresh (RFC 4028:
 * a re-INVITE or UPDATE every half Session-Expires, 45 s with the minimum of 90 s) offers the same
 * SDP again: it is no resume, so it must not restart a silent party's idle time, or a call whose
 * media died is never reported while its refreshes come more often than the limit. And a media
 * section a re-offer disables (port 0: the call drops video) carries nothing any more: its silence
 * is no media timeout. Real handler and relays (native when built, and dgram) on loopback, real
 * clock, limit 1 s.
 */

const ctx = { cookie: 'c', remote: { address: '127.0.0.1', port: 9 }, warnings: [] }
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** An audio and a video section; the video's port 0 when `videoPort` is 0. */
function avSdp(audioPort: number, videoPort: number): string {
  return audioSdp(audioPort, { codecs: '0' }).replace(
    'a=sendrecv\r\n',
    ['a=sendrecv', `m=video ${videoPort} RTP/AVP 96`, 'a=rtpmap:96 H264/90000', 'a=sendrecv', ''].join(
      '\r\n',
    ),
  )
}

for (const backend of ['native', 'dgram'] as const) {
  describe(`media pod NG handler: media timeout through refreshes and dropped sections (${backend})`, function () {
    this.timeout(30_000)
    const events: MediaTimeoutEvent[] = []
    const { handler, native, close } = loopbackNgHandler({
      ports: 100,
      backend,
      mediaTimeoutMs: 1_000,
      onMediaTimeout: (e) => events.push(e),
    })
    const req = (r: Record<string, unknown>) =>
      handler.handle(r as unknown as NgRequest, ctx) as Promise<NgResponse & { sdp: string }>
    const reported = (callId: string, tag: string) => events.some((e) => e.callId === callId && e.tag === tag)
    const exchange = async (callId: string, aSdp: string, bSdp: string) => {
      const o = await req({ command: 'offer', 'call-id': callId, 'from-tag': 'a', 'to-tag': 'b', sdp: aSdp })
      const r = await req({ command: 'answer', 'call-id': callId, 'from-tag': 'a', 'to-tag': 'b', sdp: bSdp })
      return { toB: endpointOf(o.sdp).port, toA: endpointOf(r.sdp).port }
    }

    after(async () => {
      await close()
    })

    it('reports dead media although session refreshes offer the same SDP more often than the limit', async function () {
      if (backend === 'native' && !native) this.skip()
      const a = await Peer.open()
      const b = await Peer.open()
      try {
        const { toB, toA } = await exchange(
          'refresh',
          audioSdp(a.port, { codecs: '0' }),
          audioSdp(b.port, { codecs: '0' }),
        )
        await b.send(rtpPacket(1, 0, 0xbbbb), toB)
        await a.send(rtpPacket(1, 0, 0xaaaa), toA)
        await a.waitFor(1)
        await b.waitFor(1)
        // Then no packet any more; the same offer and answer every 300 ms (bounded: 6 s).
        const end = Date.now() + 6_000
        while (!(reported('refresh', 'a') && reported('refresh', 'b')) && Date.now() < end) {
          await exchange('refresh', audioSdp(a.port, { codecs: '0' }), audioSdp(b.port, { codecs: '0' }))
          await sleep(300)
        }
        assert.ok(reported('refresh', 'a'), "A's dead media is reported despite the refreshes")
        assert.ok(reported('refresh', 'b'), "B's dead media is reported despite the refreshes")
      } finally {
        await req({ command: 'delete', 'call-id': 'refresh' })
        a.close()
        b.close()
      }
    })

    it('does not time out a video section a re-offer disabled (port 0) while audio flows', async function () {
      if (backend === 'native' && !native) this.skip()
      const a = await Peer.open()
      const b = await Peer.open()
      try {
        const { toB, toA } = await exchange('novideo', avSdp(a.port, a.port + 2), avSdp(b.port, b.port + 2))
        // The call drops video: port 0 both ways (RFC 3264 §8.2 and §6).
        await exchange('novideo', avSdp(a.port, 0), avSdp(b.port, 0))
        // Audio flows both ways for 3 s (three media timeout periods).
        for (let seq = 1; seq <= 30; seq++) {
          await a.send(rtpPacket(seq, 0, 0xaaaa), toA)
          await b.send(rtpPacket(seq, 0, 0xbbbb), toB)
          await sleep(100)
        }
        assert.ok(a.received.length > 0 && b.received.length > 0, 'audio is relayed')
        assert.deepEqual(
          events.filter((e) => e.callId === 'novideo'),
          [],
          'no media timeout: the disabled video carries nothing by agreement',
        )
      } finally {
        await req({ command: 'delete', 'call-id': 'novideo' })
        a.close()
        b.close()
      }
    })
  })
}

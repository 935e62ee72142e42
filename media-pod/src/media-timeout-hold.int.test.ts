import { strict as assert } from 'node:assert'
import { audioSdp, endpointOf, Peer, rtpPacket } from '../../e2e/media/helpers.ts'
import { loopbackNgHandler } from '../../e2e/media/loopback-ng-handler.ts'
import type { NgRequest, NgResponse } from '../../lib/media/control/ng-message.ts'
import type { MediaTimeoutEvent } from './ng-handler.ts'

/**
 * The media timeout on a call put on hold and taken off it. A call on hold (some party declared
 * `sendonly`, `recvonly` or `inactive`, RFC 3264 §5.1, §8.4, or `c=0.0.0.0`, RFC 2543) is not
 * expected to carry RTP either way: the holder may send music or nothing, the held party sends
 * nothing (many peers send no RTCP either), so the media timeout leaves it to the hold timeout
 * (hold-timeout.int.test.ts); and the silence of a hold does not count once the call is resumed: the
 * idle time runs from the later of the party's last packet and the last signal. Real handler and
 * relays (native when built, and dgram) on loopback; the handler's wall clock (which stamps signals)
 * is moved by hand, the relays' idle times are real, the limit is 1 s (the hold timeout's default,
 * an hour, is never reached).
 */

const ctx = { cookie: 'c', remote: { address: '127.0.0.1', port: 9 }, warnings: [] }
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

for (const backend of ['native', 'dgram'] as const) {
  describe(`media pod NG handler: media timeout through hold and resume (${backend})`, function () {
    this.timeout(30_000)
    let clock = Date.now()
    const events: MediaTimeoutEvent[] = []
    const { handler, native, close } = loopbackNgHandler({
      ports: 100,
      backend,
      mediaTimeoutMs: 1_000,
      now: () => clock,
      onMediaTimeout: (e) => events.push(e),
    })
    const req = (r: Record<string, unknown>) =>
      handler.handle(r as unknown as NgRequest, ctx) as Promise<NgResponse & { sdp: string }>
    const reported = (tag: string) => events.some((e) => e.tag === tag)
    /** Polls until `cond` (bounded: the handler checks once a second). */
    const until = async (cond: () => boolean, what: string) => {
      const end = Date.now() + 8_000
      while (!cond()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
        await sleep(20)
      }
    }
    const exchange = async (aDir: string, bDir: string, a: Peer, b: Peer, aAddress = '127.0.0.1') => {
      const o = await req({
        command: 'offer',
        'call-id': 'hold',
        'from-tag': 'a',
        'to-tag': 'b',
        sdp: audioSdp(a.port, { codecs: '0', address: aAddress }).replace('a=sendrecv', `a=${aDir}`),
      })
      const r = await req({
        command: 'answer',
        'call-id': 'hold',
        'from-tag': 'a',
        'to-tag': 'b',
        sdp: audioSdp(b.port, { codecs: '0' }).replace('a=sendrecv', `a=${bDir}`),
      })
      return { toB: endpointOf(o.sdp).port, toA: endpointOf(r.sdp).port }
    }

    after(async () => {
      await close()
    })

    it('does not time out a call held with sendonly whose holder sends nothing, nor a resumed one for the hold; still times out real silence', async function () {
      if (backend === 'native' && !native) this.skip()
      const a = await Peer.open()
      const b = await Peer.open()
      try {
        const { toB, toA } = await exchange('sendrecv', 'sendrecv', a, b)
        // Both parties send once (B first, so B's silence is never shorter than A's).
        await b.send(rtpPacket(1, 0, 0xbbbb), toB)
        await a.send(rtpPacket(1, 0, 0xaaaa), toA)
        await a.waitFor(1)
        await b.waitFor(1)
        // A holds: A sendonly, B recvonly. Neither sends now (a hold without music); the signal is
        // long past. Over two checks, nothing: a held call is the hold timeout's (the media
        // timeout would end calls users merely held for a minute).
        await exchange('sendonly', 'recvonly', a, b)
        clock += 10_000
        await sleep(2_500)
        assert.equal(events.length, 0, 'neither party of a held call is timed out by the media timeout')
        // A resumes; the clock that stamps signals stands still at the resume. The silence of the
        // hold is older than the limit, but the resume is not: nothing over two checks.
        await exchange('sendrecv', 'sendrecv', a, b)
        await sleep(2_500)
        assert.equal(events.length, 0, 'the silence of the hold does not count after the resume')
        // Now both are silent for longer than the limit since the resume too: reported.
        clock += 10_000
        await until(() => reported('a') && reported('b'), 'the media timeouts after the resume')
        assert.ok(
          events.every((e) => !e.hold),
          'media timeouts, not hold timeouts',
        )
      } finally {
        await req({ command: 'delete', 'call-id': 'hold' })
        a.close()
        b.close()
      }
    })

    it('does not time out a call held with c=0.0.0.0 (RFC 2543 hold), the sendrecv answerer either', async function () {
      if (backend === 'native' && !native) this.skip()
      events.length = 0
      const a = await Peer.open()
      const b = await Peer.open()
      try {
        const { toB, toA } = await exchange('sendrecv', 'sendrecv', a, b)
        await a.send(rtpPacket(1, 0, 0xaaaa), toA)
        await b.send(rtpPacket(1, 0, 0xbbbb), toB)
        await a.waitFor(1)
        await b.waitFor(1)
        await exchange('sendrecv', 'sendrecv', a, b, '0.0.0.0')
        clock += 10_000
        // A asked for no media; B, which answered sendrecv, has nowhere to send it: the call is on
        // hold, and neither is timed out over two checks.
        await sleep(2_500)
        assert.equal(events.length, 0, 'neither party of a held call is timed out by the media timeout')
        // A resumes: both are the media timeout's again, from the resume.
        await exchange('sendrecv', 'sendrecv', a, b)
        clock += 10_000
        await until(() => reported('a') && reported('b'), 'the media timeouts after the resume')
      } finally {
        await req({ command: 'delete', 'call-id': 'hold' })
        a.close()
        b.close()
      }
    })
  })
}

import { strict as assert } from 'node:assert'
import { audioSdp, endpointOf, Peer, rtpPacket } from '../../e2e/media/helpers.ts'
import { loopbackNgHandler } from '../../e2e/media/loopback-ng-handler.ts'
import type { NgRequest, NgResponse } from '../../lib/media/control/ng-message.ts'
import type { MediaTimeoutEvent } from './ng-handler.ts'

/**
 * The media timeout on a call put on hold and taken off it. A party that declared `recvonly` or
 * `inactive` (RFC 3264 §5.1, §8.4: hold) is not expected to send RTP, so its silence is no sign of a
 * dead call (many peers send no RTCP either); and the silence of a hold does not count once the call
 * is resumed: the idle time runs from the later of the party's last packet and the last signal.
 * Real handler and relays (native when built, and dgram) on loopback; the handler's wall clock
 * (which stamps signals) is moved by hand, the relays' idle times are real, the limit is 1 s.
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

    it('does not time out the party that holds the call silent, nor a resumed one for the hold; still times out real silence', async function () {
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
        // A holds: A sendonly, B recvonly. Neither sends now; the signal is long past.
        await exchange('sendonly', 'recvonly', a, b)
        clock += 10_000
        // A was to send and did not: reported. B said it would not send: the same check passes it.
        await until(() => reported('a'), "A's media timeout")
        assert.equal(reported('b'), false, 'the recvonly party is not timed out')
        // A resumes; the clock that stamps signals stands still at the resume. B's silence of the
        // hold is older than the limit, but the resume is not: nothing for B over two checks.
        await exchange('sendrecv', 'sendrecv', a, b)
        await sleep(2_500)
        assert.equal(reported('b'), false, 'the silence of the hold does not count after the resume')
        // Now B is silent for longer than the limit since the resume too: reported.
        clock += 10_000
        await until(() => reported('b'), "B's media timeout after the resume")
      } finally {
        await req({ command: 'delete', 'call-id': 'hold' })
        a.close()
        b.close()
      }
    })

    it('does not time out the party that holds the call with c=0.0.0.0 (RFC 2543 hold)', async function () {
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
        // B, still to send, is reported; A, which asked for no media, is passed in the same check.
        await until(() => reported('b'), "B's media timeout")
        assert.equal(reported('a'), false, 'the c=0.0.0.0 party is not timed out')
      } finally {
        await req({ command: 'delete', 'call-id': 'hold' })
        a.close()
        b.close()
      }
    })
  })
}

import { strict as assert } from 'node:assert'
import { createSocket } from 'node:dgram'
import { audioSdp, endpointOf, Peer, rtpPacket } from '../../e2e/media/helpers.ts'
import { loopbackNgHandler } from '../../e2e/media/loopback-ng-handler.ts'
import type { NgRequest, NgResponse } from '../../lib/media/control/ng-message.ts'

/**
 * A re-offer the handler refuses leaves the session as it was (RFC 3264 §8: the old description
 * stays in force when an offer is rejected; the B2BUA answers it 488 and keeps the call, docs/b2bua.md).
 * What the refused offer said — a new address, codecs — must not reach the relay later, when the
 * other party's re-offer programs the pair again. Real handler, allocator and relays (native when
 * built, and dgram), loopback only.
 */

const ctx = { cookie: 'c', remote: { address: '127.0.0.1', port: 9 }, warnings: [] }

for (const backend of ['native', 'dgram'] as const) {
  describe(`media pod NG handler: a refused re-offer changes nothing (${backend})`, function () {
    this.timeout(20_000)
    const { allocator, handler, native, close } = loopbackNgHandler({
      ports: 100,
      backend,
      mediaTimeoutMs: 0,
    })
    const req = (r: Record<string, unknown>) =>
      handler.handle(r as unknown as NgRequest, ctx) as Promise<NgResponse & { sdp: string }>

    after(async () => {
      await close()
    })

    it("keeps relaying to A's address after A's refused re-offer named another, through B's re-offer", async function () {
      if (backend === 'native' && !native) this.skip()
      const a = await Peer.open()
      const aMoved = await Peer.open()
      const b = await Peer.open()
      try {
        const offer = await req({
          command: 'offer',
          'call-id': 'refused',
          'from-tag': 'a',
          'to-tag': 'b',
          sdp: audioSdp(a.port, { codecs: '0 101' }),
        })
        await req({
          command: 'answer',
          'call-id': 'refused',
          'from-tag': 'a',
          'to-tag': 'b',
          sdp: audioSdp(b.port, { codecs: '0 101' }),
        })
        // A re-offers a new port with nothing but a codec the codec filter strips: refused.
        await assert.rejects(
          req({
            command: 'offer',
            'call-id': 'refused',
            'from-tag': 'a',
            'to-tag': 'b',
            sdp: audioSdp(aMoved.port, { codecs: '8' }),
            codec: { strip: ['PCMA'] },
          }),
          /no offered codec/,
        )
        // B re-offers (a session refresh): the pair is programmed again, A still as it was.
        const re = await req({
          command: 'offer',
          'call-id': 'refused',
          'from-tag': 'b',
          'to-tag': 'a',
          sdp: audioSdp(b.port, { codecs: '0 101' }),
        })
        assert.equal(re.result, 'ok')
        const toB = endpointOf(offer.sdp).port // B sends to our B-side port
        for (let i = 0; i < 3; i++) await b.send(rtpPacket(i, 0, 0xbbbb), toB)
        await a.waitFor(3)
        assert.deepEqual(
          a.received.map((r) => r.msg),
          [0, 1, 2].map((i) => rtpPacket(i, 0, 0xbbbb)),
        )
        assert.equal(aMoved.received.length, 0, 'nothing to the address of the refused offer')
        const q = await req({ command: 'query', 'call-id': 'refused' })
        const aStream = (
          q.tags as Record<string, { medias: { streams: { 'advertised endpoint': { port: number } }[] }[] }>
        ).a?.medias[0]?.streams[0]
        assert.equal(aStream?.['advertised endpoint'].port, a.port)
      } finally {
        await req({ command: 'delete', 'call-id': 'refused' }).catch(() => {})
        a.close()
        aMoved.close()
        b.close()
      }
      assert.equal(allocator.counts().inUse, 0)
    })

    it('withdraw offer (kube-sbc extension): both re-offers of a glare refused, in either order, the relay is back on the old addresses', async function () {
      if (backend === 'native' && !native) this.skip()
      for (const order of [
        ['a', 'b'],
        ['b', 'a'],
      ]) {
        const callId = `glare-${order.join('')}`
        const a = await Peer.open()
        const b = await Peer.open()
        const moved = await Peer.open()
        const call = { 'call-id': callId }
        try {
          const offer = await req({
            command: 'offer',
            ...call,
            'from-tag': 'a',
            'to-tag': 'b',
            sdp: audioSdp(a.port, { codecs: '0 8' }),
          })
          const answer = await req({
            command: 'answer',
            ...call,
            'from-tag': 'a',
            'to-tag': 'b',
            sdp: audioSdp(b.port, { codecs: '0 8' }),
          })
          // Glare (RFC 3261 §14.1): both re-offer a new port and another codec; both get 491.
          for (const [from, to] of [
            ['a', 'b'],
            ['b', 'a'],
          ])
            await req({
              command: 'offer',
              ...call,
              'from-tag': from,
              'to-tag': to,
              sdp: audioSdp(moved.port, { codecs: '8' }),
            })
          const replies = []
          for (const from of order)
            replies.push(await req({ command: 'withdraw offer', ...call, 'from-tag': from }))
          assert.equal(replies[0]?.result, 'ok')
          assert.equal(replies[0]?.warning, undefined)
          // The second was made on top of the first (b's) or went with it (a's): nothing left.
          if (order[0] === 'a') assert.equal(replies[1]?.warning, 'No offer pending from this party')
          else assert.equal(replies[1]?.warning, undefined)
          const toB = endpointOf(offer.sdp).port
          const toA = endpointOf(answer.sdp).port
          for (let i = 0; i < 3; i++) await b.send(rtpPacket(i, 0, 0xbbbb), toB)
          await a.waitFor(3)
          for (let i = 0; i < 3; i++) await a.send(rtpPacket(i, 0, 0xaaaa), toA)
          await b.waitFor(3)
          assert.deepEqual(
            a.received.map((r) => r.msg),
            [0, 1, 2].map((i) => rtpPacket(i, 0, 0xbbbb)),
          )
          assert.deepEqual(
            b.received.map((r) => r.msg),
            [0, 1, 2].map((i) => rtpPacket(i, 0, 0xaaaa)),
          )
          assert.equal(moved.received.length, 0, 'nothing to the address of the refused offers')
        } finally {
          await req({ command: 'delete', ...call }).catch(() => {})
          a.close()
          b.close()
          moved.close()
        }
      }
      const unknown = await req({ command: 'withdraw offer', 'call-id': 'none', 'from-tag': 'a' })
      assert.equal(unknown.warning, "Call-ID not found or tags didn't match")
      assert.equal(allocator.counts().inUse, 0)
    })
    it('withdraw offer releases the streams the withdrawn re-offer added: gone from query, ports free to bind', async () => {
      const call = { 'call-id': 'added-video' }
      const video = (port: number) => [`m=video ${port} RTP/AVP 97`, 'a=rtpmap:97 H264/90000']
      const tags = async () =>
        (
          (await req({ command: 'query', ...call })) as unknown as {
            tags: Record<string, { medias: { type: string; streams: { 'local port': number }[] }[] }>
          }
        ).tags
      await req({ command: 'offer', ...call, 'from-tag': 'a', 'to-tag': 'b', sdp: audioSdp(5000) })
      await req({ command: 'answer', ...call, 'from-tag': 'a', 'to-tag': 'b', sdp: audioSdp(6000) })
      const inUse = allocator.counts().inUse
      // A re-offer adding video (RFC 3264 §8.1), refused by B: withdrawn.
      const re = await req({
        command: 'offer',
        ...call,
        'from-tag': 'a',
        'to-tag': 'b',
        sdp: audioSdp(5000, { extra: video(5002) }),
      })
      const towardB = Number(/m=video (\d+)/.exec(re.sdp)?.[1])
      const added = await tags()
      const towardA = added.a?.medias[1]?.streams[0]?.['local port'] as number
      assert.deepEqual(
        added.a?.medias.map((m) => m.type),
        ['audio', 'video'],
      )
      assert.ok(towardA > 0 && towardB > 0)
      assert.ok(allocator.counts().inUse > inUse)
      const w = await req({ command: 'withdraw offer', ...call, 'from-tag': 'a' })
      assert.equal(w.result, 'ok')
      assert.equal(w.warning, undefined)
      const after = await tags()
      for (const tag of ['a', 'b'])
        assert.deepEqual(
          after[tag]?.medias.map((m) => m.type),
          ['audio'],
          `${tag}: the video section is gone`,
        )
      assert.equal(allocator.counts().inUse, inUse, 'the video ports are back in the pool')
      // The relay's sockets on them are closed: another socket binds them.
      for (const port of [towardA, towardB, towardA + 1, towardB + 1]) {
        const s = createSocket('udp4')
        try {
          await new Promise<void>((ok, fail) => {
            s.once('error', fail)
            s.bind(port, '127.0.0.1', () => ok())
          })
        } finally {
          s.close()
        }
      }
      // A later re-offer adding video gets it anew; the audio call goes on.
      const again = await req({
        command: 'offer',
        ...call,
        'from-tag': 'a',
        'to-tag': 'b',
        sdp: audioSdp(5000, { extra: video(5002) }),
      })
      assert.match(again.sdp, /m=video [1-9]\d* RTP\/AVP 97/)
      await req({ command: 'delete', ...call })
      assert.equal(allocator.counts().inUse, 0)
    })
  })
}

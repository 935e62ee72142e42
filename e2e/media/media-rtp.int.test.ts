import { strict as assert } from 'node:assert'
import { NgRemoteError } from '../../lib/media/control/errors.ts'
import { loadMediaAddon } from '../../media-pod/native/media-addon.ts'
import {
  audioSdp,
  endpointOf,
  type MediaProcess,
  mediaConfig,
  metric,
  Peer,
  portBase,
  rtpPacket,
  startMedia,
} from './helpers.ts'

/** The relay a `--workers 1` media pod uses for a call the native worker supports. */
const nativeOr = (fallback: string): string => (loadMediaAddon() ? 'native' : fallback)

/**
 * `kube-sbc media` as a child process, driven by our NG client: offer/answer, RTP both ways with
 * latching through a different source port, telephone-event payload type mapping, delete, 1,000
 * offer/delete cycles without a leaked port, and port exhaustion. Runs once per relay backend.
 */
for (const workers of ['1', '0']) {
  const backend = workers === '0' ? 'dgram' : 'native (or dgram when not built)'
  describe(`kube-sbc media: RTP relay through NG (${backend})`, function () {
    this.timeout(60_000)
    let media: MediaProcess
    const base = portBase(400)

    before(async () => {
      media = await startMedia(
        mediaConfig([
          { name: 'lan', min: base, max: base + 199 },
          { name: 'wan', min: base + 200, max: base + 399, advertised: '127.0.0.1' },
        ]),
        ['--workers', workers, '--port-quarantine-ms', '0'],
      )
    })
    after(async () => {
      await media?.stop()
    })

    it('answers ping', async () => {
      await media.ng.ping()
    })

    it('relays RTP both ways, latching on the real source port', async () => {
      const a = await Peer.open() // A's signalled port
      const aNat = await Peer.open() // A's real source (as behind NAT)
      const b = await Peer.open()
      const callId = `rtp-${workers}-${Date.now()}`
      const offer = await media.ng.offer({
        'call-id': callId,
        'from-tag': 'ta',
        sdp: audioSdp(a.port),
        direction: ['lan', 'wan'],
      })
      const toB = endpointOf(offer.sdp)
      assert.equal(toB.address, '127.0.0.1')
      assert.ok(toB.port >= base + 200 && toB.port <= base + 399, `offer port ${toB.port} in wan range`)
      assert.doesNotMatch(offer.sdp, new RegExp(`m=audio ${a.port} `))
      const answer = await media.ng.answer({
        'call-id': callId,
        'from-tag': 'ta',
        'to-tag': 'tb',
        sdp: audioSdp(b.port),
      })
      const toA = endpointOf(answer.sdp)
      assert.ok(toA.port >= base && toA.port <= base + 199, `answer port ${toA.port} in lan range`)
      // A sends from another port than it signalled: the relay latches onto it.
      for (let i = 0; i < 5; i++) await aNat.send(rtpPacket(i), toA.port)
      await b.waitFor(5)
      assert.equal(b.received[0]?.msg.subarray(12).toString().slice(0, 9), 'payload-0')
      assert.equal(b.received[0]?.from.port, toB.port, 'B hears the relay from the port offered to it')
      for (let i = 0; i < 5; i++) await b.send(rtpPacket(100 + i, 8, 0x9999), toB.port)
      await aNat.waitFor(5)
      assert.equal(a.received.length, 0, 'nothing goes to the signalled port after latching')
      assert.equal(aNat.received[0]?.from.port, toA.port)
      const q = await media.ng.query({ 'call-id': callId })
      const tags = q.tags as Record<string, { medias: { streams: { stats: { packets: number } }[] }[] }>
      assert.equal(tags.ta?.medias[0]?.streams[0]?.stats.packets, 5)
      assert.equal(tags.tb?.medias[0]?.streams[0]?.stats.packets, 5)
      const list = await media.ng.list()
      assert.ok(list.calls.includes(callId))
      await media.ng.delete({ 'call-id': callId })
      assert.ok(!(await media.ng.list()).calls.includes(callId))
      for (const p of [a, aNat, b]) p.close()
    })

    it('reports packets lost from RTP sequence numbers in query (both relays)', async () => {
      const a = await Peer.open()
      const b = await Peer.open()
      const callId = `loss-${workers}-${Date.now()}`
      await media.ng.offer({ 'call-id': callId, 'from-tag': 'la', sdp: audioSdp(a.port) })
      const answer = await media.ng.answer({
        'call-id': callId,
        'from-tag': 'la',
        'to-tag': 'lb',
        sdp: audioSdp(b.port),
      })
      const toA = endpointOf(answer.sdp).port
      // 20 sequence numbers, 4 never sent (the first packet only starts RFC 3550 probation).
      const sent = Array.from({ length: 20 }, (_, i) => 1000 + i).filter(
        (q) => ![1005, 1006, 1010, 1017].includes(q),
      )
      for (const q of sent) await a.send(rtpPacket(q), toA)
      await b.waitFor(sent.length)
      const q = await media.ng.query({ 'call-id': callId })
      const tags = q.tags as Record<string, { medias: { streams: { stats: Record<string, number> }[] }[] }>
      assert.equal(tags.la?.medias[0]?.streams[0]?.stats['packets lost'], 4)
      assert.equal(tags.lb?.medias[0]?.streams[0]?.stats['packets lost'], 0)
      await media.ng.delete({ 'call-id': callId })
      a.close()
      b.close()
    })

    it('keeps the ports on a re-offer (hold) and follows the new direction', async () => {
      const a = await Peer.open()
      const b = await Peer.open()
      const callId = `hold-${workers}-${Date.now()}`
      const o1 = await media.ng.offer({ 'call-id': callId, 'from-tag': 'x', sdp: audioSdp(a.port) })
      const a1 = await media.ng.answer({
        'call-id': callId,
        'from-tag': 'x',
        'to-tag': 'y',
        sdp: audioSdp(b.port),
      })
      const o2 = await media.ng.offer({
        'call-id': callId,
        'from-tag': 'x',
        'to-tag': 'y',
        sdp: audioSdp(a.port).replace('a=sendrecv', 'a=sendonly'),
      })
      assert.equal(endpointOf(o2.sdp).port, endpointOf(o1.sdp).port)
      assert.match(o2.sdp, /a=sendonly/)
      const a2 = await media.ng.answer({
        'call-id': callId,
        'from-tag': 'x',
        'to-tag': 'y',
        sdp: audioSdp(b.port).replace('a=sendrecv', 'a=recvonly'),
      })
      assert.equal(endpointOf(a2.sdp).port, endpointOf(a1.sdp).port)
      assert.match(a2.sdp, /a=recvonly/)
      // A re-INVITE from B (B's tag is now the from-tag) also reuses the ports.
      const o3 = await media.ng.offer({
        'call-id': callId,
        'from-tag': 'y',
        'to-tag': 'x',
        sdp: audioSdp(b.port),
      })
      assert.equal(endpointOf(o3.sdp).port, endpointOf(a1.sdp).port)
      await media.ng.delete({ 'call-id': callId })
      a.close()
      b.close()
    })

    it('maps telephone-event payload types when the legs negotiated different ones', async () => {
      const a = await Peer.open()
      const b = await Peer.open()
      const callId = `dtmf-${workers}-${Date.now()}`
      const offer = await media.ng.offer({
        'call-id': callId,
        'from-tag': 'x',
        sdp: audioSdp(a.port, { codecs: '0 101' }),
      })
      // B answers telephone-event on 96.
      const answer = await media.ng.answer({
        'call-id': callId,
        'from-tag': 'x',
        'to-tag': 'y',
        sdp: audioSdp(b.port, { codecs: '0 96' }),
      })
      assert.match(answer.sdp, /m=audio \d+ RTP\/AVP 0 101/, 'A sees its own type')
      assert.match(answer.sdp, /a=rtpmap:101 telephone-event\/8000/)
      const toA = endpointOf(answer.sdp).port
      const toB = endpointOf(offer.sdp).port
      await a.send(rtpPacket(1, 101), toA)
      await b.waitFor(1)
      assert.equal((b.received[0]?.msg[1] as number) & 0x7f, 96)
      await b.send(rtpPacket(2, 96), toB)
      await a.waitFor(1)
      assert.equal((a.received[0]?.msg[1] as number) & 0x7f, 101)
      const q = await media.ng.query({ 'call-id': callId })
      const relay = (q.tags as Record<string, { medias: { streams: { relay: string }[] }[] }>).x?.medias[0]
        ?.streams[0]?.relay
      // The native worker rewrites payload types itself: a mapped call stays on the fast path.
      assert.equal(relay, workers === '0' ? 'dgram' : nativeOr('dgram'), 'relay of the mapped call')
      await media.ng.delete({ 'call-id': callId })
      a.close()
      b.close()
    })

    it("offers opus on the profile's payload type 111 and rewrites the RTP payload type both ways", async () => {
      const a = await Peer.open()
      const b = await Peer.open()
      const callId = `opus-${workers}-${Date.now()}`
      // A offers opus on 96 and telephone-event on 101; the profile toward B wants opus on 111.
      const offer = await media.ng.offer({
        'call-id': callId,
        'from-tag': 'x',
        sdp: audioSdp(a.port, {
          codecs: '109 0 101',
          extra: ['a=rtpmap:109 opus/48000/2', 'a=fmtp:109 useinbandfec=1'],
        }),
        'payload types': { 'opus/48000/2': 111 },
      })
      assert.match(offer.sdp, /m=audio \d+ RTP\/AVP 111 0 101\r\n/, 'B is offered opus on 111')
      assert.match(offer.sdp, /a=rtpmap:111 opus\/48000\/2\r\na=fmtp:111 useinbandfec=1\r\n/)
      assert.doesNotMatch(offer.sdp, /:109 /)
      const answer = await media.ng.answer({
        'call-id': callId,
        'from-tag': 'x',
        'to-tag': 'y',
        sdp: audioSdp(b.port, { codecs: '111 101', extra: ['a=rtpmap:111 opus/48000/2'] }),
      })
      assert.match(answer.sdp, /m=audio \d+ RTP\/AVP 109 101\r\n/, 'A gets the answer in its own numbers')
      assert.match(answer.sdp, /a=rtpmap:109 opus\/48000\/2/)
      const toA = endpointOf(answer.sdp).port
      const toB = endpointOf(offer.sdp).port
      // The marker bit survives the rewrite.
      const marked = rtpPacket(1, 109)
      marked[1] = (marked[1] as number) | 0x80
      await a.send(marked, toA)
      await b.waitFor(1)
      assert.equal(b.received[0]?.msg[1], 0x80 | 111, 'A→B: 109 becomes 111, marker kept')
      await b.send(rtpPacket(2, 111), toB)
      await a.waitFor(1)
      assert.equal(a.received[0]?.msg[1], 109, 'B→A: 111 becomes 109')
      // Types both legs share pass unchanged.
      await a.send(rtpPacket(3, 0), toA)
      await b.waitFor(2)
      assert.equal(b.received[1]?.msg[1], 0)
      assert.deepEqual(b.received[1]?.msg.subarray(12), rtpPacket(3, 0).subarray(12), 'payload intact')
      const q = await media.ng.query({ 'call-id': callId })
      const relay = (q.tags as Record<string, { medias: { streams: { relay: string }[] }[] }>).x?.medias[0]
        ?.streams[0]?.relay
      assert.equal(relay, workers === '0' ? 'dgram' : nativeOr('dgram'), 'relay of the mapped call')
      await media.ng.delete({ 'call-id': callId })
      a.close()
      b.close()
    })

    it('1,000 sequential offer/answer/delete cycles leave no port allocated', async () => {
      for (let i = 0; i < 1000; i++) {
        const callId = `cycle-${workers}-${i}`
        await media.ng.offer({
          'call-id': callId,
          'from-tag': 'a',
          sdp: audioSdp(30_000),
          direction: ['lan', 'wan'],
        })
        if (i % 10 === 0)
          await media.ng.answer({ 'call-id': callId, 'from-tag': 'a', 'to-tag': 'b', sdp: audioSdp(30_002) })
        await media.ng.delete({ 'call-id': callId })
      }
      assert.equal(await metric(media.httpPort, 'sbc_media_ports_in_use'), 0)
      assert.equal(await metric(media.httpPort, 'sbc_media_sessions'), 0)
      assert.deepEqual((await media.ng.list()).calls, [])
    })

    it('port exhaustion gives a clean NG error (or load limit) and frees what it took', async () => {
      const inUse = await metric(media.httpPort, 'sbc_media_ports_in_use')
      const ids: string[] = []
      let error: unknown
      for (let i = 0; i < 200; i++) {
        const callId = `full-${workers}-${i}`
        try {
          await media.ng.offer({
            'call-id': callId,
            'from-tag': 'a',
            sdp: audioSdp(30_000),
            direction: ['lan', 'lan'],
          })
          ids.push(callId)
        } catch (e) {
          error = e
          break
        }
      }
      assert.ok(error instanceof NgRemoteError, `got ${String(error)}`)
      assert.match(error.reason, /no free RTP\/RTCP port pair/)
      const limited = await media.ng.request({
        command: 'offer',
        'call-id': 'full-ll',
        'from-tag': 'a',
        sdp: audioSdp(30_000),
        direction: ['lan', 'lan'],
        supports: ['load limit'],
      })
      assert.equal(limited.result, 'load limit')
      for (const id of ids) await media.ng.delete({ 'call-id': id })
      assert.equal(await metric(media.httpPort, 'sbc_media_ports_in_use'), inUse)
    })

    it('serves /healthz, /readyz and media metrics', async () => {
      const h = await fetch(`http://127.0.0.1:${media.httpPort}/readyz`)
      assert.equal(h.status, 200)
      assert.equal(await metric(media.httpPort, 'sbc_media_ports_capacity', 'realm="lan"'), 200)
      assert.ok((await metric(media.httpPort, 'sbc_media_packets_in_total')) >= 10)
    })
  })
}

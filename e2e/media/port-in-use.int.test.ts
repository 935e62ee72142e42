import { strict as assert } from 'node:assert'
import { createSocket, type Socket } from 'node:dgram'
import { NgRemoteError } from '../../lib/media/control/errors.ts'
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

/**
 * `kube-sbc media` with ports of a tiny realm range held by another socket (ours, plain dgram): the
 * offer steps over the busy ports to a free pair and names it in the SDP, media flows through it;
 * with every pair held the offer gets the allocator's clean exhaustion error; a port set aside is
 * kept out of circulation for the quarantine and tried again once let go. Both relay backends.
 */
for (const workers of ['1', '0']) {
  const backend = workers === '0' ? 'dgram' : 'native (or dgram when not built)'
  describe(`kube-sbc media: ports held by another process (${backend})`, function () {
    this.timeout(60_000)
    const base = portBase(120)
    const tiny = base + 100 // 4 pairs: tiny .. tiny + 7
    const held: Socket[] = []
    const hold = async (port: number): Promise<void> => {
      const s = createSocket('udp4')
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject)
        s.bind(port, '127.0.0.1', () => resolve())
      })
      held.push(s)
    }
    const letGo = () => {
      for (const s of held.splice(0)) s.close()
    }
    const config = mediaConfig([
      { name: 'wide', min: base, max: base + 99 },
      { name: 'tiny', min: tiny, max: tiny + 7 },
    ])
    let media: MediaProcess | undefined
    afterEach(async () => {
      letGo()
      await media?.stop()
      media = undefined
    })

    it('binds the next free pair when ports of the range are taken, and relays through it', async () => {
      media = await startMedia(config, ['--workers', workers, '--port-quarantine-ms', '0'])
      // Pair 0: its RTP port taken; pair 1: its RTCP port; pair 2: both. Pair 3 is the one left.
      for (const p of [tiny, tiny + 3, tiny + 4, tiny + 5]) await hold(p)
      const a = await Peer.open()
      const b = await Peer.open()
      const callId = `busy-${workers}-${Date.now()}`
      const offer = await media.ng.offer({
        'call-id': callId,
        'from-tag': 'a',
        sdp: audioSdp(a.port),
        direction: ['wide', 'tiny'],
        flags: ['full-rtcp-attribute'],
      })
      assert.equal(endpointOf(offer.sdp).port, tiny + 6, 'B is offered the free pair')
      assert.match(offer.sdp, new RegExp(`a=rtcp:${tiny + 7} IN IP4 127\\.0\\.0\\.1`), 'and its RTCP port')
      const answer = await media.ng.answer({
        'call-id': callId,
        'from-tag': 'a',
        'to-tag': 'b',
        sdp: audioSdp(b.port),
      })
      await a.send(rtpPacket(1), endpointOf(answer.sdp).port)
      await b.waitFor(1)
      assert.deepEqual(b.received[0]?.msg, rtpPacket(1))
      await b.send(rtpPacket(2), tiny + 6)
      await a.waitFor(1)
      assert.deepEqual(a.received[0]?.msg, rtpPacket(2))
      await media.ng.delete({ 'call-id': callId })
      // Every pair held: the allocator's exhaustion error, nothing left allocated.
      await hold(tiny + 6)
      await assert.rejects(
        media.ng.offer({
          'call-id': `${callId}-full`,
          'from-tag': 'a',
          sdp: audioSdp(a.port),
          direction: ['wide', 'tiny'],
        }),
        (e: unknown) => e instanceof NgRemoteError && /no free RTP\/RTCP port pair/.test(e.reason),
      )
      const limited = await media.ng.request({
        command: 'offer',
        'call-id': `${callId}-ll`,
        'from-tag': 'a',
        sdp: audioSdp(a.port),
        direction: ['wide', 'tiny'],
        supports: ['load limit'],
      })
      assert.equal(limited.result, 'load limit')
      assert.equal(await metric(media.httpPort, 'sbc_media_ports_in_use'), 0)
      assert.deepEqual((await media.ng.list()).calls, [])
      // Let go (quarantine 0 here): the ports are tried again and bound.
      letGo()
      const again = await media.ng.offer({
        'call-id': `${callId}-again`,
        'from-tag': 'a',
        sdp: audioSdp(a.port),
        direction: ['wide', 'tiny'],
      })
      const port = endpointOf(again.sdp).port
      assert.ok(port >= tiny && port <= tiny + 6 && port % 2 === tiny % 2, `offer port ${port} in tiny`)
      a.close()
      b.close()
    })

    it('steps over busy ports for a single rtcp-mux port too', async () => {
      media = await startMedia(config, ['--workers', workers, '--port-quarantine-ms', '0'])
      for (let p = tiny; p < tiny + 7; p++) await hold(p)
      const offer = await media.ng.offer({
        'call-id': `mux-${workers}`,
        'from-tag': 'a',
        sdp: audioSdp(30_000, { extra: ['a=rtcp-mux'] }),
        direction: ['wide', 'tiny'],
        'rtcp-mux': ['require'],
      })
      assert.equal(endpointOf(offer.sdp).port, tiny + 7, 'the one port left')
      assert.match(offer.sdp, /a=rtcp-mux/)
    })

    it('keeps a port found busy out of circulation for the quarantine', async () => {
      media = await startMedia(config, ['--workers', workers, '--port-quarantine-ms', '600000'])
      const free = () => metric(media?.httpPort ?? 0, 'sbc_media_ports_free', 'realm="tiny"')
      assert.equal(await free(), 8)
      await hold(tiny)
      const offer = await media.ng.offer({
        'call-id': `q-${workers}`,
        'from-tag': 'a',
        sdp: audioSdp(30_000),
        direction: ['wide', 'tiny'],
      })
      const port = endpointOf(offer.sdp).port
      assert.notEqual(port, tiny)
      assert.ok(port > tiny && port <= tiny + 6, `offer port ${port} in tiny`)
      // 2 ports in use by the call, the busy pair (2 ports) set aside: 4 free, not 6.
      assert.equal(await metric(media.httpPort, 'sbc_media_ports_in_use', 'realm="tiny"'), 2)
      assert.equal(await free(), 4)
    })
  })
}

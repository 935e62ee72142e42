import { strict as assert } from 'node:assert'
import {
  audioSdp,
  endpointOf,
  mediaConfig,
  metric,
  Peer,
  portBase,
  rtpPacket,
} from '../../e2e/media/helpers.ts'
import { startLoopbackMediaPod } from '../../e2e/media/start-loopback-media-pod.ts'
import { NgClient } from '../../lib/media/control/ng-client.ts'
import type { MediaPod } from './media-pod.ts'

/**
 * Load-following placement of calls on the native relay's threads (docs/media-pod.md, "Workers"),
 * observed on the wire and in /metrics: with a spill rate of 120 packets/s, a second call spills
 * onto worker 1; once the only call with media (on worker 1) measures 50 packets/s, which one worker
 * carries, worker 1 hands its calls back to worker 0 while RTP flows, and no packet is lost.
 * Loopback only; the RTP loop is bounded (at most 500 packets).
 */
describe('media pod: calls follow the load across relay workers', function () {
  this.timeout(30_000)
  let pod: MediaPod
  let ng: NgClient
  const peers: Peer[] = []

  before(async () => {
    const base = portBase(100)
    pod = await startLoopbackMediaPod({
      config: mediaConfig([{ name: 'lan', min: base, max: base + 99 }]),
      podId: 'media-workers-test',
      workers: 2,
      workerSpillPps: 120,
    })
    assert.equal(pod.relay, 'native', 'the media addon is built (node media-pod/native/build.ts)')
    ng = await NgClient.connect({ host: '127.0.0.1', port: pod.ngAddress.port, retransmitMs: 200 })
  })
  after(async () => {
    for (const p of peers) p.close()
    await ng?.close()
    await pod?.close()
  })

  const legs = (w: number) => metric(pod.httpPort, 'sbc_media_worker_legs', `worker="${w}"`)
  const packets = (w: number) => metric(pod.httpPort, 'sbc_media_worker_packets_total', `worker="${w}"`)

  it('spills the second call onto worker 1 and brings it back when one worker carries the load', async () => {
    const calls: { a: Peer; b: Peer; toA: number }[] = []
    for (let i = 0; i < 3; i++) {
      const a = await Peer.open()
      const b = await Peer.open()
      peers.push(a, b)
      await ng.offer({ 'call-id': `w-${i}`, 'from-tag': 'ta', sdp: audioSdp(a.port) })
      const answer = await ng.answer({
        'call-id': `w-${i}`,
        'from-tag': 'ta',
        'to-tag': 'tb',
        sdp: audioSdp(b.port),
      })
      // What A sends to: the relay's address in the answer A gets.
      calls.push({ a, b, toA: endpointOf(answer.sdp).port })
    }
    // Call 1 fits worker 0 (100 ≤ 120 packets/s); call 2 needs a second worker; call 3 goes to the
    // less loaded of the two (a tie: worker 0). 4 legs per call (RTP and RTCP of each party).
    assert.deepEqual([await legs(0), await legs(1)], [8, 4])
    assert.equal(await metric(pod.httpPort, 'sbc_media_workers_active'), 2)

    const { a, b, toA } = calls[1] as (typeof calls)[1]
    let seq = 0
    let movedAt = -1
    // 50 packets/s from A on call 2 until its legs have moved to worker 0, then 25 more.
    while (seq < 500 && (movedAt < 0 || seq < movedAt + 25)) {
      await a.send(rtpPacket(seq++), toA)
      await new Promise((r) => setTimeout(r, 20))
      if (movedAt < 0 && seq % 10 === 0 && (await legs(1)) === 0) movedAt = seq
    }
    assert.ok(movedAt > 0, 'worker 1 handed its calls back')
    await b.waitFor(seq)
    assert.equal(b.received.length, seq, 'every packet arrived, before, during and after the move')
    assert.deepEqual(
      b.received.map((r) => r.msg.readUInt16BE(2)),
      Array.from({ length: seq }, (_, i) => i),
      'in order',
    )
    assert.deepEqual([await legs(0), await legs(1)], [12, 0])
    assert.equal(await metric(pod.httpPort, 'sbc_media_workers_active'), 1)
    // Worker 1 carried the call until the move, worker 0 after it (at least the 25 sent after it).
    const [p0, p1] = [await packets(0), await packets(1)]
    assert.ok(p1 > 0 && p0 >= 25, `packets per worker: ${p0}, ${p1}`)
    assert.equal(p0 + p1, seq)
  })
})

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
import type { MediaTimeoutNotice } from '../../lib/media/control/media-timeout.ts'
import { NgClient } from '../../lib/media/control/ng-client.ts'
import type { MediaPod, MediaPodOptions } from './media-pod.ts'
import type { MediaTimeoutEvent } from './ng-handler.ts'

/**
 * The hold timeout (rtpengine's `--silent-timeout`, Asterisk's `rtp_timeout_hold`): a call on hold —
 * some stream of some party last declared `sendonly`, `recvonly` or `inactive`, or `c=0.0.0.0` — may
 * carry nothing for as long as users hold calls (the holder may send music or nothing at all), so the
 * media timeout does not apply to it; when its BYE is lost it would hold its ports and its place in
 * maxSessions for good. Every party of it is timed out after `holdTimeoutMs` from its last packet or
 * the call's last signal, independently of `mediaTimeoutMs`; a session refresh keeps it, a resume
 * hands it back to the media timeout, and a disabled section (a dropped video) is no hold. Media pods
 * in this process (native relay when built, and the dgram relay), our NG client over UDP, bare UDP
 * sockets as the parties, loopback only.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Polls `cond` every 20 ms; fails with `what` after `ms` (the pod checks once a second). */
async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

/** `sdp` with its direction `dir` and, when given, its connection address `address`. */
const withDir = (sdp: string, dir: string, address?: string) => {
  const s = sdp.replace('a=sendrecv', `a=${dir}`)
  return address ? s.replaceAll('IN IP4 127.0.0.1', `IN IP4 ${address}`) : s
}

/**
 * An audio and a video section; the video's port 0 when `videoPort` is 0; audio direction `dir`,
 * video direction `videoDir`.
 */
const avSdp = (audioPort: number, videoPort: number, dir = 'sendrecv', videoDir = 'sendrecv') =>
  withDir(audioSdp(audioPort, { codecs: '0' }), dir).replace(
    /(a=\w+)\r\n$/,
    ['$1', `m=video ${videoPort} RTP/AVP 96`, 'a=rtpmap:96 H264/90000', `a=${videoDir}`, ''].join('\r\n'),
  )

/** A media pod under test with what its hooks reported. */
interface TestPod {
  pod: MediaPod
  ng: NgClient
  streams: MediaTimeoutEvent[]
  notices: MediaTimeoutNotice[]
}

for (const workers of [1, 0]) {
  describe(`media pod: hold timeout (workers ${workers})`, function () {
    this.timeout(60_000)
    const pods: TestPod[] = []
    const peers: Peer[] = []
    /** hold 1 s; the media timeout at its default (60 s), far beyond these tests. */
    let short: TestPod
    /** Everything at its default: hold 3,600 s. */
    let dflt: TestPod
    /** media timeout 1 s; the hold timeout at its default (3,600 s), far beyond these tests. */
    let quick: TestPod
    /** `--media-timeout 0 --hold-timeout 1`. */
    let noMedia: TestPod
    /** `--hold-timeout 0` (and the default media timeout). */
    let noHold: TestPod

    const start = async (name: string, o: Partial<MediaPodOptions>): Promise<TestPod> => {
      const base = portBase(40)
      const streams: MediaTimeoutEvent[] = []
      const notices: MediaTimeoutNotice[] = []
      const pod = await startLoopbackMediaPod({
        config: mediaConfig([{ name: 'lan', min: base, max: base + 39, maxSessions: 100 }]),
        podId: `hold-${name}-${workers}`,
        workers,
        onMediaTimeout: (e) => streams.push(e),
        onTimeout: (n) => notices.push(n),
        ...o,
      })
      const ng = await NgClient.connect({ host: '127.0.0.1', port: pod.ngAddress.port, retransmitMs: 200 })
      const t = { pod, ng, streams, notices }
      pods.push(t)
      return t
    }
    const peer = async () => {
      const p = await Peer.open()
      peers.push(p)
      return p
    }
    const reported = (t: TestPod, callId: string) => t.streams.filter((e) => e.callId === callId)

    /** Offer from A (tag ta), answer from B (tag tb); returns the relay ports toward A and B. */
    const exchange = async (t: TestPod, callId: string, aSdp: string, bSdp: string) => {
      const o = await t.ng.offer({ 'call-id': callId, 'from-tag': 'ta', 'to-tag': 'tb', sdp: aSdp })
      const r = await t.ng.answer({ 'call-id': callId, 'from-tag': 'ta', 'to-tag': 'tb', sdp: bSdp })
      return { toB: endpointOf(o.sdp).port, toA: endpointOf(r.sdp).port }
    }

    /**
     * A call answered with media both ways, then put on hold: `a=inactive` both ways, `c=0.0.0.0`
     * (RFC 2543) from A and `a=recvonly` from B, or `a=sendonly` from A (a hold without music) and
     * `a=recvonly` from B. Nothing is sent after the hold.
     */
    const heldCall = async (
      t: TestPod,
      callId: string,
      how: 'inactive' | '0.0.0.0' | 'sendonly' = 'inactive',
    ) => {
      const a = await peer()
      const b = await peer()
      const { toA, toB } = await exchange(
        t,
        callId,
        audioSdp(a.port, { codecs: '0' }),
        audioSdp(b.port, { codecs: '0' }),
      )
      await a.send(rtpPacket(1, 0, 0xaaaa), toA)
      await b.send(rtpPacket(1, 0, 0xbbbb), toB)
      await a.waitFor(1)
      await b.waitFor(1)
      if (how === 'inactive')
        await exchange(
          t,
          callId,
          withDir(audioSdp(a.port, { codecs: '0' }), 'inactive'),
          withDir(audioSdp(b.port, { codecs: '0' }), 'inactive'),
        )
      else
        await exchange(
          t,
          callId,
          how === 'sendonly'
            ? withDir(audioSdp(a.port, { codecs: '0' }), 'sendonly')
            : withDir(audioSdp(a.port, { codecs: '0' }), 'sendrecv', '0.0.0.0'),
          withDir(audioSdp(b.port, { codecs: '0' }), 'recvonly'),
        )
      return { a, b }
    }

    before(async () => {
      short = await start('short', { holdTimeoutMs: 1_000 })
      dflt = await start('default', {})
      quick = await start('quick', { mediaTimeoutMs: 1_000 })
      noMedia = await start('nomedia', { mediaTimeoutMs: 0, holdTimeoutMs: 1_000 })
      noHold = await start('nohold', { holdTimeoutMs: 0 })
    })
    after(async () => {
      for (const p of peers) p.close()
      for (const t of pods) {
        await t.ng.close()
        await t.pod.close()
      }
    })

    for (const how of ['inactive', '0.0.0.0'] as const) {
      it(`reports a call both parties hold (${how}) after a 1-s hold timeout, and not with the default of an hour`, async () => {
        const callId = `held-${how}-${workers}`
        // The default pod's call is held first: it is never held for less time than the other.
        await heldCall(dflt, callId, how)
        const before = await metric(short.pod.httpPort, 'sbc_media_timeouts_total')
        await heldCall(short, callId, how)
        await until(() => reported(short, callId).length === 2, 'both held parties timed out')
        assert.deepEqual(
          reported(short, callId)
            .map((e) => `${e.tag} ${e.hold}`)
            .sort(),
          ['ta true', 'tb true'],
          'each party once, as a hold timeout',
        )
        assert.equal((await short.ng.query({ 'call-id': callId }))['media timeout'], 1)
        assert.deepEqual(
          short.notices.filter((n) => n.callId === callId).map((n) => n.hold),
          [true],
          'signalling told once, of a hold timeout',
        )
        assert.equal(await metric(short.pod.httpPort, 'sbc_media_timeouts_total'), before + 2)
        // Two more checks of the default pod, whose call is held longer: nothing.
        await sleep(2_500)
        assert.deepEqual(reported(dflt, callId), [], 'the default hold timeout is an hour')
        assert.equal((await dflt.ng.query({ 'call-id': callId }))['media timeout'], 0)
        await short.ng.delete({ 'call-id': callId, 'from-tag': 'ta' })
        await dflt.ng.delete({ 'call-id': callId, 'from-tag': 'ta' })
      })
    }

    it('with --media-timeout 0 still times out a held call; with --hold-timeout 0 leaves it alone', async () => {
      const callId = `indep-${workers}`
      await heldCall(noHold, callId)
      await heldCall(noMedia, callId)
      await until(
        () => reported(noMedia, callId).length === 2,
        'both held parties timed out (media timeout 0)',
      )
      assert.equal((await noMedia.ng.query({ 'call-id': callId }))['media timeout'], 1)
      assert.deepEqual(
        noMedia.notices.filter((n) => n.callId === callId).map((n) => n.hold),
        [true],
      )
      await sleep(2_500)
      assert.deepEqual(reported(noHold, callId), [], 'hold timeout 0: a held call is never timed out')
      assert.equal((await noHold.ng.query({ 'call-id': callId }))['media timeout'], 0)
      await noMedia.ng.delete({ 'call-id': callId, 'from-tag': 'ta' })
      await noHold.ng.delete({ 'call-id': callId, 'from-tag': 'ta' })
    })

    it('does not time out a held call whose signalling refreshes it (the same SDP), and does once that stops', async () => {
      const callId = `refresh-${workers}`
      const { a, b } = await heldCall(short, callId)
      // The same held offer and answer every 300 ms for three hold timeouts (RFC 4028 refreshes).
      const end = Date.now() + 3_000
      while (Date.now() < end) {
        await exchange(
          short,
          callId,
          withDir(audioSdp(a.port, { codecs: '0' }), 'inactive'),
          withDir(audioSdp(b.port, { codecs: '0' }), 'inactive'),
        )
        await sleep(300)
      }
      assert.deepEqual(reported(short, callId), [], 'refreshed: signalling still knows the call')
      // The refreshes stop (the BYE was lost): reported.
      await until(() => reported(short, callId).length === 2, 'the held call timed out once unrefreshed')
      await short.ng.delete({ 'call-id': callId, 'from-tag': 'ta' })
    })

    it('times a party that holds with sendonly and sends nothing (answered recvonly) by the hold timeout, not the media timeout; resumed, by the media timeout again', async () => {
      const callId = `sendonly-${workers}`
      // The quick pod's call is held first: it is never held for less time than the other.
      const { a, b } = await heldCall(quick, callId, 'sendonly')
      await heldCall(short, callId, 'sendonly')
      await until(() => reported(short, callId).length === 2, 'both parties timed out on hold')
      assert.deepEqual(
        reported(short, callId)
          .map((e) => `${e.tag} ${e.hold}`)
          .sort(),
        ['ta true', 'tb true'],
        'the silent holder and the held party, each once, as a hold timeout',
      )
      assert.deepEqual(
        short.notices.filter((n) => n.callId === callId).map((n) => n.hold),
        [true],
        'signalling told once, of a hold timeout',
      )
      // Three more checks of the quick pod: held for over four of its media timeouts, nothing.
      await sleep(3_000)
      assert.deepEqual(reported(quick, callId), [], 'a held call is not ended by the media timeout')
      assert.equal((await quick.ng.query({ 'call-id': callId }))['media timeout'], 0)
      // Resumed both ways, and still nobody sends: the media timeout's again.
      await exchange(quick, callId, audioSdp(a.port, { codecs: '0' }), audioSdp(b.port, { codecs: '0' }))
      await until(() => reported(quick, callId).length === 2, 'both parties timed out after the resume')
      assert.deepEqual(
        reported(quick, callId)
          .map((e) => `${e.tag} ${e.hold}`)
          .sort(),
        ['ta false', 'tb false'],
        'a media timeout, not a hold timeout',
      )
      assert.deepEqual(
        quick.notices.filter((n) => n.callId === callId).map((n) => n.hold),
        [undefined],
        'signalling told once, of a media timeout',
      )
      assert.equal((await quick.ng.query({ 'call-id': callId }))['media timeout'], 1)
      await short.ng.delete({ 'call-id': callId, 'from-tag': 'ta' })
      await quick.ng.delete({ 'call-id': callId, 'from-tag': 'ta' })
    })

    it('a hold the other party refused (re-offer withdrawn, RFC 3264 §8) leaves the call to the media timeout', async () => {
      const callId = `refused-hold-${workers}`
      const a = await peer()
      const b = await peer()
      await exchange(quick, callId, audioSdp(a.port, { codecs: '0' }), audioSdp(b.port, { codecs: '0' }))
      // A offers to hold; B refuses it (488): the session is as it was, sendrecv both ways.
      await quick.ng.offer({
        'call-id': callId,
        'from-tag': 'ta',
        'to-tag': 'tb',
        sdp: withDir(audioSdp(a.port, { codecs: '0' }), 'sendonly'),
      })
      await quick.ng.withdrawOffer({ 'call-id': callId, 'from-tag': 'ta' })
      // Nobody sends: a call off hold, so the media timeout reports it.
      await until(() => reported(quick, callId).length === 2, 'both parties timed out')
      assert.deepEqual(
        reported(quick, callId)
          .map((e) => `${e.tag} ${e.hold}`)
          .sort(),
        ['ta false', 'tb false'],
        'media timeouts: the refused offer did not put the call on hold',
      )
      await quick.ng.delete({ 'call-id': callId, 'from-tag': 'ta' })
    })

    it('times a hold with music (sendonly party sending) by the hold timeout: nothing while the music flows, both parties once it stopped for the hold timeout', async () => {
      const callId = `moh-${workers}`
      const calls = []
      for (const t of [quick, short]) {
        const a = await peer()
        const b = await peer()
        await exchange(t, callId, audioSdp(a.port, { codecs: '0' }), audioSdp(b.port, { codecs: '0' }))
        const { toA } = await exchange(
          t,
          callId,
          withDir(audioSdp(a.port, { codecs: '0' }), 'sendonly'),
          withDir(audioSdp(b.port, { codecs: '0' }), 'recvonly'),
        )
        calls.push({ a, b, toA })
      }
      // A plays music on hold for three media timeouts of the quick pod and three hold timeouts of
      // the short one; B, on hold, sends nothing all along.
      for (let seq = 1; seq <= 30; seq++) {
        for (const { a, toA } of calls) await a.send(rtpPacket(seq, 0, 0xaaaa), toA)
        await sleep(100)
      }
      for (const { b } of calls) assert.ok(b.received.length > 0, 'the music reaches B')
      assert.deepEqual(reported(quick, callId), [], 'on hold: the media timeout does not apply')
      assert.deepEqual(reported(short, callId), [], 'the music keeps the held call alive, B silent or not')
      // The music stops: one hold timeout later the call is dead, both parties reported.
      await until(() => reported(short, callId).length === 2, 'the hold timeout once the music stopped')
      assert.deepEqual(
        reported(short, callId)
          .map((e) => `${e.tag} ${e.hold}`)
          .sort(),
        ['ta true', 'tb true'],
      )
      assert.deepEqual(reported(quick, callId), [], 'and still no media timeout')
      await quick.ng.delete({ 'call-id': callId, 'from-tag': 'ta' })
      await short.ng.delete({ 'call-id': callId, 'from-tag': 'ta' })
    })

    it('times each media section by its own state: held audio by the hold timeout, sendrecv video beside it by the media timeout', async () => {
      const callId = `audio-held-${workers}`
      for (const t of [quick, short]) {
        const a = await peer()
        const b = await peer()
        await exchange(t, callId, avSdp(a.port, a.port + 2), avSdp(b.port, b.port + 2))
        // A holds the audio; the video stays sendrecv both ways. Nobody sends anything.
        await exchange(
          t,
          callId,
          avSdp(a.port, a.port + 2, 'sendonly'),
          avSdp(b.port, b.port + 2, 'recvonly'),
        )
      }
      const streams = (t: TestPod) =>
        reported(t, callId)
          .map((e) => `${e.tag} ${e.mediaIndex} ${e.hold}`)
          .sort()
      await until(() => reported(short, callId).length === 2, 'the held audio timed out on hold')
      await until(() => reported(quick, callId).length === 2, 'the silent sendrecv video timed out')
      await sleep(2_500)
      assert.deepEqual(
        streams(short),
        ['ta 0 true', 'tb 0 true'],
        'the held audio section, by the hold timeout',
      )
      assert.deepEqual(
        streams(quick),
        ['ta 1 false', 'tb 1 false'],
        'the video, by the media timeout; not the audio',
      )
      await quick.ng.delete({ 'call-id': callId, 'from-tag': 'ta' })
      await short.ng.delete({ 'call-id': callId, 'from-tag': 'ta' })
    })

    it('a video only received (recvonly: no camera) does not exempt the audio from the media timeout', async () => {
      const callId = `no-camera-${workers}`
      const a = await peer()
      const b = await peer()
      // A has no camera: its video is recvonly, B's answer sendonly. Then nothing is sent at all.
      await exchange(
        quick,
        callId,
        avSdp(a.port, a.port + 2, 'sendrecv', 'recvonly'),
        avSdp(b.port, b.port + 2, 'sendrecv', 'sendonly'),
      )
      await until(() => reported(quick, callId).length === 2, 'the dead audio timed out')
      await sleep(2_500)
      assert.deepEqual(
        reported(quick, callId)
          .map((e) => `${e.tag} ${e.mediaIndex} ${e.hold}`)
          .sort(),
        ['ta 0 false', 'tb 0 false'],
        'the audio by the media timeout; the one-way video, a held section, by the hold timeout (an hour)',
      )
      await quick.ng.delete({ 'call-id': callId, 'from-tag': 'ta' })
    })

    it('does not hold a call whose held video was then dropped (port 0): audio flows, nothing reported', async () => {
      const callId = `video-held-dropped-${workers}`
      const a = await peer()
      const b = await peer()
      await exchange(short, callId, avSdp(a.port, a.port + 2), avSdp(b.port, b.port + 2))
      // A holds the video, then the call drops it; the audio, sendrecv throughout, flows.
      await exchange(
        short,
        callId,
        avSdp(a.port, a.port + 2, 'sendrecv', 'sendonly'),
        avSdp(b.port, b.port + 2, 'sendrecv', 'recvonly'),
      )
      const { toA, toB } = await exchange(short, callId, avSdp(a.port, 0), avSdp(b.port, 0))
      for (let seq = 1; seq <= 30; seq++) {
        await a.send(rtpPacket(seq, 0, 0xaaaa), toA)
        await b.send(rtpPacket(seq, 0, 0xbbbb), toB)
        await sleep(100)
      }
      assert.ok(a.received.length > 0 && b.received.length > 0, 'audio is relayed')
      assert.deepEqual(reported(short, callId), [], 'a disabled section is no hold, whatever it said before')
      await short.ng.delete({ 'call-id': callId, 'from-tag': 'ta' })
    })

    it('does not time out a video section the call dropped while audio flows; does once the audio is held too', async () => {
      const callId = `novideo-${workers}`
      const calls = []
      for (const t of [quick, short]) {
        const a = await peer()
        const b = await peer()
        await exchange(t, callId, avSdp(a.port, a.port + 2), avSdp(b.port, b.port + 2))
        // The call drops video (port 0 both ways, RFC 3264 §8.2).
        const { toA, toB } = await exchange(t, callId, avSdp(a.port, 0), avSdp(b.port, 0))
        calls.push({ a, b, toA, toB })
      }
      // Audio flows for three media timeouts of the quick pod, three hold timeouts of the short one.
      for (let seq = 1; seq <= 30; seq++) {
        for (const { a, b, toA, toB } of calls) {
          await a.send(rtpPacket(seq, 0, 0xaaaa), toA)
          await b.send(rtpPacket(seq, 0, 0xbbbb), toB)
        }
        await sleep(100)
      }
      for (const { a, b } of calls)
        assert.ok(a.received.length > 0 && b.received.length > 0, 'audio is relayed')
      assert.deepEqual(reported(quick, callId), [], 'the disabled video is no media timeout')
      assert.deepEqual(reported(short, callId), [], 'nor a hold: it carries nothing by agreement')
      // Both parties hold the audio: nothing is to flow on the call any more.
      const { a, b } = calls[1]!
      await exchange(short, callId, avSdp(a.port, 0, 'inactive'), avSdp(b.port, 0, 'inactive'))
      await until(
        () => reported(short, callId).some((e) => e.mediaIndex === 0 && e.hold),
        'the held audio timed out',
      )
      assert.equal((await short.ng.query({ 'call-id': callId }))['media timeout'], 1)
      await quick.ng.delete({ 'call-id': callId, 'from-tag': 'ta' })
      await short.ng.delete({ 'call-id': callId, 'from-tag': 'ta' })
    })
  })
}

import { strict as assert } from 'node:assert'
import { createSocket, type Socket } from 'node:dgram'
import { mediaConfig, portBase } from '../../e2e/media/helpers.ts'
import { startLoopbackMediaPod } from '../../e2e/media/start-loopback-media-pod.ts'
import { NgClient } from '../../lib/media/control/ng-client.ts'
import type { MediaPod } from './media-pod.ts'

/**
 * SDP a peer may legally send that the relay carries only in part: each is either answered with
 * what we do carry, or refused at the offer (an NG error: the B2BUA's 488 before the callee is
 * offered), never an answer that fails after the callee rang. A media pod in this process on
 * loopback, a real NG client over UDP, RTP between bare UDP sockets; both relays.
 */

const config = (min: number, max: number) => mediaConfig([{ name: 'lan', min, max, maxSessions: 100 }])

const sdp = (mLine: string, rtpmaps: string[] = ['a=rtpmap:0 PCMU/8000']) =>
  ['v=0', 'o=peer 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', mLine, ...rtpmaps, ''].join(
    '\r\n',
  )

const rtp = (seq: number, pt = 0) => {
  const p = Buffer.alloc(172)
  p[0] = 0x80
  p[1] = pt
  p.writeUInt16BE(seq, 2)
  p.writeUInt32BE(seq * 160, 4)
  p.writeUInt32BE(0x5ed9e, 8)
  return p
}

class Peer {
  readonly socket: Socket
  port = 0
  readonly received: Buffer[] = []
  private constructor(s: Socket) {
    this.socket = s
    s.on('message', (m) => this.received.push(m))
  }
  static async open(port = 0): Promise<Peer> {
    const s = createSocket('udp4')
    await new Promise<void>((ok, fail) => {
      s.once('error', fail)
      s.bind(port, '127.0.0.1', () => ok())
    })
    const p = new Peer(s)
    p.port = s.address().port
    return p
  }
  send(msg: Buffer, port: number): Promise<void> {
    return new Promise((ok, fail) => this.socket.send(msg, port, '127.0.0.1', (e) => (e ? fail(e) : ok())))
  }
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

const mLine = (text: string) => /^m=.*$/m.exec(text)?.[0] ?? ''
const portOf = (text: string) => Number(/^m=\S+ (\d+)/m.exec(text)?.[1])

for (const workers of [1, 0]) {
  describe(`media pod: SDP the relay carries in part (workers ${workers})`, function () {
    this.timeout(30_000)
    let pod: MediaPod
    let ng: NgClient
    const peers: Peer[] = []
    const open = async (port = 0) => {
      const p = await Peer.open(port)
      peers.push(p)
      return p
    }

    /** Offer from A, answer from B; RTP one packet each way; returns the SDPs A's and B's sides got. */
    async function call(callId: string, offerSdp: string, answerSdp: string, a: Peer, b: Peer) {
      const offer = await ng.offer({ 'call-id': callId, 'from-tag': 'ta', sdp: offerSdp })
      const answer = await ng.answer({ 'call-id': callId, 'from-tag': 'ta', 'to-tag': 'tb', sdp: answerSdp })
      await a.send(rtp(1), portOf(answer.sdp))
      await until(() => b.received.length === 1, "A's RTP at B")
      await b.send(rtp(2), portOf(offer.sdp))
      await until(() => a.received.length === 1, "B's RTP at A")
      assert.equal(b.received[0]?.readUInt16BE(2), 1)
      assert.equal(a.received[0]?.readUInt16BE(2), 2)
      await ng.delete({ 'call-id': callId, 'from-tag': 'ta' })
      a.received.length = 0
      b.received.length = 0
      return { offer, answer }
    }

    before(async () => {
      const base = portBase(100)
      pod = await startLoopbackMediaPod({
        config: config(base, base + 99),
        podId: `sdp-edges-${workers}`,
        workers,
      })
      ng = await NgClient.connect({ host: '127.0.0.1', port: pod.ngAddress.port, retransmitMs: 200 })
    })
    after(async () => {
      for (const p of peers) p.socket.close()
      await ng?.close()
      await pod?.close()
    })

    it('answers a port count (RFC 8866 §5.14) with one port of ours, each way, and relays the first', async () => {
      const a = await open()
      const b = await open()
      const { offer, answer } = await call(
        `count-${workers}`,
        sdp(`m=audio ${a.port}/2 RTP/AVP 0`),
        sdp(`m=audio ${b.port}/2 RTP/AVP 0`),
        a,
        b,
      )
      assert.match(mLine(offer.sdp), /^m=audio \d+ RTP\/AVP 0$/, 'toward B: our one port')
      assert.match(mLine(answer.sdp), /^m=audio \d+ RTP\/AVP 0$/, 'toward A: our one port')
    })

    it("with ICE forced, passes on none of a party's session-level ICE attributes (credentials, options)", async () => {
      const a = await open()
      const b = await open()
      // The parties' ufrags are not hex, as ours are (randomBytes): ours can never contain them.
      const withIce = (port: number, ufrag: string) =>
        sdp(`m=audio ${port} RTP/AVP 0`).replace(
          't=0 0\r\n',
          `t=0 0\r\na=ice-ufrag:${ufrag}\r\na=ice-pwd:${ufrag}-password-of-the-party\r\na=ice-options:trickle\r\n`,
        )
      const offer = await ng.offer({
        'call-id': `ice-session-${workers}`,
        'from-tag': 'ta',
        sdp: withIce(a.port, 'zqpartya'),
        ICE: 'force',
      })
      const answer = await ng.answer({
        'call-id': `ice-session-${workers}`,
        'from-tag': 'ta',
        'to-tag': 'tb',
        sdp: withIce(b.port, 'zqpartyb'),
        ICE: 'force',
      })
      for (const [text, theirs] of [
        [offer.sdp, 'zqpartya'],
        [answer.sdp, 'zqpartyb'],
      ] as const) {
        assert.doesNotMatch(text, new RegExp(theirs), "the other party's credentials do not pass")
        assert.doesNotMatch(text, /a=ice-options/, 'nor its ICE options')
        const session = text.slice(0, text.indexOf('m='))
        assert.doesNotMatch(session, /a=ice-(ufrag|pwd)/, 'ours are in the media section')
        assert.match(text.slice(text.indexOf('m=')), /a=ice-ufrag:\S+\r\na=ice-pwd:\S+/)
      }
      await ng.delete({ 'call-id': `ice-session-${workers}`, 'from-tag': 'ta' })
    })

    it('takes an RTP port of 65535 without a=rtcp (no RTCP port after it), offered or answered', async () => {
      const top = await open(65_535)
      const other = await open()
      // Both relay RTP, where the answer used to fail on RTCP port 65536.
      await call(
        `top-offer-${workers}`,
        sdp('m=audio 65535 RTP/AVP 0'),
        sdp(`m=audio ${other.port} RTP/AVP 0`),
        top,
        other,
      )
      await call(
        `top-answer-${workers}`,
        sdp(`m=audio ${other.port} RTP/AVP 0`),
        sdp('m=audio 65535 RTP/AVP 0'),
        other,
        top,
      )
    })

    it('refuses at the offer a host name or a multicast group where an IP address goes; an answer too', async () => {
      const a = await open()
      for (const [what, lines] of [
        ['c= host name', ['c=IN IP4 pbx.example', 'a=rtpmap:0 PCMU/8000']],
        ['a=rtcp host name', ['a=rtpmap:0 PCMU/8000', `a=rtcp:${a.port + 1} IN IP4 pbx.example`]],
        ['c= multicast', ['c=IN IP4 224.2.1.1/127', 'a=rtpmap:0 PCMU/8000']],
      ] as const) {
        await assert.rejects(
          ng.offer({
            'call-id': `name-${workers}`,
            'from-tag': 'ta',
            sdp: sdp(`m=audio ${a.port} RTP/AVP 0`, [...lines]),
          }),
          /is not a unicast IP address/,
          what,
        )
        assert.equal(pod.handler.sessionCount, 0, `${what}: nothing kept of the refused offer`)
      }
      // An answerer's host name: an error reply to the answer (not the relay's).
      await ng.offer({
        'call-id': `name-${workers}`,
        'from-tag': 'ta',
        sdp: sdp(`m=audio ${a.port} RTP/AVP 0`),
      })
      await assert.rejects(
        ng.answer({
          'call-id': `name-${workers}`,
          'from-tag': 'ta',
          'to-tag': 'tb',
          sdp: sdp('m=audio 5000 RTP/AVP 0', ['c=IN IP4 pbx.example', 'a=rtpmap:0 PCMU/8000']),
        }),
        /is not a unicast IP address/,
      )
      await ng.delete({ 'call-id': `name-${workers}`, 'from-tag': 'ta' })
    })

    it('leaves out codecs clocked above 192 kHz, and refuses an offer of nothing else at once', async () => {
      const a = await open()
      const b = await open()
      const fast = ['a=rtpmap:96 L16/384000', 'a=fmtp:96 channels=1', 'a=rtpmap:0 PCMU/8000']
      const offered = await ng.offer({
        'call-id': `fast-${workers}`,
        'from-tag': 'ta',
        sdp: sdp(`m=audio ${a.port} RTP/AVP 96 0`, fast),
      })
      assert.match(mLine(offered.sdp), /^m=audio \d+ RTP\/AVP 0$/)
      assert.doesNotMatch(offered.sdp, /:96 /)
      assert.match(String(offered.warning), /above 192000 Hz removed \(96 L16\/384000\)/)
      await ng.delete({ 'call-id': `fast-${workers}`, 'from-tag': 'ta' })
      await call(
        `fast-${workers}`,
        sdp(`m=audio ${a.port} RTP/AVP 96 0`, fast),
        sdp(`m=audio ${b.port} RTP/AVP 0`),
        a,
        b,
      )

      const only = sdp(`m=audio ${a.port} RTP/AVP 96`, ['a=rtpmap:96 L16/384000'])
      await assert.rejects(
        ng.offer({ 'call-id': `fast-only-${workers}`, 'from-tag': 'ta', sdp: only }),
        /192000 Hz/,
      )
      assert.equal(pod.handler.sessionCount, 0, 'nothing kept of the refused offer')
    })
  })
}

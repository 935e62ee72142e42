import { strict as assert } from 'node:assert'
import { randomBytes } from 'node:crypto'
import { createSocket, type Socket } from 'node:dgram'
import { mediaConfig, portBase } from '../../e2e/media/helpers.ts'
import { startLoopbackMediaPod } from '../../e2e/media/start-loopback-media-pod.ts'
import { NgClient } from '../../lib/media/control/ng-client.ts'
import {
  attribute,
  buildStun,
  decodeXorAddress,
  parseStun,
  StunAttr,
  StunType,
  verifyFingerprint,
  verifyIntegrity,
} from '../../lib/media/stun/stun.ts'
import type { MediaPod } from './media-pod.ts'

/**
 * ICE-lite on a relay port (RFC 8445 §2.5, §7.3): a media pod in this process on loopback, driven
 * over NG with `ICE: force` + `ICE-lite` as MediaAnchor sends for a profile with `iceLite: true`.
 * A full-ICE peer's Binding request with our ufrag/pwd gets a success response (XOR-MAPPED-ADDRESS
 * of its source, MESSAGE-INTEGRITY with our pwd, FINGERPRINT); a wrong password gets a 401 and no
 * success; USE-CANDIDATE latches the checking socket, and the other party's RTP then goes there.
 * Both with the native worker (which answers the checks itself, media-pod/native/src/stun.c) and
 * without it (the dgram relay).
 */

const config = (min: number, max: number) => mediaConfig([{ name: 'lan', min, max, maxSessions: 100 }])

const sdp = (port: number) =>
  [
    'v=0',
    'o=peer 1 1 IN IP4 127.0.0.1',
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${port} RTP/AVP 0`,
    'a=rtpmap:0 PCMU/8000',
    'a=rtcp-mux',
    'a=sendrecv',
    '',
  ].join('\r\n')

/** A full ICE agent's SDP: its own credentials (RFC 8839 §5.4) and a host candidate. */
const iceSdp = (port: number, ufrag: string, pwd: string) =>
  sdp(port).replace(
    'a=sendrecv\r\n',
    `a=sendrecv\r\na=ice-ufrag:${ufrag}\r\na=ice-pwd:${pwd}\r\na=candidate:1 1 UDP 2130706431 127.0.0.1 ${port} typ host\r\n`,
  )

const rtp = (seq: number) => {
  const p = Buffer.alloc(172)
  p[0] = 0x80
  p.writeUInt16BE(seq, 2)
  p.writeUInt32BE(seq * 160, 4)
  p.writeUInt32BE(0x1ce1, 8)
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
  static async open(): Promise<Peer> {
    const s = createSocket('udp4')
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()))
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

/** A full agent's connectivity check (RFC 8445 §7.2.2): USERNAME, PRIORITY, ICE-CONTROLLING, ... */
function check(tid: Buffer, username: string, pwd: string, nominate: boolean): Buffer {
  const priority = Buffer.alloc(4)
  priority.writeUInt32BE(0x6e0001ff)
  return buildStun(
    StunType.bindingRequest,
    tid,
    [
      { type: StunAttr.username, value: Buffer.from(username) },
      { type: StunAttr.priority, value: priority },
      { type: StunAttr.iceControlling, value: randomBytes(8) },
      ...(nominate ? [{ type: StunAttr.useCandidate, value: Buffer.alloc(0) }] : []),
    ],
    { integrityKey: pwd, fingerprint: true },
  )
}

for (const workers of [1, 0]) {
  describe(`ICE-lite STUN responder on relay ports (workers ${workers})`, function () {
    this.timeout(30_000)
    let pod: MediaPod
    let ng: NgClient
    const peers: Peer[] = []
    const open = async () => {
      const p = await Peer.open()
      peers.push(p)
      return p
    }

    before(async () => {
      const base = portBase(100)
      pod = await startLoopbackMediaPod({
        config: config(base, base + 99),
        podId: `ice-test-${workers}`,
        workers,
      })
      ng = await NgClient.connect({ host: '127.0.0.1', port: pod.ngAddress.port, retransmitMs: 200 })
    })
    after(async () => {
      for (const p of peers) p.socket.close()
      await ng?.close()
      await pod?.close()
    })

    it('answers a valid check, refuses a wrong password, latches the nominated address for RTP', async () => {
      const a = await open() // A's SDP address: never used for checks
      const b = await open()
      const callId = `ice-${workers}-${Date.now()}`
      const ice = { ICE: 'force', 'ICE-lite': 'both' }
      const offer = await ng.offer({ 'call-id': callId, 'from-tag': 'ta', sdp: sdp(a.port), ...ice })
      const answer = await ng.answer({
        'call-id': callId,
        'from-tag': 'ta',
        'to-tag': 'tb',
        sdp: sdp(b.port),
        ...ice,
      })
      const toA = Number(/m=audio (\d+)/.exec(answer.sdp)?.[1])
      const toB = Number(/m=audio (\d+)/.exec(offer.sdp)?.[1])
      assert.match(answer.sdp, /a=ice-lite/)
      const ufrag = /a=ice-ufrag:(\S+)/.exec(answer.sdp)?.[1] as string
      const pwd = /a=ice-pwd:(\S+)/.exec(answer.sdp)?.[1] as string
      assert.ok(ufrag && pwd)

      // A wrong password: a 401 error response (RFC 5389 §10.1.2), never a success.
      const intruder = await open()
      const badTid = randomBytes(12)
      await intruder.send(check(badTid, `${ufrag}:peer`, 'not-the-password', true), toA)
      await until(() => intruder.received.length === 1, 'the error response to the bad check')
      const err = parseStun(intruder.received[0] as Buffer)
      assert.ok(err)
      assert.equal(err.type, StunType.bindingError)
      assert.deepEqual(err.transactionId, badTid)
      const code = attribute(err, StunAttr.errorCode) as Buffer
      assert.equal((code[2] as number) * 100 + (code[3] as number), 401)

      // A valid nominating check from another socket of A (its ICE-selected candidate).
      const selected = await open()
      const tid = randomBytes(12)
      await selected.send(check(tid, `${ufrag}:peer`, pwd, true), toA)
      await until(() => selected.received.length === 1, 'the success response')
      const ok = parseStun(selected.received[0] as Buffer)
      assert.ok(ok)
      assert.equal(ok.type, StunType.bindingSuccess)
      assert.deepEqual(ok.transactionId, tid)
      assert.ok(verifyIntegrity(ok, pwd), 'MESSAGE-INTEGRITY with our ice-pwd')
      assert.ok(ok.fingerprintAt > 0 && verifyFingerprint(ok), 'FINGERPRINT')
      assert.deepEqual(decodeXorAddress(attribute(ok, StunAttr.xorMappedAddress) as Buffer, tid), {
        address: '127.0.0.1',
        port: selected.port,
      })

      // B's RTP goes to the nominated address, not to A's SDP address.
      for (let i = 0; i < 3; i++) await b.send(rtp(i), toB)
      await until(() => selected.received.length === 4, 'RTP at the nominated address')
      assert.deepEqual(
        selected.received.slice(1).map((m) => m.readUInt16BE(2)),
        [0, 1, 2],
      )
      assert.equal(a.received.length, 0)
      assert.equal(intruder.received.length, 1, 'the refused check latched nothing')

      // A re-offer (no ICE restart) naming another default address keeps the selected pair
      // (RFC 8445 §12: media goes to the nominated pair, not to c=/m=).
      const moved = await open()
      await ng.offer({ 'call-id': callId, 'from-tag': 'ta', sdp: sdp(moved.port), ...ice })
      for (let i = 3; i < 5; i++) await b.send(rtp(i), toB)
      await until(() => selected.received.length === 6, 'RTP at the nominated address after the re-offer')
      assert.equal(moved.received.length + a.received.length, 0)

      const q = (await ng.query({ 'call-id': callId })) as unknown as {
        tags: Record<string, { medias: { streams: { relay: string; stats: Record<string, number> }[] }[] }>
      }
      const stream = q.tags.ta?.medias[0]?.streams[0]
      assert.equal(stream?.relay, workers > 0 ? 'native' : 'dgram')
      assert.equal(stream?.stats['ICE checks'], 1)
      assert.equal(stream?.stats['ICE failures'], 1)
      await ng.delete({ 'call-id': callId, 'from-tag': 'ta' })
    })

    /** A call with ICE forced and lite toward both parties; the relay ports A and B send to. */
    const iceCall = async (callId: string, a: { port: number }, b: { port: number }) => {
      const ice = { ICE: 'force', 'ICE-lite': 'both' }
      const offer = await ng.offer({
        'call-id': callId,
        'from-tag': 'ta',
        sdp: iceSdp(a.port, 'aaaa', 'a-password-of-22-chars'),
        ...ice,
      })
      const answer = await ng.answer({
        'call-id': callId,
        'from-tag': 'ta',
        'to-tag': 'tb',
        sdp: iceSdp(b.port, 'bbbb', 'b-password-of-22-chars'),
        ...ice,
      })
      const toA = Number(/m=audio (\d+)/.exec(answer.sdp)?.[1])
      const toB = Number(/m=audio (\d+)/.exec(offer.sdp)?.[1])
      return { ice, offer, answer, toA, toB }
    }

    it('an ICE restart (new ufrag/pwd in a re-offer) gets new credentials and a new nomination', async () => {
      const a = await open()
      const b = await open()
      const callId = `ice-restart-${workers}-${Date.now()}`
      const { ice, offer, answer, toA, toB } = await iceCall(callId, a, b)
      const creds = (s: string) => ({
        ufrag: /a=ice-ufrag:(\S+)/.exec(s)?.[1] as string,
        pwd: /a=ice-pwd:(\S+)/.exec(s)?.[1] as string,
      })
      const old = creds(answer.sdp)
      const towardB = creds(offer.sdp)
      const selected = await open()
      await selected.send(check(randomBytes(12), `${old.ufrag}:aaaa`, old.pwd, true), toA)
      await until(() => selected.received.length === 1, 'the success response')
      await b.send(rtp(0), toB)
      await until(() => selected.received.length === 2, 'RTP at the nominated address')

      // A restarts ICE (RFC 8445 §9: new ufrag and pwd) from a new default address.
      const moved = await open()
      const reOffer = await ng.offer({
        'call-id': callId,
        'from-tag': 'ta',
        sdp: iceSdp(moved.port, 'cccc', 'c-password-of-22-chars'),
        ...ice,
      })
      const reAnswer = await ng.answer({
        'call-id': callId,
        'from-tag': 'ta',
        'to-tag': 'tb',
        sdp: iceSdp(b.port, 'bbbb', 'b-password-of-22-chars'),
        ...ice,
      })
      // Our side toward A restarts too (RFC 8839 §4.4.3.1.2); B did not restart: its side stays.
      const fresh = creds(reAnswer.sdp)
      assert.notEqual(fresh.ufrag, old.ufrag)
      assert.notEqual(fresh.pwd, old.pwd)
      assert.deepEqual(creds(reOffer.sdp), towardB)

      // The nomination of the old session is gone: B's RTP goes to A's new SDP address.
      await b.send(rtp(1), toB)
      await until(() => moved.received.length === 1, "RTP at A's new SDP address")
      assert.equal(selected.received.length, 2, 'nothing more to the formerly nominated address')

      // The old credentials are refused (401: unknown ufrag), the new ones answered.
      const stale = await open()
      await stale.send(check(randomBytes(12), `${old.ufrag}:cccc`, old.pwd, true), toA)
      await until(() => stale.received.length === 1, 'the answer to the stale check')
      const refused = parseStun(stale.received[0] as Buffer)
      assert.equal(refused?.type, StunType.bindingError)
      const code = attribute(refused as NonNullable<typeof refused>, StunAttr.errorCode) as Buffer
      assert.equal((code[2] as number) * 100 + (code[3] as number), 401)
      const renominated = await open()
      const tid = randomBytes(12)
      await renominated.send(check(tid, `${fresh.ufrag}:cccc`, fresh.pwd, true), toA)
      await until(() => renominated.received.length === 1, 'the success response with the new credentials')
      const ok = parseStun(renominated.received[0] as Buffer)
      assert.equal(ok?.type, StunType.bindingSuccess)
      assert.ok(verifyIntegrity(ok as NonNullable<typeof ok>, fresh.pwd))
      await b.send(rtp(2), toB)
      await until(() => renominated.received.length === 2, 'RTP at the newly nominated address')
      assert.equal(moved.received.length + stale.received.length + selected.received.length, 1 + 1 + 2)

      // The same credentials again (a session refresh) are no restart: ours stay.
      const refresh = await ng.offer({
        'call-id': callId,
        'from-tag': 'ta',
        sdp: iceSdp(moved.port, 'cccc', 'c-password-of-22-chars'),
        ...ice,
      })
      const refreshed = await ng.answer({
        'call-id': callId,
        'from-tag': 'ta',
        'to-tag': 'tb',
        sdp: iceSdp(b.port, 'bbbb', 'b-password-of-22-chars'),
        ...ice,
      })
      assert.deepEqual(creds(refreshed.sdp), fresh)
      assert.deepEqual(creds(refresh.sdp), towardB)
      await b.send(rtp(3), toB)
      await until(() => renominated.received.length === 3, 'RTP still at the nominated address')
      await ng.delete({ 'call-id': callId, 'from-tag': 'ta' })
    })

    it('a re-offer adding a stream, then disabling it, is no ICE restart: credentials and nomination stay', async () => {
      const a = await open()
      const b = await open()
      const callId = `ice-add-stream-${workers}-${Date.now()}`
      const ice = { ICE: 'force', 'ICE-lite': 'both' }
      // The party's credentials at session level (RFC 8839 §5.4): every section shares them.
      const withVideo = (port: number, ufrag: string, pwd: string, videoPort: number) =>
        iceSdp(port, ufrag, pwd)
          .replace('t=0 0\r\n', `t=0 0\r\na=ice-ufrag:${ufrag}\r\na=ice-pwd:${pwd}\r\n`)
          .concat(`m=video ${videoPort} RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\na=rtcp-mux\r\na=sendrecv\r\n`)
      const { answer, toA, toB } = await iceCall(callId, a, b)
      // The audio section's own (media level).
      const ufrag = (s: string) => /a=ice-ufrag:(\S+)/.exec(s.slice(s.indexOf('m=audio')))?.[1]
      const old = {
        ufrag: ufrag(answer.sdp) as string,
        pwd: /a=ice-pwd:(\S+)/.exec(answer.sdp)?.[1] as string,
      }
      const selected = await open()
      await selected.send(check(randomBytes(12), `${old.ufrag}:aaaa`, old.pwd, true), toA)
      await until(() => selected.received.length === 1, 'the success response')

      // A adds video with the same credentials, then disables it (port 0): no restart either time.
      for (const videoPort of [a.port + 2, 0]) {
        await ng.offer({
          'call-id': callId,
          'from-tag': 'ta',
          sdp: withVideo(a.port, 'aaaa', 'a-password-of-22-chars', videoPort),
          ...ice,
        })
        const reAnswer = await ng.answer({
          'call-id': callId,
          'from-tag': 'ta',
          'to-tag': 'tb',
          sdp: withVideo(b.port, 'bbbb', 'b-password-of-22-chars', videoPort === 0 ? 0 : b.port + 2),
          ...ice,
        })
        assert.equal(ufrag(reAnswer.sdp), old.ufrag, `our credentials toward A (video port ${videoPort})`)
      }
      // The nomination stands: B's RTP still goes to the nominated address, not A's SDP address.
      await b.send(rtp(0), toB)
      await until(() => selected.received.length === 2, 'RTP at the nominated address')
      assert.equal(a.received.length, 0)
      await ng.delete({ 'call-id': callId, 'from-tag': 'ta' })
    })

    it('a re-offer and answer that remove ICE end it: no STUN answered, RTP to the SDP address', async () => {
      const a = await open()
      const b = await open()
      const callId = `ice-off-${workers}-${Date.now()}`
      const ice = { ICE: 'force', 'ICE-lite': 'both' }
      const offer = await ng.offer({ 'call-id': callId, 'from-tag': 'ta', sdp: sdp(a.port), ...ice })
      const answer = await ng.answer({
        'call-id': callId,
        'from-tag': 'ta',
        'to-tag': 'tb',
        sdp: sdp(b.port),
        ...ice,
      })
      const toA = Number(/m=audio (\d+)/.exec(answer.sdp)?.[1])
      const toB = Number(/m=audio (\d+)/.exec(offer.sdp)?.[1])
      const ufrag = /a=ice-ufrag:(\S+)/.exec(answer.sdp)?.[1] as string
      const pwd = /a=ice-pwd:(\S+)/.exec(answer.sdp)?.[1] as string
      const selected = await open()
      await selected.send(check(randomBytes(12), `${ufrag}:peer`, pwd, true), toA)
      await until(() => selected.received.length === 1, 'the success response')
      await b.send(rtp(0), toB)
      await until(() => selected.received.length === 2, 'RTP at the nominated address')

      // A re-INVITE without ICE toward either party (rtpengine's ICE=remove, the default).
      const noIce = { ICE: 'remove' }
      // First with A's first SDP address again (the relay had it all along, under the nominated
      // pair), then with a new one.
      for (const port of [a, await open()]) {
        const reOffer = await ng.offer({ 'call-id': callId, 'from-tag': 'ta', sdp: sdp(port.port), ...noIce })
        const reAnswer = await ng.answer({
          'call-id': callId,
          'from-tag': 'ta',
          'to-tag': 'tb',
          sdp: sdp(b.port),
          ...noIce,
        })
        assert.doesNotMatch(reOffer.sdp + reAnswer.sdp, /a=ice-|a=candidate|a=ice-lite/)
        const before = selected.received.length
        // The old credentials no longer get a success (RFC 8445 §7.3: there is no ICE agent).
        await selected.send(check(randomBytes(12), `${ufrag}:peer`, pwd, true), toA)
        for (let i = 1; i < 4; i++) await b.send(rtp(i), toB)
        await until(() => port.received.length >= 3, `RTP at A's SDP address (port ${port.port})`)
        assert.equal(selected.received.length, before, 'nothing to the formerly nominated address')
        for (const m of port.received) assert.ok((m[0] as number) >> 6 === 2, 'RTP only')
        port.received.length = 0
      }
      await ng.delete({ 'call-id': callId, 'from-tag': 'ta' })
    })
  })
}

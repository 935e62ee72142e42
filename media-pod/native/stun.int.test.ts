import assert from 'node:assert/strict'
import { answerIceCheck, type IceLiteVerdict } from '../../lib/media/stun/ice-lite.ts'
import {
  buildStun,
  decodeXorAddress,
  parseStun,
  StunAttr,
  StunType,
  verifyFingerprint,
  verifyIntegrity,
} from '../../lib/media/stun/stun.ts'
import { hex, RFC5769, RFC5769_REQUEST } from '../../test/harness/rfc5769.ts'
import { buildAndLoadMediaAddon } from './build.ts'
import { Latch, type MediaAddon, StunVerdict } from './media-addon.ts'
import { NativeRelay } from './native-relay.ts'
import { check } from './test-packets.ts'
import { testSockets } from './test-sockets.ts'

/* The relay worker's ICE-lite responder (src/stun.c) against the RFC 5769 vectors and against the
 * TypeScript responder (lib/media/stun/ice-lite.ts, the reference): same verdicts and the same answers,
 * octet for octet, on the vectors and on every one-octet corruption and truncation of a request; then
 * on the wire, a leg with ICE credentials answers a check while it relays RTP. Loopback only. */

const FROM = { address: '192.0.2.1', port: 32853 }

const VERDICT: Record<IceLiteVerdict['kind'], StunVerdict[]> = {
  success: [StunVerdict.success],
  error: [StunVerdict.error],
  drop: [StunVerdict.drop, StunVerdict.dropFailed],
}

describe('native ICE-lite responder (src/stun.c)', function () {
  this.timeout(120_000)
  let addon: MediaAddon
  before(() => {
    addon = buildAndLoadMediaAddon()
  })

  /** Asserts the native answer equals the TypeScript one for `packet`. */
  const same = (packet: Buffer, ours: { ufrag: string; pwd: string }, label: string) => {
    const ts = answerIceCheck(packet, FROM, ours)
    const c = addon.stunAnswer(packet, FROM.address, FROM.port, ours.ufrag, ours.pwd)
    assert.ok(VERDICT[ts.kind].includes(c.verdict), `${label}: TS ${ts.kind}, native ${c.verdict}`)
    if (ts.kind === 'drop') assert.equal(c.verdict === StunVerdict.dropFailed, ts.failed, `${label}: failed`)
    if (ts.kind === 'success' || ts.kind === 'error') assert.deepEqual(c.response, ts.response, label)
    if (ts.kind === 'success') assert.equal(c.nominated === 1, ts.nominated, label)
    if (ts.kind === 'error') assert.equal(c.code, ts.code, label)
    return c
  }

  it('answers the RFC 5769 §2.1 request: integrity and fingerprint verify, XOR-MAPPED-ADDRESS is the source', () => {
    const c = same(RFC5769_REQUEST, RFC5769, 'RFC 5769')
    assert.equal(c.verdict, StunVerdict.success)
    const m = parseStun(c.response as Buffer)
    assert.ok(m)
    assert.equal(m.type, StunType.bindingSuccess)
    assert.deepEqual(m.transactionId, RFC5769_REQUEST.subarray(8, 20))
    assert.ok(verifyIntegrity(m, RFC5769.pwd))
    assert.ok(verifyFingerprint(m))
    const xma = m.attributes.find((a) => a.type === StunAttr.xorMappedAddress)?.value
    assert.deepEqual(decodeXorAddress(xma as Buffer, m.transactionId), FROM)
    // RFC 5769 §2.2 encodes this very address for this transaction.
    assert.deepEqual(xma, hex('0001a147e112a643'))
  })

  it('gives 401 for a wrong password or ufrag and 400 without USERNAME or MESSAGE-INTEGRITY, as the TS responder', () => {
    assert.equal(same(RFC5769_REQUEST, { ...RFC5769, pwd: 'VOkJxbRl1RmTxUk/WvJxBT' }, 'pwd').code, 401)
    assert.equal(same(RFC5769_REQUEST, { ...RFC5769, ufrag: 'evt' }, 'ufrag prefix').code, 401)
    assert.equal(same(RFC5769_REQUEST, { ...RFC5769, ufrag: 'evtjx' }, 'ufrag longer').code, 401)
    const ours = { ufrag: 'abcd', pwd: 'a-22-char-ice-password' }
    const tid = Buffer.from('abcdefghijkl')
    const noUser = buildStun(StunType.bindingRequest, tid, [], { integrityKey: ours.pwd, fingerprint: true })
    assert.equal(same(noUser, ours, 'no USERNAME').code, 400)
    const noMi = buildStun(
      StunType.bindingRequest,
      tid,
      [{ type: StunAttr.username, value: Buffer.from('abcd:x') }],
      { fingerprint: true },
    )
    assert.equal(same(noMi, ours, 'no MESSAGE-INTEGRITY').code, 400)
    assert.equal(same(check(ours, { nominate: true }), ours, 'nominating').nominated, 1)
    assert.equal(same(check(ours), ours, 'plain check').nominated, 0)
    // RFC 5389 §15.5: FINGERPRINT is last; an attribute after it makes the message malformed.
    const trailing = Buffer.concat([check(ours), hex('80220004 6b756265')])
    trailing.writeUInt16BE(trailing.length - 20, 2)
    assert.equal(same(trailing, ours, 'attribute after FINGERPRINT').verdict, StunVerdict.dropFailed)
    // An indication (RFC 8445 §11 keepalive) and a response are dropped, not failures.
    const ind = buildStun(StunType.bindingIndication, tid, [], { fingerprint: true })
    assert.equal(same(ind, ours, 'indication').verdict, StunVerdict.drop)
    const resp = buildStun(StunType.bindingSuccess, tid, [], { fingerprint: true })
    assert.equal(same(resp, ours, 'response').verdict, StunVerdict.drop)
  })

  it('agrees with the TS responder on every one-octet corruption and every truncation of a request', () => {
    const ours = { ufrag: 'abcd', pwd: 'a-22-char-ice-password' }
    const base = check(ours, { nominate: true })
    for (let i = 0; i < base.length; i++) {
      for (const x of [0x01, 0x80, 0xff]) {
        const b = Buffer.from(base)
        b[i] = (b[i] as number) ^ x
        same(b, ours, `octet ${i} ^ ${x}`)
      }
    }
    for (let n = 0; n < base.length; n++) same(base.subarray(0, n), ours, `first ${n} octets`)
    // Same for the RFC 5769 request, whose attributes the builder does not produce (SOFTWARE padded with spaces).
    for (let i = 0; i < RFC5769_REQUEST.length; i++) {
      const b = Buffer.from(RFC5769_REQUEST)
      b[i] = (b[i] as number) ^ 0x04
      same(b, RFC5769, `RFC 5769 octet ${i}`)
    }
  })

  it('rejects bad credentials and arguments with a typed error instead of crashing', () => {
    assert.throws(() => addon.stunAnswer(RFC5769_REQUEST, FROM.address, FROM.port, '', 'x'), /ufrag and pwd/)
    assert.throws(
      () => addon.stunAnswer(RFC5769_REQUEST, FROM.address, FROM.port, 'u', 'p'.repeat(257)),
      /ufrag and pwd/,
    )
    assert.throws(() => addon.stunAnswer(RFC5769_REQUEST, '::1::', FROM.port, 'u', 'p'), /IPv4 or IPv6/)
    assert.throws(() => addon.stunAnswer('x' as unknown as Buffer, FROM.address, 1, 'u', 'p'), /Buffer/)
  })

  describe('on the wire', () => {
    const { udp, next, close } = testSockets()
    after(close)

    it('answers a Binding request on an ICE-lite leg while it relays RTP, and USE-CANDIDATE moves the peer', async () => {
      const relay = new NativeRelay(addon)
      const a = relay.bind('127.0.0.1')
      const b = relay.bind('127.0.0.1')
      relay.connect(a, b)
      relay.connect(b, a)
      const peerA = await udp()
      const peerB = await udp()
      const peerB2 = await udp() // B's nominated candidate: another address than its SDP one
      const ours = { ufrag: 'Zx9q', pwd: 'kube-sbc-ice-pwd-0123456789' }
      relay.setPeer(a, null, Latch.once)
      relay.setPeer(b, { address: '127.0.0.1', port: peerB.address().port }, Latch.off)
      relay.setIce(b, ours)
      relay.start()
      const rtp = (seq: number) => {
        const p = Buffer.alloc(172)
        p[0] = 0x80
        p.writeUInt16BE(seq, 2)
        p.writeUInt32BE(0xabc, 8)
        return p
      }
      try {
        peerA.send(rtp(1), a.port, '127.0.0.1')
        assert.deepEqual((await next(peerB))[0], rtp(1))
        // A check from B's other candidate: answered from leg B's port, to its source, verified.
        peerB2.send(check(ours), b.port, '127.0.0.1')
        const [answer, { port: from }] = await next(peerB2)
        assert.equal(from, b.port)
        const m = parseStun(answer)
        assert.ok(m && verifyIntegrity(m, ours.pwd) && verifyFingerprint(m))
        assert.equal(m.type, StunType.bindingSuccess)
        const xma = m.attributes.find((x) => x.type === StunAttr.xorMappedAddress)?.value as Buffer
        assert.deepEqual(decodeXorAddress(xma, m.transactionId), {
          address: '127.0.0.1',
          port: peerB2.address().port,
        })
        // Not nominated: RTP still goes to B's SDP address.
        peerA.send(rtp(2), a.port, '127.0.0.1')
        assert.deepEqual((await next(peerB))[0], rtp(2))
        // A wrong password: 401, counted; nothing relayed to A.
        peerB2.send(check(ours, { pwd: 'not-the-right-password' }), b.port, '127.0.0.1')
        const [err] = await next(peerB2)
        assert.equal(parseStun(err)?.type, StunType.bindingError)
        // The nominating check moves B's peer to the checked address (RFC 8445 §7.3.1.5).
        peerB2.send(check(ours, { nominate: true }), b.port, '127.0.0.1')
        await next(peerB2)
        peerA.send(rtp(3), a.port, '127.0.0.1')
        assert.deepEqual((await next(peerB2))[0], rtp(3))
        const s = relay.stats(b)
        assert.equal(s.iceChecks, 2)
        assert.equal(s.iceFailures, 1)
        assert.equal(s.nominated, true)
        assert.equal(s.peerPort, peerB2.address().port)
        assert.equal(s.idleMs, -1, 'checks are not media: the media timeout clock has not started')
        assert.equal(relay.stats(a).packetsIn, 3)
        // Without credentials the leg drops STUN as not RTP (RFC 7983: nothing to answer it with).
        relay.setIce(b, null)
        peerB2.send(check(ours), b.port, '127.0.0.1')
        peerA.send(rtp(4), a.port, '127.0.0.1')
        assert.deepEqual((await next(peerB2))[0], rtp(4))
        assert.equal(relay.stats(b).iceChecks, 2)
        assert.equal(relay.stats(b).dropped, 1)
      } finally {
        relay.stop()
        relay.close(a)
        relay.close(b)
      }
    })
  })
})

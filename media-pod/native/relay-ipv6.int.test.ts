import assert from 'node:assert/strict'
import { SrtpContext } from '../../lib/media/srtp/context.ts'
import { generateSdesKey } from '../../lib/media/srtp/sdes.ts'
import type { SrtpSuiteName } from '../../lib/media/srtp/suites.ts'
import { answerIceCheck } from '../../lib/media/stun/ice-lite.ts'
import {
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
import { check, rtp } from './test-packets.ts'
import { testSockets } from './test-sockets.ts'

/* The native worker on IPv6 (legs bound on ::1): relaying both ways with latching and SRTP, the stats'
 * peer address, and STUN answers whose XOR-MAPPED-ADDRESS is family 0x02 XORed with the cookie and
 * the transaction id (RFC 8489 §14.2), checked against RFC 5769 §2.3. Loopback (::1) only. */

// RFC 5769 §2.1's request (test/harness/rfc5769.ts); §2.3's response to the same transaction maps
// 2001:db8:1234:5678:11:2233:4455:6677 port 32853.
const FROM6 = { address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 }
const RFC5769_XMA6 = hex('0002 a147 0113a9fa a5d3f179 bc25f4b5 bed2b9d9')

describe('native relay on IPv6 (::1)', function () {
  this.timeout(120_000)
  let addon: MediaAddon
  const { udp: udp6, next, close } = testSockets('::1')
  before(() => {
    addon = buildAndLoadMediaAddon()
  })
  after(close)

  it('relays RTP → SRTP and SRTP → RTP on ::1, latching on the real source, and reports the IPv6 peer', async () => {
    const suite: SrtpSuiteName = 'AES_CM_128_HMAC_SHA1_80'
    const relay = new NativeRelay(addon)
    const a = relay.bind('::1')
    const b = relay.bind('::1')
    relay.connect(a, b)
    relay.connect(b, a)
    const [peerA, peerANat, peerB] = [await udp6(), await udp6(), await udp6()]
    const kToB = { suite, ...generateSdesKey(suite) }
    const kFromB = { suite, ...generateSdesKey(suite) }
    relay.setSrtp(b, kFromB, kToB)
    let toSignalled = 0
    peerA.on('message', () => toSignalled++)
    // A signalled peerA but sends from peerANat (as behind NAT): latching "always" follows the source.
    relay.setPeer(a, { address: '::1', port: peerA.address().port }, Latch.always)
    relay.setPeer(b, { address: '::1', port: peerB.address().port }, Latch.off)
    relay.start()
    try {
      const bRx = SrtpContext.fromMasterKey(suite, kToB.masterKey, kToB.masterSalt)
      const bTx = SrtpContext.fromMasterKey(suite, kFromB.masterKey, kFromB.masterSalt)
      for (const seq of [1, 2, 3]) {
        peerANat.send(rtp(seq, 0xa), a.port, '::1')
        const [srtp, from] = await next(peerB)
        assert.deepEqual(from, { address: '::1', port: b.port })
        assert.deepEqual(bRx.unprotect(srtp), rtp(seq, 0xa))
      }
      peerB.send(bTx.protect(rtp(100, 0xb)), b.port, '::1')
      const [plain, from] = await next(peerANat)
      assert.deepEqual(from, { address: '::1', port: a.port })
      assert.deepEqual(plain, rtp(100, 0xb))
      // A packet under the wrong key is dropped and counted, and moves nothing.
      const wrong = generateSdesKey(suite)
      peerB.send(
        SrtpContext.fromMasterKey(suite, wrong.masterKey, wrong.masterSalt).protect(rtp(101, 0xb)),
        b.port,
        '::1',
      )
      peerB.send(bTx.protect(rtp(102, 0xb)), b.port, '::1')
      assert.deepEqual((await next(peerANat))[0], rtp(102, 0xb))
      const sa = relay.stats(a)
      assert.equal(sa.peerAddress, '::1')
      assert.equal(sa.peerPort, peerANat.address().port)
      assert.equal(sa.packetsIn, 3)
      const sb = relay.stats(b)
      assert.equal(sb.authFailures, 1)
      assert.equal(sb.peerAddress, '::1')
      assert.equal(sb.peerPort, peerB.address().port)
      assert.equal(toSignalled, 0, 'nothing goes to the signalled port once latched')
    } finally {
      relay.stop()
      relay.close(a)
      relay.close(b)
    }
  })

  it('answers a STUN check on ::1 with an IPv6 XOR-MAPPED-ADDRESS, and USE-CANDIDATE moves the peer there', async () => {
    const relay = new NativeRelay(addon)
    const a = relay.bind('::1')
    const b = relay.bind('::1')
    relay.connect(a, b)
    relay.connect(b, a)
    const [peerA, peerB, peerB2] = [await udp6(), await udp6(), await udp6()]
    const ours = { ufrag: 'Zx9q', pwd: 'kube-sbc-ice-pwd-0123456789' }
    relay.setPeer(a, null, Latch.once)
    relay.setPeer(b, { address: '::1', port: peerB.address().port }, Latch.off)
    relay.setIce(b, ours)
    relay.start()
    try {
      peerB2.send(check(ours), b.port, '::1')
      const [answer, from] = await next(peerB2)
      assert.equal(from.port, b.port)
      const m = parseStun(answer)
      assert.ok(m && verifyIntegrity(m, ours.pwd) && verifyFingerprint(m))
      assert.equal(m.type, StunType.bindingSuccess)
      const xma = m.attributes.find((x) => x.type === StunAttr.xorMappedAddress)?.value as Buffer
      assert.equal(xma[1], 0x02, 'family IPv6')
      // decodeXorAddress writes the eight groups uncompressed.
      assert.deepEqual(decodeXorAddress(xma, m.transactionId), {
        address: '0:0:0:0:0:0:0:1',
        port: peerB2.address().port,
      })
      peerB2.send(check(ours, { nominate: true }), b.port, '::1')
      await next(peerB2)
      peerA.send(rtp(1, 0xa), a.port, '::1')
      assert.deepEqual((await next(peerB2))[0], rtp(1, 0xa))
      const s = relay.stats(b)
      assert.equal(s.nominated, true)
      assert.equal(s.iceChecks, 2)
      assert.equal(s.peerAddress, '::1')
      assert.equal(s.peerPort, peerB2.address().port)
    } finally {
      relay.stop()
      relay.close(a)
      relay.close(b)
    }
  })

  it('encodes an IPv6 source as RFC 5769 §2.3 does, octet for octet as the TypeScript responder', () => {
    const c = addon.stunAnswer(RFC5769_REQUEST, FROM6.address, FROM6.port, RFC5769.ufrag, RFC5769.pwd)
    assert.equal(c.verdict, StunVerdict.success)
    const m = parseStun(c.response as Buffer)
    assert.ok(m && verifyIntegrity(m, RFC5769.pwd) && verifyFingerprint(m))
    const xma = m.attributes.find((x) => x.type === StunAttr.xorMappedAddress)?.value
    assert.deepEqual(xma, RFC5769_XMA6)
    assert.deepEqual(decodeXorAddress(xma as Buffer, m.transactionId), FROM6)
    const ts = answerIceCheck(RFC5769_REQUEST, FROM6, RFC5769)
    assert.equal(ts.kind, 'success')
    assert.deepEqual(c.response, ts.kind === 'success' ? ts.response : null)
  })

  it('rejects an address of neither family with a typed error', () => {
    const r = addon.relayCreate()
    for (const bad of ['not-an-ip', 'fe80::1%lo', '::1::2'])
      assert.throws(() => addon.relayBind(r, bad, 0), {
        code: 'SBC_ERR_MEDIA_NATIVE',
        message: /IPv4 or IPv6/,
      })
    const leg = addon.relayBind(r, '::1', 0)
    assert.throws(() => addon.relaySetPeer(r, leg.leg, '::1', 70000, Latch.off), /IPv4 or IPv6/)
    assert.throws(() => addon.stunAnswer(RFC5769_REQUEST, '1.2.3', 1, 'u', 'p'), /IPv4 or IPv6/)
    addon.relayClose(r, leg.leg)
  })
})

import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { SrtpContext } from '../../lib/media/srtp/context.ts'
import { generateSdesKey } from '../../lib/media/srtp/sdes.ts'
import { SRTP_SUITES, type SrtpSuiteName } from '../../lib/media/srtp/suites.ts'
import { buildAndLoadMediaAddon } from './build.ts'
import { MediaNativeError } from './errors.ts'
import {
  Latch,
  type MediaAddon,
  type NativeRelayHandle,
  NativeSrtpStatus,
  SRTP_MAX_TRAILER_LEN,
  SrtpEngine,
} from './media-addon.ts'
import { NativeRelay } from './native-relay.ts'
import { rtp } from './test-packets.ts'
import { testSockets } from './test-sockets.ts'

/* The native packet path against the TypeScript reference: libsrtp through the addon interoperates with
 * SrtpContext both ways, and the recvmmsg/sendmmsg relay moves, latches, re-keys and drops as told.
 * Loopback only. The addon is built first if missing (node-gyp, ~10 s). */

function rtcp(ssrc: number): Buffer {
  const b = Buffer.alloc(28)
  b[0] = 0x80
  b[1] = 200
  b.writeUInt16BE(6, 2)
  b.writeUInt32BE(ssrc, 4)
  b.fill(0x5a, 8)
  return b
}

function withRoom(p: Buffer): Buffer {
  const b = Buffer.alloc(p.length + SRTP_MAX_TRAILER_LEN)
  p.copy(b)
  return b
}

const SUITES: SrtpSuiteName[] = [
  'AES_CM_128_HMAC_SHA1_80',
  'AES_CM_128_HMAC_SHA1_32',
  'AEAD_AES_128_GCM',
  'AEAD_AES_256_GCM',
]

describe('media addon (libsrtp + native relay)', function () {
  this.timeout(120_000)
  let addon: MediaAddon
  before(() => {
    addon = buildAndLoadMediaAddon()
  })

  for (const [engine, name] of [
    [SrtpEngine.openssl, 'OpenSSL'],
    [SrtpEngine.libsrtp, 'libsrtp'],
  ] as const)
    it(`keeps protecting and authenticating as a call's sources change past 16 SSRCs (${name} engine)`, () => {
      // A long call's SSRCs change (transfers, music on hold, re-INVITEs) and a peer picks them: the
      // OpenSSL engine's 16 slots per direction once refused every SSRC after the 16th ("no room").
      const k = generateSdesKey('AES_CM_128_HMAC_SHA1_80')
      const key = Buffer.concat([k.masterKey, k.masterSalt])
      const out = addon.srtpCreate(1, key, true, engine)
      const inb = addon.srtpCreate(1, key, false, engine)
      const send = (seq: number, ssrc: number) => {
        const b = withRoom(rtp(seq, ssrc))
        const n = addon.srtpProtect(out, b, 172)
        assert.equal(n, 182, `protect SSRC ${ssrc} seq ${seq}`)
        return b.subarray(0, n)
      }
      for (let ssrc = 1; ssrc <= 40; ssrc++)
        for (let seq = 0; seq < 3; seq++) {
          const p = withRoom(send(seq, ssrc))
          assert.equal(addon.srtpUnprotect(inb, p, 182), 172, `unprotect SSRC ${ssrc} seq ${seq}`)
          assert.deepEqual(p.subarray(0, 172), rtp(seq, ssrc))
        }
      // The sources in use keep their state: the latest one's replay is still refused.
      const again = withRoom(send(3, 40))
      assert.equal(addon.srtpUnprotect(inb, Buffer.from(again), 182), 172)
      assert.equal(addon.srtpUnprotect(inb, again, 182), NativeSrtpStatus.replayed)
    })

  for (const suite of SUITES) {
    it(`libsrtp in the addon and SrtpContext interoperate both ways (${suite})`, () => {
      const k = generateSdesKey(suite)
      const key = Buffer.concat([k.masterKey, k.masterSalt])
      const profile = SRTP_SUITES[suite].libsrtpProfile
      const out = addon.srtpCreate(profile, key, true)
      const inb = addon.srtpCreate(profile, key, false)
      const ts = SrtpContext.fromMasterKey(suite, k.masterKey, k.masterSalt)
      const tsTx = SrtpContext.fromMasterKey(suite, k.masterKey, k.masterSalt)
      for (const seq of [65534, 65535, 0, 1]) {
        const b = withRoom(rtp(seq, 7))
        const n = addon.srtpProtect(out, b, 172)
        assert.equal(n, 172 + SRTP_SUITES[suite].rtpTagLength)
        assert.deepEqual(ts.unprotect(b.subarray(0, n)), rtp(seq, 7))
        const s = withRoom(tsTx.protect(rtp(seq, 9)))
        assert.equal(addon.srtpUnprotect(inb, s, 172 + SRTP_SUITES[suite].rtpTagLength), 172)
        assert.deepEqual(s.subarray(0, 172), rtp(seq, 9))
      }
      const replay = withRoom(tsTx.protect(rtp(2, 9)))
      const len = 172 + SRTP_SUITES[suite].rtpTagLength
      assert.equal(addon.srtpUnprotect(inb, Buffer.from(replay), len), 172)
      assert.equal(addon.srtpUnprotect(inb, Buffer.from(replay), len), NativeSrtpStatus.replayed)
      const forged = withRoom(tsTx.protect(rtp(3, 9)))
      forged[40] = (forged[40] as number) ^ 1
      assert.equal(addon.srtpUnprotect(inb, forged, len), NativeSrtpStatus.authFailed)
    })
  }

  for (const suite of SUITES) {
    it(`the OpenSSL engine interoperates with libsrtp and SrtpContext, SRTP and SRTCP (${suite})`, () => {
      const k = generateSdesKey(suite)
      const key = Buffer.concat([k.masterKey, k.masterSalt])
      const { libsrtpProfile: profile, rtpTagLength } = SRTP_SUITES[suite]
      const pairs: Array<[SrtpEngine, SrtpEngine]> = [
        [SrtpEngine.openssl, SrtpEngine.libsrtp],
        [SrtpEngine.libsrtp, SrtpEngine.openssl],
        [SrtpEngine.openssl, SrtpEngine.openssl],
      ]
      for (const [txEngine, rxEngine] of pairs) {
        const tx = addon.srtpCreate(profile, key, true, txEngine)
        const rx = addon.srtpCreate(profile, key, false, rxEngine)
        for (const seq of [65534, 65535, 0, 1]) {
          const b = withRoom(rtp(seq, 5))
          const n = addon.srtpProtect(tx, b, 172)
          assert.equal(n, 172 + rtpTagLength, `${txEngine}→${rxEngine} protect`)
          assert.equal(addon.srtpUnprotect(rx, b, n), 172, `${txEngine}→${rxEngine} unprotect SEQ ${seq}`)
          assert.deepEqual(b.subarray(0, 172), rtp(seq, 5))
        }
        for (let i = 0; i < 3; i++) {
          const c = withRoom(rtcp(5))
          const n = addon.srtpProtectRtcp(tx, c, 28)
          assert.ok(n > 28)
          assert.equal(addon.srtpUnprotectRtcp(rx, c, n), 28, `${txEngine}→${rxEngine} SRTCP`)
          assert.deepEqual(c.subarray(0, 28), rtcp(5))
          assert.equal(addon.srtpUnprotectRtcp(rx, withRoom(c.subarray(0, 0)), 0) < 0, true)
        }
      }
      // And against the TypeScript reference, both ways, with replay and forgery rejected.
      const ossl = addon.srtpCreate(profile, key, false, SrtpEngine.openssl)
      const tsTx = SrtpContext.fromMasterKey(suite, k.masterKey, k.masterSalt)
      const p = withRoom(tsTx.protect(rtp(7, 6)))
      assert.equal(addon.srtpUnprotect(ossl, Buffer.from(p), 172 + rtpTagLength), 172)
      assert.equal(addon.srtpUnprotect(ossl, Buffer.from(p), 172 + rtpTagLength), NativeSrtpStatus.replayed)
      const f = withRoom(tsTx.protect(rtp(8, 6)))
      f[20] = (f[20] as number) ^ 1
      assert.equal(addon.srtpUnprotect(ossl, f, 172 + rtpTagLength), NativeSrtpStatus.authFailed)
      const osslTx = addon.srtpCreate(profile, key, true, SrtpEngine.openssl)
      const tsRx = SrtpContext.fromMasterKey(suite, k.masterKey, k.masterSalt)
      const c = withRoom(rtcp(6))
      const n = addon.srtpProtectRtcp(osslTx, c, 28)
      assert.deepEqual(tsRx.unprotectRtcpPacket(c.subarray(0, n)), rtcp(6))
    })
  }

  it('rejects bad arguments with a typed error instead of crashing', () => {
    assert.throws(() => addon.srtpCreate(1, Buffer.alloc(3), true), { code: 'SBC_ERR_MEDIA_NATIVE' })
    assert.throws(() => addon.srtpProtect({} as never, Buffer.alloc(200), 12), {
      code: 'SBC_ERR_MEDIA_NATIVE',
    })
    const r = addon.relayCreate()
    assert.throws(() => addon.relayStats(r, 5), { code: 'SBC_ERR_MEDIA_NATIVE' })
    assert.throws(() => addon.relayBind(r, 'not-an-ip', 0), { code: 'SBC_ERR_MEDIA_NATIVE' })
    // Only EADDRINUSE is "port in use" (the media pod then tries another port); an address not on
    // this host (TEST-NET-1) fails the same on every port, so it is a plain native error.
    assert.throws(() => addon.relayBind(r, '192.0.2.1', 0), {
      code: 'SBC_ERR_MEDIA_NATIVE',
      message: /bind\(\) failed: Cannot assign requested address/,
    })
  })

  describe('relay worker', () => {
    const { udp, next, close } = testSockets()
    after(close)

    it('relays RTP → SRTP and SRTP → RTP with its own keys per leg, latching the RTP side', async () => {
      const suite: SrtpSuiteName = 'AES_CM_128_HMAC_SHA1_80'
      const profile = SRTP_SUITES[suite].libsrtpProfile
      const r = addon.relayCreate()
      const a = addon.relayBind(r, '127.0.0.1', 0)
      const b = addon.relayBind(r, '127.0.0.1', 0)
      addon.relayConnect(r, a.leg, b.leg)
      addon.relayConnect(r, b.leg, a.leg)
      const peerA = await udp()
      const peerB = await udp()
      // Leg B speaks SRTP with peer B: the relay's keys toward B, peer B's keys toward the relay.
      const kToB = generateSdesKey(suite)
      const kFromB = generateSdesKey(suite)
      addon.relaySetSrtp(
        r,
        b.leg,
        addon.srtpCreate(
          profile,
          Buffer.concat([kFromB.masterKey, kFromB.masterSalt]),
          false,
          SrtpEngine.openssl,
        ),
        addon.srtpCreate(profile, Buffer.concat([kToB.masterKey, kToB.masterSalt]), true, SrtpEngine.openssl),
      )
      addon.relaySetPeer(r, b.leg, '127.0.0.1', peerB.address().port, Latch.off)
      addon.relaySetPeer(r, a.leg, null, 0, Latch.once)
      addon.relayStart(r)
      try {
        const bRx = SrtpContext.fromMasterKey(suite, kToB.masterKey, kToB.masterSalt)
        const bTx = SrtpContext.fromMasterKey(suite, kFromB.masterKey, kFromB.masterSalt)
        for (const seq of [65535, 0, 1]) {
          peerA.send(rtp(seq, 0xa), a.port, '127.0.0.1')
          const [srtp, { port: from }] = await next(peerB)
          assert.equal(from, b.port)
          assert.deepEqual(bRx.unprotect(srtp), rtp(seq, 0xa))
        }
        // A learnt peer A from its first packet, so B's answer reaches it, decrypted.
        peerB.send(bTx.protect(rtp(100, 0xb)), b.port, '127.0.0.1')
        const [plain, { port: from }] = await next(peerA)
        assert.equal(from, a.port)
        assert.deepEqual(plain, rtp(100, 0xb))
        // A packet under the wrong key is dropped and counted; a replay too.
        const wrong = generateSdesKey(suite)
        peerB.send(
          SrtpContext.fromMasterKey(suite, wrong.masterKey, wrong.masterSalt).protect(rtp(101, 0xb)),
          b.port,
          '127.0.0.1',
        )
        const good = bTx.protect(rtp(102, 0xb))
        peerB.send(good, b.port, '127.0.0.1')
        peerB.send(good, b.port, '127.0.0.1')
        peerB.send(bTx.protect(rtp(103, 0xb)), b.port, '127.0.0.1')
        assert.deepEqual((await next(peerA))[0], rtp(102, 0xb))
        assert.deepEqual((await next(peerA))[0], rtp(103, 0xb))
        const sb = addon.relayStats(r, b.leg)
        assert.equal(sb.authFailures, 1)
        assert.equal(sb.replayDrops, 1)
        assert.equal(sb.packetsIn, 5)
        const sa = addon.relayStats(r, a.leg)
        assert.equal(sa.peerPort, peerA.address().port)
        assert.equal(sa.packetsOut, 3)
      } finally {
        addon.relayStop(r)
        addon.relayClose(r, a.leg)
        addon.relayClose(r, b.leg)
      }
    })

    it('rewrites RTP payload types per leg, RTP → RTP and RTP → SRTP, marker kept, RTCP untouched', async () => {
      const suite: SrtpSuiteName = 'AES_CM_128_HMAC_SHA1_80'
      const relay = new NativeRelay(addon)
      // Pair 1: A plain RTP (109 opus, 101 telephone-event) ↔ B SRTP (111 opus, 96 telephone-event).
      const a = relay.bind('127.0.0.1')
      const b = relay.bind('127.0.0.1')
      // Pair 2: C ↔ D, both plain RTP, the same numbers.
      const c = relay.bind('127.0.0.1')
      const d = relay.bind('127.0.0.1')
      relay.connect(a, b)
      relay.connect(b, a)
      relay.connect(c, d)
      relay.connect(d, c)
      const [peerA, peerB, peerC, peerD] = [await udp(), await udp(), await udp(), await udp()]
      const kToB = { suite, ...generateSdesKey(suite) }
      const kFromB = { suite, ...generateSdesKey(suite) }
      relay.setSrtp(b, kFromB, kToB)
      const toB = new Map([
        [109, 111],
        [101, 96],
      ])
      const toA = new Map([
        [111, 109],
        [96, 101],
      ])
      relay.setPtMap(b, toB)
      relay.setPtMap(a, toA)
      relay.setPtMap(d, toB)
      relay.setPtMap(c, toA)
      for (const [leg, peer] of [
        [a, peerA],
        [b, peerB],
        [c, peerC],
        [d, peerD],
      ] as const)
        relay.setPeer(leg, { address: '127.0.0.1', port: peer.address().port }, Latch.off)
      relay.start()
      const withPt = (p: Buffer, b1: number) => {
        const q = Buffer.from(p)
        q[1] = b1
        return q
      }
      try {
        const bRx = SrtpContext.fromMasterKey(suite, kToB.masterKey, kToB.masterSalt)
        const bTx = SrtpContext.fromMasterKey(suite, kFromB.masterKey, kFromB.masterSalt)
        // RTP → SRTP: each packet decrypts (the rewrite happened before protect) to the renumbered one.
        const cases: [number, number][] = [
          [0x80 | 109, 0x80 | 111], // marker kept
          [109, 111],
          [101, 96],
          [0, 0], // a type both legs share
          [111, 111], // not in A's map (A never sends B's numbers): left alone
        ]
        for (const [i, [sent, want]] of cases.entries()) {
          peerA.send(withPt(rtp(10 + i, 0xa), sent), a.port, '127.0.0.1')
          assert.deepEqual(
            bRx.unprotect((await next(peerB))[0]),
            withPt(rtp(10 + i, 0xa), want),
            `A→B ${sent}`,
          )
        }
        // RTCP (second octet 200, i.e. 72 with the marker bit) on the muxed port: untouched.
        peerA.send(rtcp(0xa), a.port, '127.0.0.1')
        assert.deepEqual(bRx.unprotectRtcpPacket((await next(peerB))[0]), rtcp(0xa))
        // SRTP → RTP: B's numbers back to A's.
        peerB.send(bTx.protect(withPt(rtp(20, 0xb), 0x80 | 111)), b.port, '127.0.0.1')
        assert.deepEqual((await next(peerA))[0], withPt(rtp(20, 0xb), 0x80 | 109))
        peerB.send(bTx.protect(withPt(rtp(21, 0xb), 96)), b.port, '127.0.0.1')
        assert.deepEqual((await next(peerA))[0], withPt(rtp(21, 0xb), 101))
        // RTP → RTP both ways.
        peerC.send(withPt(rtp(30, 0xc), 0x80 | 109), c.port, '127.0.0.1')
        assert.deepEqual((await next(peerD))[0], withPt(rtp(30, 0xc), 0x80 | 111))
        peerD.send(withPt(rtp(31, 0xd), 96), d.port, '127.0.0.1')
        assert.deepEqual((await next(peerC))[0], withPt(rtp(31, 0xd), 101))
        peerC.send(rtcp(0xc), c.port, '127.0.0.1')
        assert.deepEqual((await next(peerD))[0], rtcp(0xc))
        // Cleared: types pass as received.
        relay.setPtMap(d, null)
        peerC.send(withPt(rtp(32, 0xc), 109), c.port, '127.0.0.1')
        assert.deepEqual((await next(peerD))[0], withPt(rtp(32, 0xc), 109))
      } finally {
        relay.stop()
      }
      // Types the worker cannot rewrite are refused with a typed error, never applied.
      for (const bad of [new Map([[72, 96]]), new Map([[96, 95]]), new Map([[96, 128]]), new Map([[-1, 96]])])
        assert.throws(() => relay.setPtMap(a, bad), { code: 'SBC_ERR_MEDIA_NATIVE' })
      const h = (relay as unknown as { handle: never }).handle
      assert.throws(() => addon.relaySetPtMap(h, a.leg, Uint8Array.of(96)), { code: 'SBC_ERR_MEDIA_NATIVE' })
      assert.throws(() => addon.relaySetPtMap(h, a.leg, [96, 97] as never), { code: 'SBC_ERR_MEDIA_NATIVE' })
      for (const l of [a, b, c, d]) relay.close(l)
    })

    it("returns a closed leg's port to the system, so it can be bound again", () => {
      const r = addon.relayCreate()
      const a = addon.relayBind(r, '127.0.0.1', 0)
      assert.throws(() => addon.relayBind(r, '127.0.0.1', a.port), { code: 'SBC_ERR_MEDIA_PORT_IN_USE' })
      addon.relayClose(r, a.leg)
      const again = addon.relayBind(r, '127.0.0.1', a.port)
      assert.equal(again.port, a.port)
      assert.equal(again.leg, a.leg)
      addon.relayClose(r, again.leg)
      assert.throws(() => addon.relayStats(r, again.leg), { code: 'SBC_ERR_MEDIA_NATIVE' })
    })

    it('reuses a closed slot without ever relaying into it from the old call, and keeps one sender per leg', async () => {
      const relay = new NativeRelay(addon)
      const peerA = await udp()
      const peerB = await udp()
      const peerC = await udp()
      relay.start()
      const open: number[] = []
      try {
        const a = relay.bind('127.0.0.1')
        const b = relay.bind('127.0.0.1')
        open.push(a.leg)
        relay.connect(a, b)
        relay.connect(b, a)
        relay.setPeer(b, { address: '127.0.0.1', port: peerB.address().port }, Latch.off)
        peerA.send(rtp(1, 0xa1), a.port, '127.0.0.1')
        assert.deepEqual((await next(peerB))[0], rtp(1, 0xa1))
        // B's slot goes back to the free list and the next bind takes it (another call's leg C).
        relay.close(b)
        const c = relay.bind('127.0.0.1')
        open.push(c.leg)
        assert.equal(c.leg, b.leg)
        relay.setPeer(c, { address: '127.0.0.1', port: peerC.address().port }, Latch.off)
        // A still points nowhere: its packet is dropped, not sent to C's party.
        peerA.send(rtp(2, 0xa1), a.port, '127.0.0.1')
        const d = relay.bind('127.0.0.1')
        open.push(d.leg)
        relay.connect(d, c)
        peerA.send(rtp(3, 0xd1), d.port, '127.0.0.1')
        assert.deepEqual((await next(peerC))[0], rtp(3, 0xd1), 'C receives only what its own sender relays')
        assert.equal(relay.stats(a).dropped, 1)
        // One sender per leg: connecting A → C replaces D → C.
        relay.connect(a, c)
        peerA.send(rtp(4, 0xd1), d.port, '127.0.0.1')
        peerA.send(rtp(5, 0xa1), a.port, '127.0.0.1')
        assert.deepEqual((await next(peerC))[0], rtp(5, 0xa1))
        assert.equal(relay.stats(d).dropped, 1)
      } finally {
        relay.stop()
        for (const l of open) relay.close(l)
      }
    })

    it('grows its leg table past 8,192 legs (once a fixed limit) while relaying on the first and last legs', async () => {
      const relay = new NativeRelay(addon)
      const legs = [] as ReturnType<NativeRelay['bind']>[]
      const peerA = await udp()
      const peerB = await udp()
      relay.start()
      try {
        const first = [relay.bind('127.0.0.1'), relay.bind('127.0.0.1')] as const
        relay.connect(first[0], first[1])
        relay.setPeer(first[1], { address: '127.0.0.1', port: peerB.address().port }, Latch.off)
        // The table moves while the worker relays: the first pair must keep working across each growth.
        for (let i = 0; i < 8_300; i++) {
          legs.push(relay.bind('127.0.0.1'))
          if (i % 2_000 === 0) {
            peerA.send(rtp(i, 0xf1), first[0].port, '127.0.0.1')
            assert.deepEqual((await next(peerB))[0], rtp(i, 0xf1))
          }
        }
        const last = [relay.bind('127.0.0.1'), relay.bind('127.0.0.1')] as const
        assert.ok(last[1].leg >= 8_192, `leg index ${last[1].leg}`)
        relay.connect(last[0], last[1])
        relay.setPeer(last[1], { address: '127.0.0.1', port: peerA.address().port }, Latch.off)
        peerB.send(rtp(7, 0xf2), last[0].port, '127.0.0.1')
        assert.deepEqual((await next(peerA))[0], rtp(7, 0xf2))
        assert.equal(relay.stats(first[0]).packetsIn, 5)
        for (const l of [...first, ...last]) relay.close(l)
      } finally {
        for (const l of legs) relay.close(l)
        relay.stop()
      }
    })

    it('NativeRelay relays SRTP → SRTP re-keyed per leg (GCM in, AES-CM out) and maps errors to codes', async () => {
      const relay = new NativeRelay(addon)
      const a = relay.bind('127.0.0.1')
      const b = relay.bind('127.0.0.1')
      relay.connect(a, b)
      const peerA = await udp()
      const peerB = await udp()
      const kA = { suite: 'AEAD_AES_128_GCM' as const, ...generateSdesKey('AEAD_AES_128_GCM') }
      const kB = { suite: 'AES_CM_128_HMAC_SHA1_32' as const, ...generateSdesKey('AES_CM_128_HMAC_SHA1_32') }
      relay.setSrtp(a, kA, null)
      relay.setSrtp(b, null, kB)
      relay.setPeer(b, { address: '127.0.0.1', port: peerB.address().port }, Latch.off)
      relay.start()
      try {
        const txA = SrtpContext.fromMasterKey(kA.suite, kA.masterKey, kA.masterSalt)
        const rxB = SrtpContext.fromMasterKey(kB.suite, kB.masterKey, kB.masterSalt)
        peerA.send(txA.protect(rtp(42, 0xa1)), a.port, '127.0.0.1')
        assert.deepEqual(rxB.unprotect((await next(peerB))[0]), rtp(42, 0xa1))
        assert.equal(relay.stats(a).packetsIn, 1)
      } finally {
        relay.stop()
      }
      assert.throws(
        () => relay.bind('127.0.0.1', a.port),
        (e: unknown) => e instanceof MediaNativeError && e.code === 'SBC_ERR_MEDIA_PORT_IN_USE',
      )
      const k256 = {
        suite: 'AES_256_CM_HMAC_SHA1_80' as const,
        ...generateSdesKey('AES_256_CM_HMAC_SHA1_80'),
      }
      assert.throws(() => relay.setSrtp(a, k256, null), { code: 'SBC_ERR_MEDIA_NATIVE_SUITE' })
      assert.throws(() => new NativeRelay(null), { code: 'SBC_ERR_MEDIA_NATIVE_MISSING' })
      relay.close(a)
      relay.close(b)
    })

    it('runs its worker as a SCHED_FIFO thread when asked and permitted, and relays there', async () => {
      // Scheduling policy (field 41) and real-time priority (field 40) of each thread, by tid.
      const sched = () =>
        new Map(
          readdirSync('/proc/self/task').map((tid) => {
            const f = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
            return [tid, { policy: Number(f[38]), priority: Number(f[37]) }] as const
          }),
        )
      // CAP_SYS_NICE (bit 23 of the effective set) is what lets a process use SCHED_FIFO.
      const capEff = /CapEff:\s*([0-9a-f]+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0'
      const permitted = (BigInt(`0x${capEff}`) & (1n << 23n)) !== 0n
      const relay = new NativeRelay(addon)
      assert.throws(() => relay.start(0, 100), { code: 'SBC_ERR_MEDIA_NATIVE', message: /1-99/ })
      const a = relay.bind('127.0.0.1')
      const b = relay.bind('127.0.0.1')
      relay.connect(a, b)
      const peerA = await udp()
      const peerB = await udp()
      relay.setPeer(b, { address: '127.0.0.1', port: peerB.address().port }, Latch.off)
      const before = sched()
      const realtime = relay.start(0, 7)
      try {
        const worker = [...sched()].filter(([tid]) => !before.has(tid)).map(([, s]) => s)
        assert.equal(worker.length, 1, 'one new thread: the worker')
        assert.equal(realtime, permitted)
        assert.deepEqual(worker[0], realtime ? { policy: 1, priority: 7 } : { policy: 0, priority: 0 })
        peerA.send(rtp(1, 0xf1), a.port, '127.0.0.1')
        assert.deepEqual((await next(peerB))[0], rtp(1, 0xf1))
      } finally {
        relay.stop()
        relay.close(a)
        relay.close(b)
      }
      const plain = new NativeRelay(addon)
      assert.equal(plain.start(), false)
      plain.stop()
    })

    it("reports a leg's idle time alone (relayIdleMs) and its stats from numbers (relayStatsInto) as relayStats does", async () => {
      const relay = new NativeRelay(addon)
      const a = relay.bind('127.0.0.1')
      const b = relay.bind('127.0.0.1')
      relay.connect(a, b)
      const peerA = await udp()
      const peerB = await udp()
      relay.setPeer(b, { address: '127.0.0.1', port: peerB.address().port }, Latch.off)
      relay.start()
      try {
        assert.equal(relay.idleMs(a), -1)
        assert.equal(relay.stats(a).idleMs, -1)
        peerA.send(rtp(1, 0xd1), a.port, '127.0.0.1')
        await next(peerB)
        await new Promise((r) => setTimeout(r, 120))
        const idle = relay.idleMs(a)
        const snapshot = relay.stats(a).idleMs
        const after = relay.idleMs(a)
        // Both read the same clock (CLOCK_MONOTONIC_COARSE, from the same last packet): the snapshot
        // lies between two idleMs reads around it, however long this process is descheduled between
        // them (a bound of 50 ms on their difference fails when a loaded machine pauses it that long).
        assert.ok(
          idle >= 100 && idle <= snapshot && snapshot <= after,
          `idle ${idle}, stats ${snapshot}, ${after}`,
        )
        assert.equal(relay.idleMs(b), -1, 'b sent nothing')
        assert.throws(() => relay.idleMs(9999), { code: 'SBC_ERR_MEDIA_NATIVE' })
        // NativeRelay.stats builds the snapshot from relayStatsInto's numbers: the same as the addon's
        // own object (relayStats), peer address and port included.
        const handle = (relay as unknown as { handle: NativeRelayHandle }).handle
        for (const [leg, peer] of [
          [a, peerA],
          [b, peerB],
        ] as const) {
          const { idleMs: _i, ...fast } = relay.stats(leg)
          const { idleMs: _j, ...slow } = addon.relayStats(handle, leg.leg)
          assert.deepEqual(fast, slow)
          assert.equal(fast.peerAddress, '127.0.0.1')
          assert.equal(fast.peerPort, peer.address().port)
        }
        assert.equal(relay.stats(a).packetsIn, 1)
        assert.equal(relay.stats(b).packetsOut, 1)
        assert.throws(() => addon.relayStatsInto(handle, a.leg, new Float64Array(4)), {
          code: 'SBC_ERR_MEDIA_NATIVE',
          message: /Float64Array of at least 16/,
        })
      } finally {
        relay.stop()
        relay.close(a)
        relay.close(b)
      }
    })

    it('counts RTP loss from sequence numbers across the wrap and jitter from timestamps (RFC 3550 A.1/A.3/A.8)', async () => {
      const relay = new NativeRelay(addon)
      const a = relay.bind('127.0.0.1')
      const b = relay.bind('127.0.0.1')
      relay.connect(a, b)
      const peerA = await udp()
      const peerB = await udp()
      relay.setPeer(b, { address: '127.0.0.1', port: peerB.address().port }, Latch.off)
      relay.setClockRate(a, 8000)
      assert.throws(() => relay.setClockRate(a, 0), { code: 'SBC_ERR_MEDIA_NATIVE' })
      relay.start()
      try {
        // 65530 … 65535, 0 … 9 without 65533, 2 and 5: 13 sent, 3 lost. Sent back to back while
        // the timestamps advance 160 per packet, so the transit changes on every packet: jitter > 0.
        const seqs = [
          ...Array.from({ length: 6 }, (_, i) => 65530 + i),
          ...Array.from({ length: 10 }, (_, i) => i),
        ]
        const sent = seqs.filter((q) => q !== 65533 && q !== 2 && q !== 5)
        let got = 0
        const all = new Promise<void>((resolve) =>
          peerB.on('message', () => {
            if (++got === sent.length) resolve()
          }),
        )
        for (const q of sent) peerA.send(rtp(q, 0xc0ffee), a.port, '127.0.0.1')
        await all
        const s = relay.stats(a)
        assert.equal(s.packetsIn, sent.length)
        // The first packet only starts probation (A.1), as in RtpStats: base = 65531.
        assert.equal(s.lost, 3)
        assert.ok(s.jitter > 0, `jitter ${s.jitter}`)
        assert.equal(relay.stats(b).lost, 0)
      } finally {
        relay.stop()
        relay.close(a)
        relay.close(b)
      }
    })

    it('continues its streams from one run to the next: an SRTP receiver takes both runs whole', async () => {
      // The benchmark runs a case in slices with one generator and one SRTP session: a second run that
      // started its sequence numbers over was refused by the relay as replays.
      const r = addon.relayCreate()
      const g = addon.loadgenCreate()
      const k = generateSdesKey('AES_CM_128_HMAC_SHA1_80')
      const key = Buffer.concat([k.masterKey, k.masterSalt])
      const ports: number[] = []
      for (let i = 0; i < 10; i++) {
        const a = addon.relayBind(r, '127.0.0.1', 0)
        const b = addon.relayBind(r, '127.0.0.1', 0)
        addon.relayConnect(r, a.leg, b.leg)
        addon.relaySetSrtp(r, a.leg, addon.srtpCreate(1, key, false, SrtpEngine.openssl), null)
        addon.relaySetPeer(r, b.leg, '127.0.0.1', g.port, Latch.off)
        ports.push(a.port)
      }
      addon.relayStart(r)
      const gen = addon.srtpCreate(1, key, true, SrtpEngine.libsrtp)
      try {
        for (const run of [1, 2]) {
          const res = await addon.loadgenRun(g.handle, ports, 1000, 500, 160, gen)
          assert.deepEqual([res.sent, res.received], [500, 500], `run ${run}`)
        }
      } finally {
        addon.relayStop(r)
      }
    })

    it('paces 2,000 packets over 40 streams through the relay with the native load generator, none lost', async () => {
      const r = addon.relayCreate()
      const g = addon.loadgenCreate()
      const ports: number[] = []
      for (let i = 0; i < 40; i++) {
        const a = addon.relayBind(r, '127.0.0.1', 0)
        const b = addon.relayBind(r, '127.0.0.1', 0)
        addon.relayConnect(r, a.leg, b.leg)
        addon.relaySetPeer(r, b.leg, '127.0.0.1', g.port, Latch.off)
        ports.push(a.port)
      }
      addon.relayStart(r)
      try {
        // lateUs 1: every packet is at least 1 µs late, so `late` lists them all.
        const res = await addon.loadgenRun(g.handle, ports, 2000, 2000, 160, null, 0, 1)
        assert.equal(res.sent, 2000)
        assert.equal(res.received, 2000)
        // The latencies the benchmark pools across slices: all of them, sorted, behind p50/p99.
        const lat = res.latencies as Uint32Array
        assert.equal(lat.length, 2000)
        assert.ok(
          lat.every((v, i) => i === 0 || (lat[i - 1] as number) <= v),
          'sorted',
        )
        assert.equal(res.p99Us, lat[1980])
        const late = res.late as number[]
        assert.equal(late.length, 4000, '[send time, latency] per packet')
        assert.deepEqual(
          late.filter((_, i) => i % 2 === 1).sort((a, b) => a - b),
          [...lat],
          'the same latencies',
        )
        assert.ok(
          Math.max(...late.filter((_, i) => i % 2 === 0)) < 2_000_000,
          'send times within the 1-s run',
        )
      } finally {
        addon.relayStop(r)
      }
    })
  })
})

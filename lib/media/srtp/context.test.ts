import assert from 'node:assert/strict'
import { SrtpContext, SrtpStatus } from './context.ts'
import { SrtpAuthError, SrtpReplayError } from './errors.ts'
import { ReplayWindow } from './replay-window.ts'
import { generateSdesKey } from './sdes.ts'
import { SRTP_SUITES, type SrtpSuiteName } from './suites.ts'

/** An RTP packet with the given sequence number, SSRC and a recognisable payload. */
function rtp(seq: number, ssrc = 0x11223344, payloadLength = 160): Buffer {
  const b = Buffer.alloc(12 + payloadLength)
  b[0] = 0x80
  b[1] = 0
  b.writeUInt16BE(seq, 2)
  b.writeUInt32BE(seq * 160, 4)
  b.writeUInt32BE(ssrc, 8)
  for (let i = 12; i < b.length; i++) b[i] = (seq + i) & 0xff
  return b
}

/** A receiver report (RFC 3550 §6.4.2) with one report block. */
function rtcp(ssrc = 0x11223344): Buffer {
  const b = Buffer.alloc(32)
  b[0] = 0x81
  b[1] = 201
  b.writeUInt16BE(7, 2)
  b.writeUInt32BE(ssrc, 4)
  b.fill(0xab, 8)
  return b
}

function pair(suite: SrtpSuiteName): [SrtpContext, SrtpContext] {
  const k = generateSdesKey(suite)
  return [
    SrtpContext.fromMasterKey(suite, k.masterKey, k.masterSalt),
    SrtpContext.fromMasterKey(suite, k.masterKey, k.masterSalt),
  ]
}

for (const suite of Object.keys(SRTP_SUITES) as SrtpSuiteName[]) {
  describe(`SrtpContext with ${suite}`, () => {
    it('round-trips RTP and hides the payload', () => {
      const [tx, rx] = pair(suite)
      const p = rtp(1)
      const s = tx.protect(p)
      assert.equal(s.length, p.length + SRTP_SUITES[suite].rtpTagLength)
      assert.notDeepEqual(s.subarray(12, p.length), p.subarray(12))
      assert.deepEqual(rx.unprotect(s), p)
    })

    it('round-trips SRTCP with the E flag and an increasing index', () => {
      const [tx, rx] = pair(suite)
      for (let i = 0; i < 3; i++) {
        const s = tx.protectRtcpPacket(rtcp())
        const tagLen = SRTP_SUITES[suite].rtcpTagLength
        const eIndexAt = SRTP_SUITES[suite].kind === 'gcm' ? s.length - 4 : s.length - tagLen - 4
        assert.equal(s.readUInt32BE(eIndexAt), (0x80000000 | i) >>> 0)
        assert.deepEqual(rx.unprotectRtcpPacket(s), rtcp())
      }
    })

    it('accepts unencrypted SRTCP (E=0) and still authenticates it', () => {
      const k = generateSdesKey(suite)
      const tx = SrtpContext.fromMasterKey(suite, k.masterKey, k.masterSalt, { encryptRtcp: false })
      const rx = SrtpContext.fromMasterKey(suite, k.masterKey, k.masterSalt)
      const s = tx.protectRtcpPacket(rtcp())
      assert.deepEqual(s.subarray(0, 32), rtcp())
      assert.deepEqual(rx.unprotectRtcpPacket(s), rtcp())
      const forged = Buffer.from(s)
      forged[20] = (forged[20] as number) ^ 1
      assert.throws(
        () => SrtpContext.fromMasterKey(suite, k.masterKey, k.masterSalt).unprotectRtcpPacket(forged),
        SrtpAuthError,
      )
    })

    it('follows the ROC across 65534, 65535, 0, 1 (the HMAC/IV include the ROC)', () => {
      const [tx, rx] = pair(suite)
      for (const seq of [65534, 65535, 0, 1]) assert.deepEqual(rx.unprotect(tx.protect(rtp(seq))), rtp(seq))
      assert.equal(tx.rocOf(0x11223344), 1)
      assert.equal(rx.rocOf(0x11223344), 1)
    })

    it('decrypts a reordered packet from before the wrap with the old ROC', () => {
      const [tx, rx] = pair(suite)
      const late = tx.protect(rtp(65535))
      const early = [65533, 65534].map((q) => tx.protect(rtp(q)))
      const after = tx.protect(rtp(0))
      for (const e of early) rx.unprotect(e)
      rx.unprotect(after)
      assert.deepEqual(rx.unprotect(late), rtp(65535))
    })

    it('rejects a replayed packet, counts it, and leaves the stream usable', () => {
      const [tx, rx] = pair(suite)
      const s = tx.protect(rtp(10))
      rx.unprotect(s)
      assert.throws(() => rx.unprotect(s), SrtpReplayError)
      assert.equal(rx.counters.replayDrops, 1)
      assert.deepEqual(rx.unprotect(tx.protect(rtp(11))), rtp(11))
    })

    it('drops a packet with a flipped payload bit without advancing the replay window', () => {
      const [tx, rx] = pair(suite)
      const s = tx.protect(rtp(500))
      const forged = Buffer.from(s)
      forged[20] = (forged[20] as number) ^ 0x01
      assert.equal(rx.unprotectRtp(forged, forged.length), SrtpStatus.authFailed)
      assert.equal(rx.counters.authFailures, 1)
      assert.deepEqual(rx.unprotect(s), rtp(500))
    })

    it('rejects packets under a different key', () => {
      const [tx] = pair(suite)
      const [, other] = pair(suite)
      assert.throws(() => other.unprotect(tx.protect(rtp(1))), SrtpAuthError)
    })

    it('reports truncated packets as malformed instead of throwing', () => {
      const [, rx] = pair(suite)
      for (const len of [0, 3, 12, 12 + SRTP_SUITES[suite].rtpTagLength - 1]) {
        assert.equal(rx.unprotectRtp(Buffer.alloc(len, 0x80), len), SrtpStatus.malformed)
        assert.equal(rx.unprotectRtcp(Buffer.alloc(len, 0x80), len), SrtpStatus.malformed)
      }
      assert.equal(rx.protectRtp(Buffer.alloc(12, 0x80), 12), SrtpStatus.noRoom)
    })
  })
}

describe('ReplayWindow (RFC 3711 §3.3.2)', () => {
  const seen = (w: ReplayWindow, ...idx: number[]) => {
    for (const i of idx) w.accept(i)
  }
  it('accepts index 990 not yet seen when the highest is 1000 (lag 10 < 64)', () => {
    const w = new ReplayWindow()
    seen(w, 1000)
    assert.equal(w.check(990), true)
  })
  it('rejects index 990 seen before when the highest is 1000', () => {
    const w = new ReplayWindow()
    seen(w, 990, 1000)
    assert.equal(w.check(990), false)
  })
  it('rejects index 1000 when the highest is 100000', () => {
    const w = new ReplayWindow()
    seen(w, 100000)
    assert.equal(w.check(1000), false)
  })
  it('tracks every bit of the 64-wide window across shifts of 1, 31, 32, 33 and 64', () => {
    for (const step of [1, 31, 32, 33, 64]) {
      const w = new ReplayWindow()
      const accepted: number[] = []
      for (let i = 0; i < 300; i += step) {
        w.accept(i)
        accepted.push(i)
      }
      const h = w.highest
      for (let i = Math.max(0, h - 63); i <= h; i++)
        assert.equal(w.check(i), !accepted.includes(i), `step ${step} index ${i}`)
      assert.equal(w.check(h - 64), false)
    }
  })
})

import assert from 'node:assert/strict'
import { RtpStats } from './rtp-stats.ts'

/** Feeds packets 20 ms apart at 8 kHz with the given sequence numbers and arrival jitter offsets. */
function feed(stats: RtpStats, seqs: number[], arrivalOffsets: number[] = []): void {
  seqs.forEach((seq, i) => {
    const ts = i * 160
    stats.update(seq & 0xffff, ts, 1000 + ts + (arrivalOffsets[i] ?? 0))
  })
}

describe('RTP reception statistics (RFC 3550 A.1, A.3, A.8)', () => {
  it('counts no loss and zero jitter for a perfect stream', () => {
    const s = new RtpStats()
    feed(
      s,
      Array.from({ length: 50 }, (_, i) => 1000 + i),
    )
    assert.equal(s.lost, 0)
    assert.equal(s.jitter, 0)
  })

  it('counts lost packets after a gap, and extends the sequence across 65535 → 0', () => {
    const s = new RtpStats()
    const seqs = Array.from({ length: 20 }, (_, i) => 65530 + i).filter((q) => q !== 65537 && q !== 65538)
    feed(s, seqs)
    assert.equal(s.lost, 2)
    assert.equal(s.cycles, 65536)
    assert.equal(s.extendedMax, 65536 + 13)
    assert.equal(s.takeFractionLost(), Math.floor((2 * 256) / s.expected))
  })

  it('estimates jitter from alternating arrival offsets', () => {
    const s = new RtpStats()
    feed(
      s,
      Array.from({ length: 400 }, (_, i) => i),
      Array.from({ length: 400 }, (_, i) => (i % 2 ? 80 : 0)),
    )
    // |D| = 80 every packet: J converges to 80 (J += (|D|-J)/16).
    assert.ok(s.jitter >= 75 && s.jitter <= 80, `jitter ${s.jitter}`)
  })

  it('keeps the jitter non-negative and saturated when timestamps jump 2^31 back and forth', () => {
    // The fuzz regression of the native relay (media-pod/native/fuzz/regressions.txt): its 32-bit
    // estimate overflowed into a negative jitter; this one must give the same saturated figure.
    const s = new RtpStats()
    for (let i = 1; i <= 200; i++) {
      s.update(i, i % 2 ? 0x80000000 : 0, 160 * i)
      assert.ok(s.jitterQ4 >= 0 && s.jitterQ4 <= 0x7fffffff, `packet ${i}: jitterQ4 ${s.jitterQ4}`)
    }
    assert.equal(s.jitter, 0x7fffffff >> 4)
  })

  it('holds a source in probation until two sequential packets arrive', () => {
    const s = new RtpStats()
    assert.equal(s.update(10, 0, 0), false)
    assert.equal(s.update(11, 160, 160), true)
  })
})

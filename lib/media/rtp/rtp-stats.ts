/**
 * Per-source reception statistics of RFC 3550 Appendix A.1 (sequence validation and loss) and A.8
 * (interarrival jitter), for media metrics and CDR quality figures.
 *
 * @remarks
 * Owned by: the packet loop of the worker that receives the stream (it calls `update` per packet,
 * allocation-free); read by metrics collection through the getters. Not shared across threads.
 */
export class RtpStats {
  /** Highest sequence number seen (max_seq). */
  maxSeq = 0
  /** Shifted count of sequence number cycles (cycles, a multiple of 2^16). */
  cycles = 0
  /** Base sequence number (base_seq). */
  baseSeq = 0
  /** Last 'bad' sequence number + 1 (bad_seq). */
  badSeq = RTP_SEQ_MOD + 1
  /** Sequential packets till the source is valid (probation). */
  probation = MIN_SEQUENTIAL
  /** Packets received (received). */
  received = 0
  /** Packet expected at last interval (expected_prior), for fraction lost. */
  expectedPrior = 0
  /** Packets received at last interval (received_prior). */
  receivedPrior = 0
  /** Relative transit time of the previous packet (transit), in timestamp units. */
  transit = 0
  /** Estimated jitter (jitter), in timestamp units, scaled by 16 as in A.8's integer variant. */
  jitterQ4 = 0
  /** Whether a first packet has been seen. */
  private started = false
  /** Whether the transit of a previous packet is known. */
  private haveTransit = false

  /**
   * Feeds one packet. `arrival` is the arrival time in the stream's timestamp units (e.g. ms × 8 for
   * 8 kHz audio). Returns false when the packet was not accepted as valid (probation or a big jump).
   */
  update(seq: number, rtpTimestamp: number, arrival: number): boolean {
    if (!this.started) {
      this.started = true
      this.initSeq(seq)
      this.maxSeq = seq - 1
      this.probation = MIN_SEQUENTIAL
    }
    if (!this.updateSeq(seq)) return false
    // RFC 3550 A.8: D(i-1,i) = (Rj - Ri) - (Sj - Si); J += (|D| - J)/16, kept ×16 in integers.
    const transit = (arrival - rtpTimestamp) | 0
    if (this.haveTransit) {
      let d = (transit - this.transit) | 0
      if (d < 0) d = -d
      // Saturates at 2^31 - 1, as the native relay's 32-bit estimate (media-pod/native/src/rtp-stats.h):
      // timestamps 2^31 apart (the peer picks them) would otherwise drive it past what `>> 4` takes
      // without wrapping, into a negative jitter. Math.floor, not `>> 4`, for the same reason.
      this.jitterQ4 = Math.min(this.jitterQ4 + d - Math.floor((this.jitterQ4 + 8) / 16), 0x7fffffff)
    }
    this.transit = transit
    this.haveTransit = true
    return true
  }

  /** Interarrival jitter in timestamp units (RFC 3550 A.8: jitter >> 4 of the scaled value). */
  get jitter(): number {
    return this.jitterQ4 >> 4
  }

  /** Extended highest sequence number received (cycles + max_seq). */
  get extendedMax(): number {
    return this.cycles + this.maxSeq
  }

  /** Packets expected (RFC 3550 A.3). */
  get expected(): number {
    return this.extendedMax - this.baseSeq + 1
  }

  /** Cumulative packets lost (RFC 3550 A.3); negative when duplicates arrived. */
  get lost(): number {
    return this.expected - this.received
  }

  /**
   * Fraction lost since the previous call, as the 8-bit fixed-point value of an RTCP report block
   * (RFC 3550 A.3), and starts a new interval.
   */
  takeFractionLost(): number {
    const expected = this.expected
    const expectedInterval = expected - this.expectedPrior
    this.expectedPrior = expected
    const receivedInterval = this.received - this.receivedPrior
    this.receivedPrior = this.received
    const lostInterval = expectedInterval - receivedInterval
    if (expectedInterval === 0 || lostInterval <= 0) return 0
    return Math.floor((lostInterval * 256) / expectedInterval)
  }

  private initSeq(seq: number): void {
    this.baseSeq = seq
    this.maxSeq = seq
    this.badSeq = RTP_SEQ_MOD + 1
    this.cycles = 0
    this.received = 0
    this.receivedPrior = 0
    this.expectedPrior = 0
  }

  /** RFC 3550 A.1 `update_seq`, verbatim in structure. */
  private updateSeq(seq: number): boolean {
    const udelta = (seq - this.maxSeq) & 0xffff
    if (this.probation) {
      if (seq === ((this.maxSeq + 1) & 0xffff)) {
        this.probation--
        this.maxSeq = seq
        if (this.probation === 0) {
          this.initSeq(seq)
          this.received++
          return true
        }
      } else {
        this.probation = MIN_SEQUENTIAL - 1
        this.maxSeq = seq
      }
      return false
    }
    if (udelta < MAX_DROPOUT) {
      if (seq < this.maxSeq) this.cycles += RTP_SEQ_MOD
      this.maxSeq = seq
    } else if (udelta <= RTP_SEQ_MOD - MAX_MISORDER) {
      // A very large jump: two sequential packets mean the source restarted.
      if (seq === this.badSeq) {
        this.initSeq(seq)
      } else {
        this.badSeq = (seq + 1) & (RTP_SEQ_MOD - 1)
        return false
      }
    }
    // else: duplicate or reordered packet, counted below.
    this.received++
    return true
  }
}

const RTP_SEQ_MOD = 1 << 16
const MAX_DROPOUT = 3000
const MAX_MISORDER = 100
const MIN_SEQUENTIAL = 2

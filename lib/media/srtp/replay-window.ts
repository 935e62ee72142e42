/**
 * The SRTP/SRTCP replay list of RFC 3711 §3.3.2: a sliding window of 64 packet indices below the
 * highest authenticated one.
 *
 * @remarks
 * `check` runs before authentication and `accept` only after it, so a forged packet never advances
 * the window. The bitmap is held in two 32-bit words (bit k ⇔ index `highest - k` received), which
 * avoids BigInt allocation per packet. Owned by: the per-SSRC receive state of one `SrtpContext`.
 */
export class ReplayWindow {
  /** Window size: the RFC minimum, and libsrtp's default. */
  static readonly SIZE = 64
  /** Highest authenticated index, -1 before the first packet. */
  highest = -1
  /** Bits 0–31 of the bitmap. */
  private lo = 0
  /** Bits 32–63 of the bitmap. */
  private hi = 0

  /** Whether `index` may be processed: ahead of the window, or inside it and not yet received. */
  check(index: number): boolean {
    if (this.highest < 0 || index > this.highest) return true
    const lag = this.highest - index
    if (lag >= ReplayWindow.SIZE) return false
    return lag < 32 ? ((this.lo >>> lag) & 1) === 0 : ((this.hi >>> (lag - 32)) & 1) === 0
  }

  /** Marks `index` received (after it authenticated). */
  accept(index: number): void {
    if (this.highest < 0) {
      this.highest = index
      this.lo = 1
      this.hi = 0
      return
    }
    if (index > this.highest) {
      const shift = index - this.highest
      if (shift >= 64) {
        this.lo = 0
        this.hi = 0
      } else if (shift >= 32) {
        this.hi = shift === 32 ? this.lo : this.lo << (shift - 32)
        this.lo = 0
      } else {
        this.hi = (this.hi << shift) | (this.lo >>> (32 - shift))
        this.lo = this.lo << shift
      }
      this.lo |= 1
      this.highest = index
      return
    }
    const lag = this.highest - index
    if (lag < 32) this.lo |= 1 << lag
    else if (lag < 64) this.hi |= 1 << (lag - 32)
  }
}

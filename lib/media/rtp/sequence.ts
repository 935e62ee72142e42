/**
 * Sequence-number arithmetic for RTP (16-bit) and the SRTP rollover counter.
 */

/**
 * Guesses the rollover counter `v` of a received packet (RFC 3711 §3.3.1, Appendix A).
 *
 * @param sL - the highest sequence number received so far (s_l)
 * @param roc - the current rollover counter of the stream
 * @param seq - the sequence number of the packet
 * @returns v, the ROC of the packet; its index is `v * 65536 + seq`
 *
 * @remarks
 * "if s_l < 2^15 then if SEQ - s_l > 2^15 then v = ROC-1 else v = ROC; else if s_l - 2^15 > SEQ then
 * v = ROC+1 else v = ROC" (RFC 3711 Appendix A). v = -1 is possible for ROC 0 (a packet from before the
 * stream started); callers treat it as too old.
 */
export function estimateRoc(sL: number, roc: number, seq: number): number {
  if (sL < 0x8000) {
    return seq - sL > 0x8000 ? roc - 1 : roc
  }
  return sL - 0x8000 > seq ? roc + 1 : roc
}

/** The 48-bit packet index i = 2^16·ROC + SEQ (RFC 3711 §3.3.1); exact in a double. */
export function packetIndex(roc: number, seq: number): number {
  return roc * 0x10000 + seq
}

/** Signed distance from `a` to `b` in 16-bit sequence space, in [-32768, 32767]. */
export function seqDelta(a: number, b: number): number {
  return (((b - a + 0x8000) & 0xffff) - 0x8000) | 0
}

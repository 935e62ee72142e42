import { createCipheriv, createDecipheriv } from 'node:crypto'
import { readU32, rtpHeaderLength } from '../rtp/rtp-header.ts'
import { estimateRoc } from '../rtp/sequence.ts'
import { AesCmKeystream } from './aes-cm.ts'
import { SrtpAuthError, SrtpKeyError, SrtpMalformedError, SrtpReplayError } from './errors.ts'
import { HmacSha1 } from './hmac-sha1.ts'
import { type DerivedKeys, deriveSessionKeys, type SessionKeys } from './kdf.ts'
import { ReplayWindow } from './replay-window.ts'
import { type SrtpSuite, type SrtpSuiteName, srtpSuite } from './suites.ts'

/**
 * Result codes of the in-place transforms: a non-negative value is the new packet length.
 * Negative codes avoid throwing on the packet path, where forged or replayed packets are routine.
 */
export const SrtpStatus = {
  /** The tag did not verify: drop and count (RFC 3711 §3.3 step 5). */
  authFailed: -1,
  /** Replayed or older than the window: drop and count (RFC 3711 §3.3.2). */
  replayed: -2,
  /** Too short, not version 2, or a malformed header. */
  malformed: -3,
  /** The buffer has no room behind the packet for the tag and SRTCP index. */
  noRoom: -4,
} as const
export type SrtpStatus = (typeof SrtpStatus)[keyof typeof SrtpStatus]

/** Options of an `SrtpContext`. */
export interface SrtpContextOptions {
  /** ROC of a stream when its first packet is seen (RFC 3711 §3.3.1; signalled ROC), default 0. */
  readonly initialRoc?: number
  /** Whether SRTCP payloads are encrypted (E flag, RFC 3711 §3.4); default true. */
  readonly encryptRtcp?: boolean
}

/**
 * Per-SSRC cryptographic state (RFC 3711 §3.2.1 "cryptographic context" minus the shared keys).
 *
 * Owned by: the `SrtpContext` that holds it; mutated only by that context's transforms, in the packet
 * loop that owns the context. On receive it is created only after a packet authenticates, so forged
 * packets with random SSRCs cannot grow the table.
 */
interface SsrcState {
  /** Rollover counter (RFC 3711 §3.2.1). */
  roc: number
  /** Highest sequence number processed, s_l (Appendix A). */
  sL: number
  /** Receive-side SRTP replay list. */
  readonly rtpWindow: ReplayWindow
  /** Send-side next SRTCP index (31 bits, RFC 3711 §3.4). */
  rtcpIndex: number
  /** Receive-side SRTCP replay list (separate from RTP's, §3.4). */
  readonly rtcpWindow: ReplayWindow
}

/** Drop counters of a receiving context. Owned by: the packet loop; read by metrics. */
export interface SrtpCounters {
  authFailures: number
  replayDrops: number
  malformed: number
}

/**
 * One direction of an SRTP session: keys derived once, per-SSRC ROC, sequence and replay state, and
 * in-place protect/unprotect for SRTP and SRTCP in the suites of `SRTP_SUITES` (RFC 3711, RFC 6188,
 * RFC 7714).
 *
 * @remarks
 * The SBC terminates SRTP per leg, so a relay holds two contexts per leg: one to unprotect what the
 * peer sends, one to protect what it sends to the peer. This is the pure TypeScript implementation:
 * the reference checked against libsrtp, and the fallback when the native addon is absent
 * (docs/adr/0040-media-packet-path.md). MKIs are not supported on the wire (SDES rarely uses them).
 *
 * Not reentrant: each context owns scratch buffers; use it from one thread/loop.
 */
export class SrtpContext {
  readonly suite: SrtpSuite
  /** Drop counters; owned by the caller's loop. */
  readonly counters: SrtpCounters = { authFailures: 0, replayDrops: 0, malformed: 0 }
  private readonly initialRoc: number
  private readonly encryptRtcp: boolean
  private readonly rtpKeys: SessionKeys
  private readonly rtcpKeys: SessionKeys
  private readonly rtpKs: AesCmKeystream | null
  private readonly rtcpKs: AesCmKeystream | null
  private readonly rtpMac: HmacSha1 | null
  private readonly rtcpMac: HmacSha1 | null
  private readonly gcmAlgo: 'aes-128-gcm' | 'aes-256-gcm'
  private readonly streams = new Map<number, SsrcState>()
  /** Scratch: the 16-octet AES-CM IV or the 12-octet GCM IV of the current packet. */
  private readonly iv = Buffer.alloc(16)
  private readonly gcmIv = Buffer.alloc(12)
  /** Scratch: SRTCP GCM additional data. */
  private readonly aad = Buffer.alloc(9216 + 4)

  /**
   * Builds a context from session keys (already derived, as RFC 7714's test vectors give them).
   * Most callers want `SrtpContext.fromMasterKey`.
   */
  constructor(suite: SrtpSuite | SrtpSuiteName, keys: DerivedKeys, options: SrtpContextOptions = {}) {
    this.suite = typeof suite === 'string' ? srtpSuite(suite) : suite
    const s = this.suite
    for (const k of [keys.rtp, keys.rtcp]) {
      if (k.encryptionKey.length !== s.keyLength || k.salt.length !== s.saltLength) {
        throw new SrtpKeyError(`session keys do not fit ${s.name}`)
      }
    }
    this.rtpKeys = keys.rtp
    this.rtcpKeys = keys.rtcp
    this.initialRoc = options.initialRoc ?? 0
    this.encryptRtcp = options.encryptRtcp ?? true
    this.gcmAlgo = s.keyLength === 32 ? 'aes-256-gcm' : 'aes-128-gcm'
    if (s.kind === 'cm') {
      this.rtpKs = new AesCmKeystream(keys.rtp.encryptionKey)
      this.rtcpKs = new AesCmKeystream(keys.rtcp.encryptionKey)
      this.rtpMac = new HmacSha1(keys.rtp.authenticationKey)
      this.rtcpMac = new HmacSha1(keys.rtcp.authenticationKey)
    } else {
      this.rtpKs = this.rtcpKs = null
      this.rtpMac = this.rtcpMac = null
    }
  }

  /** Derives the session keys (RFC 3711 §4.3) from an SDES master key and salt and builds a context. */
  static fromMasterKey(
    suite: SrtpSuite | SrtpSuiteName,
    masterKey: Uint8Array,
    masterSalt: Uint8Array,
    options?: SrtpContextOptions,
  ): SrtpContext {
    const s = typeof suite === 'string' ? srtpSuite(suite) : suite
    return new SrtpContext(s, deriveSessionKeys(s, masterKey, masterSalt), options)
  }

  /** Octets an SRTP packet grows by when protected. */
  get rtpOverhead(): number {
    return this.suite.rtpTagLength
  }

  /** Octets an SRTCP packet grows by when protected (tag + E‖index). */
  get rtcpOverhead(): number {
    return this.suite.rtcpTagLength + 4
  }

  /** Sets the ROC (and highest sequence) of a stream, e.g. from signalling; creates the state. */
  setRoc(ssrc: number, roc: number, seq = 0): void {
    const st = this.state(ssrc)
    st.roc = roc
    st.sL = seq
  }

  /** Sets the next SRTCP index this context sends for `ssrc`. */
  setRtcpIndex(ssrc: number, index: number): void {
    this.state(ssrc).rtcpIndex = index & 0x7fffffff
  }

  /** The ROC of a known stream, or undefined. */
  rocOf(ssrc: number): number | undefined {
    return this.streams.get(ssrc)?.roc
  }

  /**
   * Protects the RTP packet `buf[0, len)` in place (RFC 3711 §3.3; RFC 7714 §8) and returns the SRTP
   * length, or a negative `SrtpStatus`. `buf` must have `rtpOverhead` octets of room after `len`.
   */
  protectRtp(buf: Buffer, len: number): number {
    const hl = rtpHeaderLength(buf, len)
    if (hl < 0) return SrtpStatus.malformed
    const tagLen = this.suite.rtpTagLength
    if (buf.length < len + tagLen) return SrtpStatus.noRoom
    const seq = ((buf[2] as number) << 8) | (buf[3] as number)
    const ssrc = readU32(buf, 8)
    let st = this.streams.get(ssrc)
    let roc: number
    if (st === undefined) {
      st = this.state(ssrc)
      st.sL = seq
      roc = st.roc
    } else {
      roc = estimateRoc(st.sL, st.roc, seq)
      if (roc < 0) return SrtpStatus.replayed
      if (roc * 0x10000 + seq > st.roc * 0x10000 + st.sL) {
        st.roc = roc
        st.sL = seq
      }
    }
    if (this.rtpKs !== null && this.rtpMac !== null) {
      this.cmIv(this.rtpKeys.salt, ssrc, roc, seq)
      this.rtpKs.xor(this.iv, buf, hl, len)
      const tag = this.rtpMac.mac(buf, 0, len, true, roc)
      tag.copy(buf, len, 0, tagLen)
      return len + tagLen
    }
    this.gcmRtpIv(ssrc, roc, seq)
    const c = createCipheriv(this.gcmAlgo, this.rtpKeys.encryptionKey, this.gcmIv, { authTagLength: 16 })
    c.setAAD(buf.subarray(0, hl))
    const ct = c.update(buf.subarray(hl, len))
    c.final()
    ct.copy(buf, hl)
    c.getAuthTag().copy(buf, len)
    return len + tagLen
  }

  /**
   * Verifies and decrypts the SRTP packet `buf[0, len)` in place (RFC 3711 §3.3 receiver steps; RFC
   * 7714 §8.2) and returns the RTP length, or a negative `SrtpStatus` (counted in `counters`). The
   * replay check precedes authentication; the window advances only after it (RFC 3711 §3.3.2).
   */
  unprotectRtp(buf: Buffer, len: number): number {
    const tagLen = this.suite.rtpTagLength
    const end = len - tagLen
    const hl = end >= 12 && len <= buf.length ? rtpHeaderLength(buf, end) : -1
    if (hl < 0) {
      this.counters.malformed++
      return SrtpStatus.malformed
    }
    const seq = ((buf[2] as number) << 8) | (buf[3] as number)
    const ssrc = readU32(buf, 8)
    const st = this.streams.get(ssrc)
    const roc = st === undefined ? this.initialRoc : estimateRoc(st.sL, st.roc, seq)
    const index = roc * 0x10000 + seq
    if (roc < 0 || (st !== undefined && !st.rtpWindow.check(index))) {
      this.counters.replayDrops++
      return SrtpStatus.replayed
    }
    if (this.rtpKs !== null && this.rtpMac !== null) {
      const tag = this.rtpMac.mac(buf, 0, end, true, roc)
      if (!equalPrefix(tag, buf, end, tagLen)) {
        this.counters.authFailures++
        return SrtpStatus.authFailed
      }
      this.cmIv(this.rtpKeys.salt, ssrc, roc, seq)
      this.rtpKs.xor(this.iv, buf, hl, end)
    } else {
      this.gcmRtpIv(ssrc, roc, seq)
      const d = createDecipheriv(this.gcmAlgo, this.rtpKeys.encryptionKey, this.gcmIv, { authTagLength: 16 })
      d.setAAD(buf.subarray(0, hl))
      d.setAuthTag(buf.subarray(end, len))
      const pt = d.update(buf.subarray(hl, end))
      try {
        d.final()
      } catch {
        this.counters.authFailures++
        return SrtpStatus.authFailed
      }
      pt.copy(buf, hl)
    }
    const s = st ?? this.state(ssrc)
    s.rtpWindow.accept(index)
    if (st === undefined || index > s.roc * 0x10000 + s.sL) {
      s.roc = roc
      s.sL = seq
    }
    return end
  }

  /**
   * Protects the compound RTCP packet `buf[0, len)` in place (RFC 3711 §3.4; RFC 7714 §9) and returns
   * the SRTCP length, or a negative `SrtpStatus`. `buf` needs `rtcpOverhead` octets of room.
   */
  protectRtcp(buf: Buffer, len: number): number {
    if (len < 8 || (buf[0] as number) >>> 6 !== 2) return SrtpStatus.malformed
    const tagLen = this.suite.rtcpTagLength
    if (buf.length < len + 4 + tagLen) return SrtpStatus.noRoom
    const ssrc = readU32(buf, 4)
    const st = this.state(ssrc)
    const index = st.rtcpIndex
    st.rtcpIndex = (index + 1) & 0x7fffffff
    const eIndex = ((this.encryptRtcp ? 0x80000000 : 0) | index) >>> 0
    if (this.rtcpKs !== null && this.rtcpMac !== null) {
      if (this.encryptRtcp) {
        this.cmIv(this.rtcpKeys.salt, ssrc, 0, 0)
        // SRTCP index << 16 lands in octets 10–13 of the IV (RFC 3711 §4.1.1 with i = index).
        xorU32(this.iv, 10, index)
        this.rtcpKs.xor(this.iv, buf, 8, len)
      }
      buf.writeUInt32BE(eIndex, len)
      const tag = this.rtcpMac.mac(buf, 0, len + 4, false, 0)
      tag.copy(buf, len + 4, 0, tagLen)
      return len + 4 + tagLen
    }
    this.gcmRtcpIv(ssrc, index)
    const c = createCipheriv(this.gcmAlgo, this.rtcpKeys.encryptionKey, this.gcmIv, { authTagLength: 16 })
    if (this.encryptRtcp) {
      // RFC 7714 §9.1: AAD = first 8 octets ‖ E‖index; the rest is encrypted.
      buf.copy(this.aad, 0, 0, 8)
      this.aad.writeUInt32BE(eIndex, 8)
      c.setAAD(this.aad.subarray(0, 12))
      const ct = c.update(buf.subarray(8, len))
      c.final()
      ct.copy(buf, 8)
    } else {
      // RFC 7714 §9.2 (E=0): the whole packet ‖ E‖index is AAD; the plaintext is empty.
      buf.copy(this.aad, 0, 0, len)
      this.aad.writeUInt32BE(eIndex, len)
      c.setAAD(this.aad.subarray(0, len + 4))
      c.final()
    }
    c.getAuthTag().copy(buf, len)
    buf.writeUInt32BE(eIndex, len + 16)
    return len + 4 + tagLen
  }

  /**
   * Verifies and (when E=1) decrypts the SRTCP packet `buf[0, len)` in place and returns the RTCP
   * length, or a negative `SrtpStatus` (counted). Both E=1 and E=0 packets are accepted.
   */
  unprotectRtcp(buf: Buffer, len: number): number {
    const tagLen = this.suite.rtcpTagLength
    const end = len - tagLen - 4
    if (end < 8 || len > buf.length || (buf[0] as number) >>> 6 !== 2) {
      this.counters.malformed++
      return SrtpStatus.malformed
    }
    const ssrc = readU32(buf, 4)
    const gcm = this.rtcpKs === null
    // AES-CM: RTCP ‖ E‖index ‖ tag. GCM: RTCP' ‖ tag ‖ E‖index (RFC 7714 §9.1, Figure 22).
    const eIndexAt = gcm ? len - 4 : end
    const eIndex = readU32(buf, eIndexAt)
    const encrypted = eIndex >= 0x80000000
    const index = eIndex & 0x7fffffff
    const st = this.streams.get(ssrc)
    if (st !== undefined && !st.rtcpWindow.check(index)) {
      this.counters.replayDrops++
      return SrtpStatus.replayed
    }
    if (!gcm && this.rtcpKs !== null && this.rtcpMac !== null) {
      const tag = this.rtcpMac.mac(buf, 0, end + 4, false, 0)
      if (!equalPrefix(tag, buf, end + 4, tagLen)) {
        this.counters.authFailures++
        return SrtpStatus.authFailed
      }
      if (encrypted) {
        this.cmIv(this.rtcpKeys.salt, ssrc, 0, 0)
        xorU32(this.iv, 10, index)
        this.rtcpKs.xor(this.iv, buf, 8, end)
      }
    } else {
      this.gcmRtcpIv(ssrc, index)
      const d = createDecipheriv(this.gcmAlgo, this.rtcpKeys.encryptionKey, this.gcmIv, { authTagLength: 16 })
      d.setAuthTag(buf.subarray(end, end + 16))
      let pt: Buffer | null = null
      if (encrypted) {
        buf.copy(this.aad, 0, 0, 8)
        this.aad.writeUInt32BE(eIndex, 8)
        d.setAAD(this.aad.subarray(0, 12))
        pt = d.update(buf.subarray(8, end))
      } else {
        buf.copy(this.aad, 0, 0, end)
        this.aad.writeUInt32BE(eIndex, end)
        d.setAAD(this.aad.subarray(0, end + 4))
      }
      try {
        d.final()
      } catch {
        this.counters.authFailures++
        return SrtpStatus.authFailed
      }
      pt?.copy(buf, 8)
    }
    ;(st ?? this.state(ssrc)).rtcpWindow.accept(index)
    return end
  }

  /** Protects a copy of an RTP packet. @throws SrtpMalformedError */
  protect(packet: Uint8Array): Buffer {
    const buf = Buffer.alloc(packet.length + this.rtpOverhead)
    buf.set(packet)
    return buf.subarray(0, check(this.protectRtp(buf, packet.length)))
  }

  /** Unprotects a copy of an SRTP packet. @throws SrtpAuthError | SrtpReplayError | SrtpMalformedError */
  unprotect(packet: Uint8Array): Buffer {
    const buf = Buffer.from(packet)
    return buf.subarray(0, check(this.unprotectRtp(buf, buf.length)))
  }

  /** Protects a copy of an RTCP packet. @throws SrtpMalformedError */
  protectRtcpPacket(packet: Uint8Array): Buffer {
    const buf = Buffer.alloc(packet.length + this.rtcpOverhead)
    buf.set(packet)
    return buf.subarray(0, check(this.protectRtcp(buf, packet.length)))
  }

  /** Unprotects a copy of an SRTCP packet. @throws SrtpAuthError | SrtpReplayError | SrtpMalformedError */
  unprotectRtcpPacket(packet: Uint8Array): Buffer {
    const buf = Buffer.from(packet)
    return buf.subarray(0, check(this.unprotectRtcp(buf, buf.length)))
  }

  private state(ssrc: number): SsrcState {
    let st = this.streams.get(ssrc)
    if (st === undefined) {
      st = {
        roc: this.initialRoc,
        sL: 0,
        rtpWindow: new ReplayWindow(),
        rtcpIndex: 0,
        rtcpWindow: new ReplayWindow(),
      }
      this.streams.set(ssrc, st)
    }
    return st
  }

  /** IV = (k_s·2^16) ⊕ (SSRC·2^64) ⊕ (i·2^16) into `this.iv` (RFC 3711 §4.1.1). */
  private cmIv(salt: Buffer, ssrc: number, roc: number, seq: number): void {
    const iv = this.iv
    salt.copy(iv, 0, 0, 14)
    iv[14] = 0
    iv[15] = 0
    xorU32(iv, 4, ssrc)
    xorU32(iv, 8, roc)
    iv[12] = (iv[12] as number) ^ (seq >>> 8)
    iv[13] = (iv[13] as number) ^ (seq & 0xff)
  }

  /** IV = (0x0000 ‖ SSRC ‖ ROC ‖ SEQ) ⊕ salt (RFC 7714 §8.1). */
  private gcmRtpIv(ssrc: number, roc: number, seq: number): void {
    const iv = this.gcmIv
    this.rtpKeys.salt.copy(iv, 0, 0, 12)
    xorU32(iv, 2, ssrc)
    xorU32(iv, 6, roc)
    iv[10] = (iv[10] as number) ^ (seq >>> 8)
    iv[11] = (iv[11] as number) ^ (seq & 0xff)
  }

  /** IV = (0x0000 ‖ SSRC ‖ 0x0000 ‖ 0 ‖ SRTCP index) ⊕ salt (RFC 7714 §9.1). */
  private gcmRtcpIv(ssrc: number, index: number): void {
    const iv = this.gcmIv
    this.rtcpKeys.salt.copy(iv, 0, 0, 12)
    xorU32(iv, 2, ssrc)
    xorU32(iv, 8, index)
  }
}

/** Constant-time comparison of `tag[0, n)` with `buf[at, at + n)`. */
function equalPrefix(tag: Uint8Array, buf: Uint8Array, at: number, n: number): boolean {
  let diff = 0
  for (let i = 0; i < n; i++) diff |= (tag[i] as number) ^ (buf[at + i] as number)
  return diff === 0
}

function xorU32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (buf[off] as number) ^ ((v >>> 24) & 0xff)
  buf[off + 1] = (buf[off + 1] as number) ^ ((v >>> 16) & 0xff)
  buf[off + 2] = (buf[off + 2] as number) ^ ((v >>> 8) & 0xff)
  buf[off + 3] = (buf[off + 3] as number) ^ (v & 0xff)
}

/** Maps a status to its typed error for the allocating convenience methods. */
function check(n: number): number {
  if (n >= 0) return n
  if (n === SrtpStatus.authFailed) throw new SrtpAuthError()
  if (n === SrtpStatus.replayed) throw new SrtpReplayError()
  throw new SrtpMalformedError(
    n === SrtpStatus.noRoom ? 'no room for the SRTP trailer' : 'malformed RTP/RTCP packet',
  )
}

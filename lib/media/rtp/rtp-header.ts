import { RtpParseError } from './errors.ts'

/**
 * The fixed RTP header fields of RFC 3550 §5.1, plus where the payload starts.
 *
 * @remarks
 * A parser fills a caller-owned instance (`parseRtpHeader(buf, len, out)`), so the packet loop reuses
 * one object per worker and allocates nothing per packet. Owned by: whoever created it; mutated only
 * by `parseRtpHeader` and by the caller before `writeRtpHeader`. CSRC values are not copied: read
 * them from the buffer at `12 + 4 * i` when needed.
 */
export class RtpHeader {
  /** Always 2 after a successful parse. */
  version = 2
  /** P bit: the last payload octet counts padding octets (RFC 3550 §5.1). */
  padding = false
  /** X bit: a header extension follows the CSRC list (RFC 3550 §5.3.1). */
  extension = false
  /** CC: number of CSRC identifiers (0–15). */
  csrcCount = 0
  /** M bit. */
  marker = false
  /** PT, 7 bits. */
  payloadType = 0
  /** 16-bit sequence number. */
  sequenceNumber = 0
  /** 32-bit RTP timestamp (unsigned). */
  timestamp = 0
  /** 32-bit SSRC (unsigned). */
  ssrc = 0
  /** Profile-defined 16 bits of the header extension, when `extension`. */
  extensionProfile = 0
  /** Length of the header extension in octets including its 4-octet preamble, 0 when none. */
  extensionLength = 0
  /** Octet offset of the payload: 12 + 4·CC + extension length. This is what SRTP encrypts from. */
  headerLength = 12
  /** Octets of padding at the end of the payload (0 when `padding` is false). */
  paddingLength = 0
}

/** Smallest RTP header (RFC 3550 §5.1). */
export const RTP_FIXED_HEADER_LENGTH = 12

/**
 * Parses the RTP header of `buf[0, len)` into `out` and returns `out.headerLength`.
 *
 * @throws RtpParseError when the version is not 2 or the header runs past `len`.
 */
export function parseRtpHeader(buf: Uint8Array, len: number, out: RtpHeader): number {
  if (len < RTP_FIXED_HEADER_LENGTH || len > buf.length)
    throw new RtpParseError(`RTP packet too short: ${len} octets`)
  const b0 = buf[0] as number
  const b1 = buf[1] as number
  const version = b0 >>> 6
  if (version !== 2) throw new RtpParseError(`RTP version ${version}, expected 2`)
  out.version = version
  out.padding = (b0 & 0x20) !== 0
  out.extension = (b0 & 0x10) !== 0
  out.csrcCount = b0 & 0x0f
  out.marker = (b1 & 0x80) !== 0
  out.payloadType = b1 & 0x7f
  out.sequenceNumber = ((buf[2] as number) << 8) | (buf[3] as number)
  out.timestamp = readU32(buf, 4)
  out.ssrc = readU32(buf, 8)
  let off = RTP_FIXED_HEADER_LENGTH + 4 * out.csrcCount
  if (off > len)
    throw new RtpParseError(`RTP CSRC list runs past the packet (${out.csrcCount} CSRCs, ${len} octets)`)
  out.extensionProfile = 0
  out.extensionLength = 0
  if (out.extension) {
    if (off + 4 > len) throw new RtpParseError('RTP header extension preamble runs past the packet')
    out.extensionProfile = ((buf[off] as number) << 8) | (buf[off + 1] as number)
    // RFC 3550 §5.3.1: length counts 32-bit words after the 4-octet preamble.
    const words = ((buf[off + 2] as number) << 8) | (buf[off + 3] as number)
    out.extensionLength = 4 + 4 * words
    off += out.extensionLength
    if (off > len) throw new RtpParseError('RTP header extension runs past the packet')
  }
  out.headerLength = off
  out.paddingLength = 0
  if (out.padding) {
    const pad = buf[len - 1] as number
    if (pad === 0 || off + pad > len) throw new RtpParseError(`RTP padding count ${pad} is invalid`)
    out.paddingLength = pad
  }
  return off
}

/**
 * Returns the RTP header length (12 + 4·CC + extension) of `buf[0, len)` without filling an object,
 * or -1 when the header is malformed. The SRTP transforms use this on the hot path.
 */
export function rtpHeaderLength(buf: Uint8Array, len: number): number {
  if (len < RTP_FIXED_HEADER_LENGTH) return -1
  const b0 = buf[0] as number
  if (b0 >>> 6 !== 2) return -1
  let off = RTP_FIXED_HEADER_LENGTH + 4 * (b0 & 0x0f)
  if (b0 & 0x10) {
    if (off + 4 > len) return -1
    off += 4 + 4 * (((buf[off + 2] as number) << 8) | (buf[off + 3] as number))
  }
  return off > len ? -1 : off
}

/**
 * Writes the fixed header (and CSRC count, X and P bits as flags only) of `h` into `buf` at 0 and
 * returns 12. CSRCs and the extension body, when present, are the caller's to write after it.
 */
export function writeRtpHeader(buf: Uint8Array, h: RtpHeader): number {
  if (buf.length < RTP_FIXED_HEADER_LENGTH) throw new RtpParseError('buffer too short for an RTP header')
  buf[0] = (2 << 6) | (h.padding ? 0x20 : 0) | (h.extension ? 0x10 : 0) | (h.csrcCount & 0x0f)
  buf[1] = (h.marker ? 0x80 : 0) | (h.payloadType & 0x7f)
  buf[2] = (h.sequenceNumber >>> 8) & 0xff
  buf[3] = h.sequenceNumber & 0xff
  writeU32(buf, 4, h.timestamp)
  writeU32(buf, 8, h.ssrc)
  return RTP_FIXED_HEADER_LENGTH
}

/**
 * Tells RTCP from RTP on a muxed port (RFC 5761 §4): the second octet of RTCP is its packet type
 * (SR 200, RR 201, ...), which falls in 192–223; RTP payload types 64–95 would collide, so an octet in
 * 192–223 (marker bit + PT 64–95) means RTCP.
 */
export function isRtcp(buf: Uint8Array, len: number): boolean {
  if (len < 2) return false
  const pt = buf[1] as number
  return pt >= 192 && pt <= 223
}

/** Reads a big-endian unsigned 32-bit integer. */
export function readU32(buf: Uint8Array, off: number): number {
  return (
    (((buf[off] as number) << 24) |
      ((buf[off + 1] as number) << 16) |
      ((buf[off + 2] as number) << 8) |
      (buf[off + 3] as number)) >>>
    0
  )
}

/** Writes a big-endian unsigned 32-bit integer. */
export function writeU32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 24) & 0xff
  buf[off + 1] = (v >>> 16) & 0xff
  buf[off + 2] = (v >>> 8) & 0xff
  buf[off + 3] = v & 0xff
}

import type { RtpMap } from '../../lib/sdp/attributes.ts'
import type { SrtpKeying } from './relay/relay.ts'
import type { StreamPair } from './relay/stream-pair.ts'

/** An a=crypto line as the NG handler keeps it until its answer picks one. */
export interface OfferedCrypto {
  readonly tag: number
  readonly suite: string
  readonly keyParams: string
}

/** The SRTP state of one party and media section: only SDES calls hold one. */
interface PartySrtp {
  cryptoIn: SrtpKeying | null
  cryptoOut: (SrtpKeying & { tag: number }) | null
  offeredOut: Map<number, SrtpKeying> | null
  offeredIn: readonly OfferedCrypto[]
}

/** Shared empty list, so that a plain RTP party holds no empty array of its own. */
export const NO_CRYPTOS: readonly OfferedCrypto[] = Object.freeze([])

const MUX = 1
const TIMED_OUT = 2
const SIDE_1 = 4
const SILENT = 8
const HELD = 16

/**
 * One party's view of one media section of a call, held by the NG handler for the whole call.
 *
 * @remarks
 * Shaped for memory (it is the most numerous record of the session table): the four SRTP fields live
 * in one {@link PartySrtp} object that plain RTP parties do not have (3 fields = 24 B less each), and
 * the booleans share one integer, and the relay pair hangs off the two parties that use it. Accessors keep the handler's code reading plain properties.
 */
export class PartyMedia {
  /** The media section (m= line index). */
  readonly index: number
  /** `audio`, `video`… (a shared string: the caller interns it). */
  readonly type: string
  /** Our RTP port toward the party, and our RTCP port (undefined when muxed from the start). */
  readonly rtpPort: number
  readonly rtcpPort: number | undefined
  /**
   * The party's SDP address (after `media address` / `SIP source address`), null while unknown, and
   * its RTP and RTCP ports. Inline fields rather than {address, port} objects: 40 B each, 3 per party.
   */
  peerAddress: string | null = null
  peerPort = 0
  /** The party's RTCP address: a=rtcp's, else `peerAddress` (the same string, not a copy). */
  peerRtcpAddress: string | null = null
  peerRtcpPort = 0
  /** The transport protocol this party speaks (from its SDP, or what we offered it). */
  proto = 'RTP/AVP'
  /** The party's codecs (payload type → rtpmap) in its SDP order. */
  codecs: readonly RtpMap[] = []
  /**
   * The relay pair this section uses, shared with the other party's PartyMedia (each knows its side):
   * no separate per-call list of pairs.
   */
  pair: StreamPair | null = null
  private srtp: PartySrtp | null = null
  private flags = 0

  constructor(index: number, type: string, rtpPort: number, rtcpPort: number | undefined) {
    this.index = index
    this.type = type
    this.rtpPort = rtpPort
    this.rtcpPort = rtcpPort
  }

  /** Which endpoint of `pair` is this party's: 0 for the party whose offer created it. */
  get side(): 0 | 1 {
    return this.flags & SIDE_1 ? 1 : 0
  }

  /** Binds the party to its endpoint of a relay pair. */
  attach(pair: StreamPair, side: 0 | 1): void {
    this.pair = pair
    this.flags = side === 1 ? this.flags | SIDE_1 : this.flags & ~SIDE_1
  }

  /** RTCP muxed with this party. */
  get mux(): boolean {
    return (this.flags & MUX) !== 0
  }
  set mux(v: boolean) {
    this.flags = v ? this.flags | MUX : this.flags & ~MUX
  }

  /**
   * The party declared it sends no media (`recvonly` or `inactive` in its last SDP, RFC 3264 §5.1:
   * hold; c=0.0.0.0), or the section was disabled (port 0): its silence is no media timeout.
   */
  get silent(): boolean {
    return (this.flags & SILENT) !== 0
  }
  set silent(v: boolean) {
    this.flags = v ? this.flags | SILENT : this.flags & ~SILENT
  }

  /**
   * The party's last SDP put this stream on hold: `sendonly`, `recvonly` or `inactive` (RFC 3264
   * §5.1, §8.4), or `c=0.0.0.0`/`::` (RFC 2543). Not set for a disabled section (port 0): a call that
   * dropped its video is not on hold. A held stream puts its media section, both parties' streams of
   * it, under the hold timeout.
   */
  get held(): boolean {
    return (this.flags & HELD) !== 0
  }
  set held(v: boolean) {
    this.flags = v ? this.flags | HELD : this.flags & ~HELD
  }

  /** The party went silent and was reported (media timeout). */
  get timedOut(): boolean {
    return (this.flags & TIMED_OUT) !== 0
  }
  set timedOut(v: boolean) {
    this.flags = v ? this.flags | TIMED_OUT : this.flags & ~TIMED_OUT
  }

  /** The party's own key (from its a=crypto): unprotects what it sends. */
  get cryptoIn(): SrtpKeying | null {
    return this.srtp?.cryptoIn ?? null
  }
  set cryptoIn(v: SrtpKeying | null) {
    if (v !== null || this.srtp) this.srtpState().cryptoIn = v
  }

  /** Our key toward the party (our a=crypto to it): protects what we send it. */
  get cryptoOut(): (SrtpKeying & { tag: number }) | null {
    return this.srtp?.cryptoOut ?? null
  }
  set cryptoOut(v: (SrtpKeying & { tag: number }) | null) {
    if (v !== null || this.srtp) this.srtpState().cryptoOut = v
  }

  /** Keys we offered the party, by crypto tag, until its answer picks one; null for plain RTP. */
  get offeredOut(): Map<number, SrtpKeying> | null {
    return this.srtp?.offeredOut ?? null
  }
  set offeredOut(v: Map<number, SrtpKeying> | null) {
    if (v !== null || this.srtp) this.srtpState().offeredOut = v
  }

  /** The party's a=crypto lines, until our answer picks one (the shared empty list when none). */
  get offeredIn(): readonly OfferedCrypto[] {
    return this.srtp?.offeredIn ?? NO_CRYPTOS
  }
  set offeredIn(v: readonly OfferedCrypto[]) {
    if (v.length > 0 || this.srtp) this.srtpState().offeredIn = v.length > 0 ? v : NO_CRYPTOS
  }

  /**
   * What an offer or answer negotiates for this party (addresses, protocol, codecs, mux, hold, SDES
   * state), and a function that puts it back: a refused re-offer leaves the session as it was (RFC
   * 3264 §8: a refused hold leaves the call off hold). The relay pair, the side and the media
   * timeout mark are not negotiated and stay.
   */
  saved(): () => void {
    const { peerAddress, peerPort, peerRtcpAddress, peerRtcpPort, proto, codecs } = this
    const negotiated = this.flags & (MUX | SILENT | HELD)
    const srtp = this.srtp ? { ...this.srtp } : null
    return () => {
      this.peerAddress = peerAddress
      this.peerPort = peerPort
      this.peerRtcpAddress = peerRtcpAddress
      this.peerRtcpPort = peerRtcpPort
      this.proto = proto
      this.codecs = codecs
      this.flags = (this.flags & ~(MUX | SILENT | HELD)) | negotiated
      this.srtp = srtp
    }
  }

  private srtpState(): PartySrtp {
    this.srtp ??= { cryptoIn: null, cryptoOut: null, offeredOut: null, offeredIn: NO_CRYPTOS }
    return this.srtp
  }
}

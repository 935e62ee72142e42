import { isIP } from 'node:net'
import {
  type Crypto,
  type Direction,
  Directions,
  formatCandidate,
  formatCrypto,
  formatRtcp,
  type IceCandidate,
} from './attributes.ts'
import { SdpError, SdpErrorCode } from './errors.ts'
import type { MediaSection, SdpLines, SessionDescription } from './session-description.ts'

/**
 * Rewriting helpers the media pod applies to the SDP it relays, the operations rtpengine performs for
 * an `offer`/`answer`. Each one edits in place and marks the description modified, so it serialises
 * canonically.
 */

function addrType(address: string): 'IP4' | 'IP6' {
  const v = isIP(address)
  if (v === 0) throw new SdpError(SdpErrorCode.invalidArgument, `not an IP address: '${address}'`)
  return v === 6 ? 'IP6' : 'IP4'
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new SdpError(SdpErrorCode.invalidArgument, `invalid port ${port}`)
  }
}

/** How a rewritten media section advertises RTCP. */
export type RtcpAdvertisement =
  /** RTCP muxed on the RTP port (RFC 5761 §5.1.3): `a=rtcp-mux` and `a=rtcp:<rtp port>`. */
  | { mux: true }
  /** RTCP on its own port (RFC 3605): `a=rtcp:<port>`; no a=rtcp-mux. */
  | { mux: false; port: number }

/**
 * Points one media section at the relay: media-level `c=` to `address`, the m= port to `port` (with
 * no port count), and RTCP as given (when given). The media-level c= always takes precedence over a session c=
 * (RFC 8866 §5.7), so the session line may stay as it was.
 */
export function setMediaEndpoint(
  media: MediaSection,
  address: string,
  port: number,
  rtcp?: RtcpAdvertisement,
): void {
  checkPort(port)
  media.setConnection(address, addrType(address))
  media.port = port
  // One port (and its RTCP): a port count of the section's author (RFC 8866 §5.14) does not apply.
  media.portCount = undefined
  if (rtcp === undefined) return
  if (rtcp.mux) {
    setRtcpMux(media, true)
    media.setAttribute('rtcp', formatRtcp({ port, address: undefined, addrType: undefined }))
  } else {
    checkPort(rtcp.port)
    setRtcpMux(media, false)
    media.setAttribute('rtcp', formatRtcp({ port: rtcp.port, address: undefined, addrType: undefined }))
  }
}

/** rtpengine's `replace: session-connection`: rewrites the session-level c= if there is one. */
export function replaceSessionConnection(sdp: SessionDescription, address: string): void {
  if (sdp.connection) sdp.setConnection(address, addrType(address))
}

/** rtpengine's `replace: origin`: rewrites the address of the o= line. */
export function replaceOrigin(sdp: SessionDescription, address: string): void {
  sdp.setOrigin({ address, addrType: addrType(address) })
}

/** Sets the transport protocol of a media section (`RTP/AVP` ↔ `RTP/SAVP`, ...). */
export function setProto(media: MediaSection, proto: string): void {
  if (!/^[A-Za-z0-9/_.-]+$/.test(proto))
    throw new SdpError(SdpErrorCode.invalidArgument, `invalid proto '${proto}'`)
  media.proto = proto
}

/** Replaces all a=crypto lines of a media section with `list` (none removes SDES). */
export function setCryptos(media: MediaSection, list: readonly Crypto[]): void {
  media.removeAttributes('crypto')
  for (const c of list) media.addAttribute('crypto', formatCrypto(c))
}

const ICE_ATTRIBUTES = [
  'ice-ufrag',
  'ice-pwd',
  'ice-lite',
  'ice-options',
  'ice-mismatch',
  'candidate',
  'remote-candidates',
  'end-of-candidates',
] as const

/** Strips every ICE attribute at session and media level (rtpengine `ICE: remove`). */
export function removeIce(sdp: SessionDescription): void {
  for (const part of [sdp, ...sdp.media] as SdpLines[]) {
    for (const a of ICE_ATTRIBUTES) part.removeAttributes(a)
  }
}

/**
 * Strips the session-level ICE attributes (credentials, `ice-options`, ...; `ice-lite` is
 * setIceLite's): with `ICE: force` the relay's own credentials go in each media section, and a
 * party's session-level ones, which apply to every section without its own (RFC 8839 §5.4), must
 * not reach the other party.
 */
export function removeSessionIce(sdp: SessionDescription): void {
  for (const a of ICE_ATTRIBUTES) if (a !== 'ice-lite') sdp.removeAttributes(a)
}

/**
 * Sets or clears the session-level `a=ice-lite` (RFC 8839 §5.3: "ice-lite ... is a session-level
 * attribute only").
 */
export function setIceLite(sdp: SessionDescription, on: boolean): void {
  sdp.removeAttributes('ice-lite')
  for (const m of sdp.media) m.removeAttributes('ice-lite')
  if (on) sdp.addAttribute('ice-lite')
}

/**
 * Replaces a media section's ICE credentials and candidates with the relay's own (rtpengine `ICE:
 * force`): the relay becomes the only candidate.
 */
export function setIceCandidates(
  media: MediaSection,
  credentials: { ufrag: string; pwd: string },
  list: readonly IceCandidate[],
): void {
  for (const a of ICE_ATTRIBUTES) if (a !== 'ice-lite') media.removeAttributes(a)
  media.addAttribute('ice-ufrag', credentials.ufrag)
  media.addAttribute('ice-pwd', credentials.pwd)
  for (const c of list) media.addAttribute('candidate', formatCandidate(c))
}

/** Adds or removes `a=rtcp-mux` (RFC 5761 §5.1.1). */
export function setRtcpMux(media: MediaSection, on: boolean): void {
  if (on) media.setAttribute('rtcp-mux')
  else media.removeAttributes('rtcp-mux')
}

/** Sets the direction attribute of a part (session or media), replacing any other one. */
export function setDirection(part: SdpLines, dir: Direction): void {
  for (const d of Directions) if (d !== dir) part.removeAttributes(d)
  part.setAttribute(dir)
}

/** Sets `a=ptime` (milliseconds, RFC 8866 §6.4). */
export function setPtime(media: MediaSection, ms: number): void {
  if (!Number.isInteger(ms) || ms <= 0 || ms > 1000) {
    throw new SdpError(SdpErrorCode.invalidArgument, `invalid ptime ${ms}`)
  }
  media.setAttribute('ptime', String(ms))
}

/**
 * The `o=` session version of the SDP the SBC sends on each leg (RFC 3264 §8: every new SDP a party
 * sends in a session carries the version of its previous one plus one). A B2BUA is that party on
 * both legs: what it sends on leg Y is the other peer's SDP rewritten by the media pod, plus SDP of
 * its own (re-anchoring, signalling-pod/src/media/call-reanchor.ts). Passing the peers' versions
 * through keeps each peer's sequence only as long as the SBC adds nothing of its own; once it does,
 * a peer's next SDP repeats a version the other peer has already seen. So the version last sent on a
 * leg is stored with the leg (`DialogLeg.sdpVersion`) and every later SDP on that leg gets it plus
 * one; while it is unknown (late offer), the peer's own version passes and becomes the stored one.
 * docs/b2bua.md, "SDP versions".
 */
import { SessionDescription } from '../../../lib/sdp/session-description.ts'
import type { DialogLeg } from '../../../lib/sip/dialog/dialog-state.ts'

/** The version field of the `o=` line (RFC 8866 §5.2: username, session id, version, ...). */
const ORIGIN_VERSION = /^o=\S+ \S+ (\d{1,20}) /m

/** The `o=` session version of `sdp`, undefined when it has no well-formed `o=` line. */
export function sdpVersionOf(sdp: Buffer): string | undefined {
  return ORIGIN_VERSION.exec(sdp.toString('latin1'))?.[1]
}

/** `version` plus one, in decimal (versions may exceed 2^53). */
export function nextSdpVersion(version: string): string {
  return (BigInt(version) + 1n).toString()
}

/**
 * The version the next SDP sent on `leg` carries: the stored one plus one, else (unknown) the
 * version `sdp` has already. Undefined when neither is known (no `o=` line).
 */
export function versionToward(leg: DialogLeg, sdp: Buffer): string | undefined {
  return leg.sdpVersion !== undefined ? nextSdpVersion(leg.sdpVersion) : sdpVersionOf(sdp)
}

/** `sdp` with its `o=` session version set to `version`; unchanged when it already has it. */
export function withSdpVersion(sdp: Buffer, version: string | undefined): Buffer {
  if (version === undefined || sdpVersionOf(sdp) === version) return sdp
  const parsed = SessionDescription.parse(sdp.toString('utf8'))
  parsed.setOrigin({ sessionVersion: version })
  return Buffer.from(parsed.toString(), 'utf8')
}

/**
 * The version of an SDP of the SBC's own on `leg` (re-anchoring: the peer's SDP with another media
 * pod's address): the stored one plus one, else (unknown) the version of the peer's `sdp` plus one,
 * as it differs from what the leg saw last. Undefined without either.
 */
export function ownVersionToward(leg: DialogLeg, sdp: Buffer): string | undefined {
  const base = leg.sdpVersion ?? sdpVersionOf(sdp)
  return base === undefined ? undefined : nextSdpVersion(base)
}

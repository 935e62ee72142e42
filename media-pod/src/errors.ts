import { SbcError } from '../../lib/errors.ts'

/** Stable codes of the media pod's own errors (docs/errors.md); NG replies carry their messages. */
export const MediaPodErrorCode = {
  /** `direction`/`interface` names a realm this media pod does not serve. */
  unknownRealm: 'SBC_ERR_MEDIA_UNKNOWN_REALM',
  /** A port the allocator handed out could not be bound (another process holds it). */
  portInUse: 'SBC_ERR_MEDIA_PORT_IN_USE',
  /** An `answer` (or re-offer) names a call or tag that has no session. */
  unknownCall: 'SBC_ERR_MEDIA_UNKNOWN_CALL',
  /** The SDP asks for something we cannot relay (no supported crypto suite, DTLS only, ...). */
  unsupported: 'SBC_ERR_MEDIA_UNSUPPORTED',
  /** The pod is draining and takes no new calls. */
  draining: 'SBC_ERR_MEDIA_DRAINING',
  /**
   * The node cannot take another relay socket (file descriptors, the kernel's epoll watch limit,
   * memory, the native relay's leg table): answered as rtpengine's `load limit` to the offer of a new
   * call, so signalling or an NG client tries another pod.
   */
  capacity: 'SBC_ERR_MEDIA_CAPACITY',
  /**
   * The reply to an offer would not fit in one NG datagram (65,507 octets over IPv4): the offer is
   * undone (a new call's session released, a re-offer's changes put back) and refused instead.
   */
  replyTooLarge: 'SBC_ERR_MEDIA_REPLY_TOO_LARGE',
  /** A bug or a failed system call. */
  internal: 'SBC_ERR_MEDIA_INTERNAL',
} as const
export type MediaPodErrorCode = (typeof MediaPodErrorCode)[keyof typeof MediaPodErrorCode]

/** An error of the media pod's control side, with one of `MediaPodErrorCode`. */
export class MediaPodError extends SbcError {}

/**
 * `SBC_ERR_MEDIA_CAPACITY` from a relay (native or dgram) that cannot take another socket on
 * `address`. "load limit" leads the reason: what signalling (media-anchor.ts CAPACITY_REASON) and NG
 * clients read as capacity, not as a refused SDP; and no "bind" in it, on which signalling's
 * busy-port retry would offer the call again.
 */
export class RelayCapacityError extends MediaPodError {
  constructor(address: string, why: string, options?: ErrorOptions) {
    super(
      MediaPodErrorCode.capacity,
      `load limit: the relay cannot take another socket on ${address}: ${why}`,
      options,
    )
  }
}

/**
 * `SBC_ERR_MEDIA_PORT_IN_USE`: bind(2) said EADDRINUSE for a port the allocator handed out (another
 * process holds it). Names the address and port so the offer can skip that allocation and retry.
 */
export class PortInUseError extends MediaPodError {
  readonly address: string
  readonly port: number

  constructor(address: string, port: number, options?: ErrorOptions) {
    super(
      MediaPodErrorCode.portInUse,
      `cannot bind ${address}:${port}: EADDRINUSE (held by another process)`,
      options,
    )
    this.address = address
    this.port = port
  }
}

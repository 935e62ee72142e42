import type { SrtpSuiteName } from '../../../lib/media/srtp/suites.ts'
import type { IceCredentials } from '../../../lib/media/stun/ice-lite.ts'

/**
 * The packet path as the control side of a media pod sees it: one {@link RelayEndpoint} per party of
 * a call and media section (rtpengine's "packet stream"), bound on the party's realm address with the
 * port(s) the allocator handed out, paired with the endpoint of the other party. Two backends
 * implement it: the native worker (media-pod/native, ADR 0040) and the TypeScript `dgram` fallback
 * (`dgram-relay.ts`, the slow path). `relay-set.ts` chooses per call.
 */

/** A UDP transport address. */
export interface PeerAddress {
  readonly address: string
  readonly port: number
}

/** SDES keying of one direction (RFC 4568): master key and salt of `suite`. */
export interface SrtpKeying {
  readonly suite: SrtpSuiteName
  readonly masterKey: Uint8Array
  readonly masterSalt: Uint8Array
}

/**
 * Latching (symmetric RTP, RFC 4961): `off` sends to the SDP address only; `once` sends to the SDP
 * address until the first valid (and, with SRTP, authenticated) packet arrives, then to that packet's
 * source for good; `always` follows the source of every valid packet (`media handover`).
 */
export type LatchMode = 'off' | 'once' | 'always'

/** What an endpoint does with the packets of its party. */
export interface EndpointConfig {
  /** Where RTP (and muxed RTCP) goes: the party's SDP address, null while unknown. */
  readonly rtpPeer: PeerAddress | null
  /** Where RTCP goes when not muxed (a=rtcp or port + 1). */
  readonly rtcpPeer: PeerAddress | null
  /** RTCP travels on the RTP port toward and from this party (RFC 5761). */
  readonly mux: boolean
  readonly latch: LatchMode
  /** After latching, drop packets from any other source (`strict source`). */
  readonly strict: boolean
  /** Unprotects what the party sends (the key of the party's a=crypto); null = plain RTP. */
  readonly srtpIn: SrtpKeying | null
  /** Protects what is sent to the party (the key of our a=crypto toward it); null = plain RTP. */
  readonly srtpOut: SrtpKeying | null
  /** RTP payload type rewrite for packets sent to this party (the other party's PT → this one's). */
  readonly ptMap: ReadonlyMap<number, number>
  /** Clock rate of the first codec, for the jitter computed from RTP timestamps. */
  readonly clockRate: number
  /**
   * Our ICE credentials toward this party (ICE-lite, RFC 8445 §2.5): its STUN Binding requests are
   * answered, not relayed, and a check with USE-CANDIDATE latches its address. null = no ICE.
   */
  readonly ice: IceCredentials | null
}

/** Counters of one endpoint (what its party sent in, what was sent out to it). */
export interface EndpointStats {
  packetsIn: number
  bytesIn: number
  packetsOut: number
  bytesOut: number
  rtcpPacketsIn: number
  authFailures: number
  replayDrops: number
  dropped: number
  /** Milliseconds since the last packet from the party; -1 before the first. */
  idleMs: number
  /** Cumulative RTP packets lost (RFC 3550 A.3), 0 when the backend does not compute it. */
  lost: number
  /** Interarrival jitter in timestamp units (RFC 3550 A.8), 0 when not computed. */
  jitter: number
  /** ICE connectivity checks answered with a success response. */
  iceChecks: number
  /** STUN requests that failed (bad USERNAME or MESSAGE-INTEGRITY: 400/401 sent; bad FINGERPRINT or malformed: dropped). */
  iceFailures: number
  /** Where packets to the party go now (learnt or signalled). */
  peer: PeerAddress | null
}

/** The counters of an endpoint that relayed nothing (none yet, or a closed pair). */
export function zeroStats(): EndpointStats {
  return {
    packetsIn: 0,
    bytesIn: 0,
    packetsOut: 0,
    bytesOut: 0,
    rtcpPacketsIn: 0,
    authFailures: 0,
    replayDrops: 0,
    dropped: 0,
    idleMs: -1,
    lost: 0,
    jitter: 0,
    iceChecks: 0,
    iceFailures: 0,
    peer: null,
  }
}

/** One party's sockets on the relay. */
export interface RelayEndpoint {
  readonly rtpPort: number
  /** The separate RTCP port, when one was allocated. */
  readonly rtcpPort: number | undefined
  configure(config: EndpointConfig): void
  stats(): EndpointStats
  /** `stats().idleMs` alone: what the media timeout reads every second for every endpoint. */
  idleMs(): number
  /** Called about once a second by the control loop (latching lock-in, idle bookkeeping). */
  tick(): void
  close(): void
}

/** What the backend needs to bind one endpoint. */
export interface EndpointSpec {
  readonly bindAddress: string
  readonly rtpPort: number
  readonly rtcpPort: number | undefined
  /** Endpoints of one call share an affinity, so a multi-worker backend keeps them together. */
  readonly affinity?: number
}

/** A relay implementation. */
export interface RelayBackend {
  readonly name: 'native' | 'dgram'
  /** Binds the endpoint's sockets. */
  open(spec: EndpointSpec): Promise<RelayEndpoint>
  /** What arrives on `a` leaves through `b` toward b's party, and the other way round. */
  pair(a: RelayEndpoint, b: RelayEndpoint): void
  /** Whether this backend can relay between two endpoints configured so (else use the fallback). */
  supports(a: EndpointConfig, b: EndpointConfig): boolean
  close(): Promise<void>
}

/** A configuration that sends nothing: before the first offer programs the endpoint. */
export const IDLE_CONFIG: EndpointConfig = {
  rtpPeer: null,
  rtcpPeer: null,
  mux: false,
  latch: 'once',
  strict: false,
  srtpIn: null,
  srtpOut: null,
  ptMap: new Map(),
  clockRate: 8000,
  ice: null,
}

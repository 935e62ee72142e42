import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

/** Where node-gyp puts the addon (`media-pod/native/build/Release`). */
export const MEDIA_ADDON_PATH = fileURLToPath(new URL('./build/Release/kube_sbc_media.node', import.meta.url))

/** An opaque libsrtp session (one direction), freed when garbage-collected. */
export type NativeSrtpHandle = { readonly __brand: 'NativeSrtpHandle' }
/** An opaque relay: a table of legs and its packet threads (workers), each owning some of the legs. */
export type NativeRelayHandle = { readonly __brand: 'NativeRelayHandle' }
/** An opaque load generator with its sink socket (benchmarks and tests only). */
export type NativeLoadgenHandle = { readonly __brand: 'NativeLoadgenHandle' }

/**
 * SRTP implementations inside the addon. `openssl` (src/ossl-srtp.c) is the packet-path default:
 * Debian's libsrtp2 is built on NSS and costs several µs per AES-CM packet (docs/benchmarks/media.md);
 * `libsrtp` stays as the interop reference.
 */
export const SrtpEngine = { libsrtp: 0, openssl: 1 } as const
export type SrtpEngine = (typeof SrtpEngine)[keyof typeof SrtpEngine]

/** Latching modes of a relay leg (symmetric RTP). */
export const Latch = {
  /** The peer is what control set; sources are not learnt. */
  off: 0,
  /** Learn the peer from the first packet that parses (and authenticates, with SRTP); keep it. */
  once: 1,
  /** Follow the source of every valid packet (NAT rebinding, mobile peers). */
  always: 2,
} as const
export type Latch = (typeof Latch)[keyof typeof Latch]

/** Counters of one relay leg; owned by the worker thread, read as a snapshot. */
export interface NativeLegStats {
  packetsIn: number
  bytesIn: number
  packetsOut: number
  bytesOut: number
  authFailures: number
  replayDrops: number
  dropped: number
  /** Milliseconds since the last packet arrived, -1 before the first (media timeout input). */
  idleMs: number
  /** RTP packets lost (RFC 3550 A.3, from sequence numbers); negative when duplicates arrived. */
  lost: number
  /** Interarrival jitter (RFC 3550 A.8) in RTP timestamp units of the leg's clock rate. */
  jitter: number
  /** ICE connectivity checks answered with a success response (legs with ICE credentials). */
  iceChecks: number
  /** STUN datagrams that failed: 400/401 answered, or malformed / bad FINGERPRINT and dropped. */
  iceFailures: number
  /** A check with USE-CANDIDATE set the peer (until control sets one again). */
  nominated: boolean
  peerAddress?: string
  peerPort?: number
}

/** The worker's verdict on one STUN datagram (`stunAnswer`), as `IceLiteVerdict` of lib/media/stun. */
export const StunVerdict = { success: 0, error: 1, drop: 2, dropFailed: 3 } as const
export type StunVerdict = (typeof StunVerdict)[keyof typeof StunVerdict]

/** Result of one load generator run. */
export interface LoadgenResult {
  sent: number
  received: number
  sendErrors: number
  elapsedMs: number
  p50Us?: number
  p99Us?: number
  maxUs?: number
  /** Every packet's latency in µs, sorted (when any arrived). */
  latencies?: Uint32Array
  /** With `lateUs`: [send time µs since the run's first packet, latency µs] per late packet, flat. */
  late?: number[]
}

/**
 * The N-API surface of `kube_sbc_media.node` (media-pod/native/src). Transform functions return the
 * new length, or minus libsrtp's `srtp_err_status_t` (-7 auth failure, -9/-10 replay), or -4 when the
 * buffer has no room for the trailer (`SRTP_MAX_TRAILER_LEN` = 144 octets after `len`).
 */
export interface MediaAddon {
  /** A session for one direction; `engine` picks libsrtp (default) or the OpenSSL transforms. */
  srtpCreate(profile: number, keyAndSalt: Buffer, outbound: boolean, engine?: SrtpEngine): NativeSrtpHandle
  srtpProtect(s: NativeSrtpHandle, buf: Buffer, len: number): number
  srtpUnprotect(s: NativeSrtpHandle, buf: Buffer, len: number): number
  srtpProtectRtcp(s: NativeSrtpHandle, buf: Buffer, len: number): number
  srtpUnprotectRtcp(s: NativeSrtpHandle, buf: Buffer, len: number): number
  /** A relay with `workers` (1–64, default 1) packet threads, each owning the legs bound to it. */
  relayCreate(workers?: number): NativeRelayHandle
  relayBind(
    r: NativeRelayHandle,
    address: string,
    port: number,
    worker?: number,
  ): { leg: number; port: number }
  relayConnect(r: NativeRelayHandle, fromLeg: number, toLeg: number): void
  relaySetPeer(r: NativeRelayHandle, leg: number, address: string | null, port: number, latch: Latch): void
  relaySetSrtp(
    r: NativeRelayHandle,
    leg: number,
    inbound: NativeSrtpHandle | null,
    outbound: NativeSrtpHandle | null,
  ): void
  /** Our ICE-lite credentials toward the leg's party (STUN checks answered in the worker); null clears. */
  relaySetIce(r: NativeRelayHandle, leg: number, ufrag: string | null, pwd: string | null): void
  /**
   * Payload types rewritten in the RTP that leaves through the leg: `pairs` = [from0, to0, from1, to1,
   * ...] (0-127, none in 64-95), marker bit kept, RTCP untouched; null or empty clears.
   */
  relaySetPtMap(r: NativeRelayHandle, leg: number, pairs: Uint8Array | null): void
  relayClose(r: NativeRelayHandle, leg: number): void
  relayStats(r: NativeRelayHandle, leg: number): NativeLegStats
  /**
   * relayStats' snapshot written into `out` (a Float64Array of 16): packets in, bytes in, packets out,
   * bytes out, auth failures, replay drops, dropped, idle ms, lost, jitter, ICE checks, ICE failures,
   * nominated (0/1), peer (0 none, 1 IPv4, 2 IPv6), peer IPv4 address (a host-order integer; 0 for an
   * IPv6 peer, whose text only relayStats gives), peer port.
   */
  relayStatsInto(r: NativeRelayHandle, leg: number, out: Float64Array): void
  /** Milliseconds since the leg's last media packet, -1 before the first (relayStats' idleMs, cheaply). */
  relayIdleMs(r: NativeRelayHandle, leg: number): number
  relaySetClockRate(r: NativeRelayHandle, leg: number, hz: number): void
  /**
   * Starts the worker thread. `coalesceUs` (0–5000, default 0) pauses after each busy round so that
   * one wake-up handles more datagrams: less CPU per packet for at most that much added latency.
   * `rtPriority` (1–99, default 0 = normal scheduling) runs the worker as a SCHED_FIFO thread; returns
   * whether it does (false when the process may not: no CAP_SYS_NICE or RLIMIT_RTPRIO).
   */
  relayStart(r: NativeRelayHandle, coalesceUs?: number, rtPriority?: number): boolean
  relayStop(r: NativeRelayHandle): void
  /**
   * Moves up to `max` connected pairs of legs (an unconnected leg alone) from worker `from` to worker
   * `to`, counters and SRTP state with them (leg numbers stay); with `activeOnly`, only pairs that
   * received media in the last second. Returns how many moved.
   */
  relayMove(r: NativeRelayHandle, from: number, to: number, max: number, activeOnly?: boolean): number
  /**
   * Per worker, four numbers into `out` (a Float64Array of 4 × workers): datagrams received, wake-ups
   * that found work, CPU time of its thread in ns, legs owned. Returns the number of workers.
   */
  relayWorkerStats(r: NativeRelayHandle, out: Float64Array): number
  /** The worker's ICE-lite responder as a pure function (tests hold it against lib/media/stun). */
  stunAnswer(
    packet: Buffer,
    address: string,
    port: number,
    ufrag: string,
    pwd: string,
  ): { verdict: StunVerdict; response?: Buffer; nominated: 0 | 1; code: 0 | 400 | 401 }
  loadgenCreate(): { handle: NativeLoadgenHandle; port: number }
  loadgenRun(
    g: NativeLoadgenHandle,
    ports: readonly number[],
    pps: number,
    count: number,
    payloadOctets: number,
    srtp: NativeSrtpHandle | null,
    /** 0 (default): the sink thread wakes for each datagram; N: it sleeps N µs whenever its queue is empty. */
    sinkPollUs?: number,
    /** N > 0: the result's `late` lists every packet at least N µs late (stall analysis). */
    lateUs?: number,
  ): Promise<LoadgenResult>
}

/** libsrtp's status codes as the transforms return them (negated). */
export const NativeSrtpStatus = { authFailed: -7, replayed: -9, replayedOld: -10, noRoom: -4 } as const

/** Octets a Buffer needs after the packet for libsrtp's trailer. */
export const SRTP_MAX_TRAILER_LEN = 144

let cached: MediaAddon | null | undefined

/**
 * Loads the addon, or returns null when it was not built (the TypeScript SRTP and dgram relay are the
 * fallback, ADR 0040).
 */
export function loadMediaAddon(): MediaAddon | null {
  if (cached !== undefined) return cached
  cached = existsSync(MEDIA_ADDON_PATH)
    ? (createRequire(import.meta.url)(MEDIA_ADDON_PATH) as MediaAddon)
    : null
  return cached
}

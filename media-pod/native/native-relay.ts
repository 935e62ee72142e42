import { type SrtpSuiteName, srtpSuite } from '../../lib/media/srtp/suites.ts'
import { asMediaNativeError, MediaNativeError, MediaNativeErrorCode } from './errors.ts'
import {
  Latch,
  loadMediaAddon,
  type MediaAddon,
  type NativeLegStats,
  type NativeRelayHandle,
  SrtpEngine,
} from './media-addon.ts'

/** SDES keying of one direction of a leg (master key and salt, RFC 4568). */
export interface SrtpKeying {
  readonly suite: SrtpSuiteName
  readonly masterKey: Uint8Array
  readonly masterSalt: Uint8Array
}

/** A bound leg: the slot in the worker's table and the local port. */
export interface RelayLeg {
  readonly leg: number
  readonly port: number
}

/**
 * Whether the worker can rewrite to or from payload type `pt`: an RTP type (0-127) outside 64-95,
 * which on a muxed port would read as RTCP (RFC 5761 §4).
 */
export const nativePt = (pt: number): boolean =>
  Number.isInteger(pt) && pt >= 0 && pt <= 127 && (pt < 64 || pt > 95)

/** A leg, or just its index (what a long-lived holder keeps: no object per leg). */
export type LegRef = RelayLeg | number

const legIndex = (l: LegRef): number => (typeof l === 'number' ? l : l.leg)

/** What one worker has done so far (cumulative) and holds now: NativeRelay.workerStats. */
export interface NativeWorkerStats {
  /** Datagrams received. */
  readonly packets: number
  /** Wake-ups that found datagrams: packets ÷ wake-ups is the batching the worker got. */
  readonly wakeups: number
  /** CPU time of the worker thread, ns (0 before start). */
  readonly cpuNs: number
  /** Legs it owns. */
  readonly legs: number
}

/**
 * One native relay (ADR 0040): a table of legs and `workers` packet threads. The control side of a
 * media pod binds each call's legs on one worker, connects them both ways, and sets peers, latching
 * and SRTP per leg; the worker moves the packets. Pairs can move between workers while they run
 * ({@link NativeRelay.move}): the media pod's load-following placement (docs/media-pod.md, "Workers").
 *
 * @remarks
 * Each leg's SRTP is terminated with that leg's keys (RFC 3711 per direction): `inbound` unprotects
 * what the peer sends to this leg, `outbound` protects what the relay sends to the peer. Keys are
 * never shared between legs. Control calls are cheap and thread-safe against the workers (a mutex per
 * worker).
 */
export class NativeRelay {
  private readonly addon: MediaAddon
  private readonly handle: NativeRelayHandle
  /** What relayStatsInto writes (one per relay: JavaScript is single-threaded). */
  private readonly scratch = new Float64Array(16)
  /** Packet threads (fixed at creation). */
  readonly workers: number

  /**
   * @throws MediaNativeError `SBC_ERR_MEDIA_NATIVE_MISSING` when the addon is not built, and for
   *   `workers` outside 1–64
   */
  constructor(addon: MediaAddon | null = loadMediaAddon(), workers = 1) {
    if (!addon)
      throw new MediaNativeError(
        MediaNativeErrorCode.missing,
        'media addon not built (node media-pod/native/build.ts)',
      )
    this.addon = addon
    this.workers = workers
    this.handle = this.call(() => addon.relayCreate(workers))
  }

  /**
   * Binds a UDP socket for a leg, owned by `worker`.
   * @throws MediaNativeError `SBC_ERR_MEDIA_PORT_IN_USE`, `SBC_ERR_MEDIA_NATIVE_CAPACITY`
   */
  bind(address: string, port = 0, worker = 0): RelayLeg {
    return this.call(() => this.addon.relayBind(this.handle, address, port, worker))
  }

  /** What arrives on `from` leaves through `to`'s socket toward `to`'s peer (both on one worker). */
  connect(from: LegRef, to: LegRef): void {
    this.call(() => this.addon.relayConnect(this.handle, legIndex(from), legIndex(to)))
  }

  /** Sets (or clears, with null) the leg's peer and its latching mode. */
  setPeer(leg: LegRef, peer: { address: string; port: number } | null, latch: Latch = Latch.once): void {
    this.call(() =>
      this.addon.relaySetPeer(this.handle, legIndex(leg), peer?.address ?? null, peer?.port ?? 0, latch),
    )
  }

  /**
   * Sets the leg's SRTP: null = plain RTP in that direction.
   * @throws MediaNativeError `SBC_ERR_MEDIA_NATIVE_SUITE` for suites without a native engine
   */
  setSrtp(leg: LegRef, inbound: SrtpKeying | null, outbound: SrtpKeying | null): void {
    const make = (k: SrtpKeying | null, out: boolean) => {
      if (!k) return null
      const s = srtpSuite(k.suite)
      if (!s.libsrtpProfile)
        throw new MediaNativeError(MediaNativeErrorCode.suite, `${k.suite} has no native SRTP engine`)
      return this.addon.srtpCreate(
        s.libsrtpProfile,
        Buffer.concat([k.masterKey, k.masterSalt]),
        out,
        SrtpEngine.openssl,
      )
    }
    const i = this.call(() => make(inbound, false))
    const o = this.call(() => make(outbound, true))
    this.call(() => this.addon.relaySetSrtp(this.handle, legIndex(leg), i, o))
  }

  /**
   * Our ICE-lite credentials toward the leg's party (RFC 8445 §2.5): its STUN Binding requests are
   * answered by the worker, and one with USE-CANDIDATE makes its source the leg's peer. null = no ICE.
   */
  setIce(leg: LegRef, ice: { ufrag: string; pwd: string } | null): void {
    this.call(() => this.addon.relaySetIce(this.handle, legIndex(leg), ice?.ufrag ?? null, ice?.pwd ?? null))
  }

  /**
   * Rewrites the payload type of RTP leaving through the leg toward its party (received type → the
   * party's type; the marker bit kept, RTCP untouched); null or an empty map clears it.
   * @throws MediaNativeError for types outside 0-127 or in 64-95 (RTCP on a muxed port, RFC 5761 §4)
   */
  setPtMap(leg: LegRef, map: ReadonlyMap<number, number> | null): void {
    // Types the worker refuses (see nativePt) throw there; a value above 255 would wrap here, so it
    // is passed as 255, which the worker refuses too.
    const pairs =
      map && map.size > 0 ? Uint8Array.from([...map].flat(), (v) => (nativePt(v) ? v : 255)) : null
    this.call(() => this.addon.relaySetPtMap(this.handle, legIndex(leg), pairs))
  }

  /** The RTP clock rate of what the leg receives (the unit of its jitter); default 8,000 Hz. */
  setClockRate(leg: LegRef, hz: number): void {
    this.call(() => this.addon.relaySetClockRate(this.handle, legIndex(leg), hz))
  }

  /** Closes the leg's socket; the port returns to the system and the slot to the table. */
  close(leg: LegRef): void {
    this.call(() => this.addon.relayClose(this.handle, legIndex(leg)))
  }

  /**
   * A snapshot of the leg's counters (packets, bytes, auth failures, replays, drops, idle time, peer).
   * Read as 16 numbers and built here: the addon's own object (relayStats) cost ~7.5 µs per leg in
   * Node-API property sets, which a /metrics scrape paid for every leg.
   */
  stats(leg: LegRef): NativeLegStats {
    const f = this.scratch
    this.call(() => this.addon.relayStatsInto(this.handle, legIndex(leg), f))
    const n = (i: number) => f[i] as number
    const s: NativeLegStats = {
      packetsIn: n(0),
      bytesIn: n(1),
      packetsOut: n(2),
      bytesOut: n(3),
      authFailures: n(4),
      replayDrops: n(5),
      dropped: n(6),
      idleMs: n(7),
      lost: n(8),
      jitter: n(9),
      iceChecks: n(10),
      iceFailures: n(11),
      nominated: n(12) === 1,
    }
    if (n(13) === 1) {
      const a = n(14)
      s.peerAddress = `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`
      s.peerPort = n(15)
    } else if (n(13) === 2) {
      // An IPv6 peer does not fit the numbers: its text comes from the addon's object (IPv6 legs only).
      const full = this.call(() => this.addon.relayStats(this.handle, legIndex(leg)))
      s.peerAddress = full.peerAddress
      s.peerPort = full.peerPort
    }
    return s
  }

  /**
   * Milliseconds since the leg's last media packet (connectivity checks do not count), -1 before the
   * first: `stats(leg).idleMs` without building the whole snapshot (what the media timeout polls).
   */
  idleMs(leg: LegRef): number {
    return this.call(() => this.addon.relayIdleMs(this.handle, legIndex(leg)))
  }

  /**
   * Starts the worker threads; with `rtPriority` 1–99 as SCHED_FIFO threads of that priority, so that a
   * packet arriving while other processes' threads hold the CPUs is handled at once instead of waiting
   * for their time slices (docs/benchmarks/media.md, Session 4). Returns whether the worker runs at
   * `rtPriority`: false for 0, or when the process may not use real-time scheduling (no CAP_SYS_NICE),
   * in which case it runs with normal scheduling.
   * @throws MediaNativeError for a priority outside 0–99
   */
  start(coalesceUs = 0, rtPriority = 0): boolean {
    return this.call(() => this.addon.relayStart(this.handle, coalesceUs, rtPriority))
  }

  /** Stops and joins the worker threads; legs stay bound. */
  stop(): void {
    this.call(() => this.addon.relayStop(this.handle))
  }

  /**
   * Moves up to `max` connected pairs from worker `from` to worker `to` (with `activeOnly`, only pairs
   * that received media in the last second); returns how many moved.
   */
  move(from: number, to: number, max: number, activeOnly = false): number {
    return this.call(() => this.addon.relayMove(this.handle, from, to, Math.min(max, 0xffffffff), activeOnly))
  }

  /** Per worker: what it has received and spent so far, and the legs it owns. */
  workerStats(): NativeWorkerStats[] {
    const f = new Float64Array(4 * this.workers)
    this.call(() => this.addon.relayWorkerStats(this.handle, f))
    return Array.from({ length: this.workers }, (_, i) => ({
      packets: f[4 * i] as number,
      wakeups: f[4 * i + 1] as number,
      cpuNs: f[4 * i + 2] as number,
      legs: f[4 * i + 3] as number,
    }))
  }

  private call<T>(fn: () => T): T {
    try {
      return fn()
    } catch (e) {
      throw asMediaNativeError(e)
    }
  }
}

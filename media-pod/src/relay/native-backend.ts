import { WorkerBalancer } from '../../../lib/media/relay/worker-balancer.ts'
import { srtpSuite } from '../../../lib/media/srtp/suites.ts'
import type { IceCredentials } from '../../../lib/media/stun/ice-lite.ts'
import { MediaNativeErrorCode } from '../../native/errors.ts'
import { Latch, loadMediaAddon, type MediaAddon } from '../../native/media-addon.ts'
import { NativeRelay, type NativeWorkerStats, nativePt, type RelayLeg } from '../../native/native-relay.ts'
import { MediaPodError, MediaPodErrorCode, PortInUseError, RelayCapacityError } from '../errors.ts'
import type {
  EndpointConfig,
  EndpointSpec,
  EndpointStats,
  PeerAddress,
  RelayBackend,
  RelayEndpoint,
  SrtpKeying,
} from './relay.ts'

/** Packets per second a worker carries before calls spill onto the next (docs/media-pod.md, "Workers"). */
export const DEFAULT_SPILL_PPS = 15_000
/** How often the load-following placement measures the workers and moves pairs. */
const BALANCE_MS = 500
/** Placements kept while a pair's second endpoint is opened (a bound: failed opens leave theirs). */
const MAX_PLACING = 1024

/**
 * The fast path: endpoints on the native relay (media-pod/native, ADR 0040) and its worker threads.
 * Both endpoints of a media section go to the same worker, so a packet never crosses threads; which
 * worker follows the load ({@link WorkerBalancer}): as few workers as carry the measured packet rate at
 * `spillPps` each take new calls, and pairs move between workers as the load changes (`spillPps` 0:
 * every worker takes calls in turn and nothing moves).
 *
 * @remarks
 * The worker latches "once" only when it has no peer; to send to the SDP address *and* learn the real
 * source (NAT), an endpoint starts in the worker's `always` mode and is locked (`off`, on the learnt
 * address) by the first {@link RelayEndpoint.tick} after its first packet. ICE-lite legs answer STUN
 * connectivity checks in the worker (media-pod/native/src/stun.c) with the credentials handed over in
 * {@link RelayEndpoint.configure}; a nominating check moves the leg's peer there. Payload type maps
 * (telephone-event or opus on different numbers) are applied by the worker on the RTP leg. What the
 * worker lacks — strict source, RTCP mux on one side only, payload types in 64-95, and suites without
 * a native engine — is reported by {@link NativeRelayBackend.supports}; such calls use the dgram
 * fallback. Both address families run here: legs bind on an IPv4 or IPv6 realm address, and peers of
 * either family are relayed (an IPv6 leg bound on `::` also reaches IPv4 peers, dual-stack).
 */
export class NativeRelayBackend implements RelayBackend {
  readonly name = 'native' as const
  private readonly relay: NativeRelay
  /** Every worker runs with the real-time priority asked for. */
  readonly realtime: boolean
  private readonly balancer: WorkerBalancer | null
  private readonly timer: NodeJS.Timeout | null
  /** Worker chosen for a section whose second endpoint is not opened yet, by affinity. */
  private readonly placing = new Map<number, number>()
  /** Round-robin position when nothing balances (spillPps 0, or one worker). */
  private turn = 0

  private constructor(relay: NativeRelay, realtime: boolean, spillPps: number) {
    this.relay = relay
    this.realtime = realtime
    this.balancer = relay.workers > 1 && spillPps > 0 ? new WorkerBalancer(relay.workers, { spillPps }) : null
    this.timer = this.balancer ? setInterval(() => this.rebalance(), BALANCE_MS) : null
    this.timer?.unref()
  }

  /**
   * Starts a native relay with `workers` threads, or returns null when the addon is not built.
   * `rtPriority` > 0 asks for SCHED_FIFO workers of that priority (NativeRelay.start); `realtime` then
   * tells whether they got it. `spillPps`: see the class.
   */
  static create(
    workers = 1,
    addon: MediaAddon | null = loadMediaAddon(),
    rtPriority = 0,
    spillPps = DEFAULT_SPILL_PPS,
  ): NativeRelayBackend | null {
    if (!addon) return null
    const relay = new NativeRelay(addon, Math.max(1, workers))
    const realtime = relay.start(0, rtPriority) && rtPriority > 0
    return new NativeRelayBackend(relay, realtime, spillPps)
  }

  /** Worker threads. */
  get workers(): number {
    return this.relay.workers
  }

  /** Per worker: what it carried and spent so far, and the legs it owns. */
  stats(): NativeWorkerStats[] {
    return this.relay.workerStats()
  }

  /** Workers taking new calls now (all of them without load-following placement). */
  get activeWorkers(): number {
    return this.balancer?.active ?? this.relay.workers
  }

  async open(spec: EndpointSpec): Promise<RelayEndpoint> {
    const worker = this.workerFor(spec.affinity)
    const rtp = bind(this.relay, spec.bindAddress, spec.rtpPort, worker)
    let rtcp: RelayLeg | undefined
    if (spec.rtcpPort !== undefined) {
      try {
        rtcp = bind(this.relay, spec.bindAddress, spec.rtcpPort, worker)
      } catch (e) {
        this.relay.close(rtp)
        throw e
      }
    }
    return new NativeEndpoint(this.relay, rtp.leg, rtcp?.leg, spec)
  }

  pair(a: RelayEndpoint, b: RelayEndpoint): void {
    if (!(a instanceof NativeEndpoint) || !(b instanceof NativeEndpoint) || a.relay !== b.relay)
      throw new MediaPodError(MediaPodErrorCode.internal, 'native endpoints of a call must share a relay')
    this.placing.delete(a.affinity)
    a.relay.connect(a.rtp, b.rtp)
    a.relay.connect(b.rtp, a.rtp)
    if (a.rtcp !== undefined && b.rtcp !== undefined) {
      a.relay.connect(a.rtcp, b.rtcp)
      a.relay.connect(b.rtcp, a.rtcp)
    }
  }

  /**
   * The worker of a new endpoint: the one its section's first endpoint got (the two are opened one
   * after the other, maybe with other calls' opens in between), else a new placement.
   */
  private workerFor(affinity: number | undefined): number {
    const key = affinity ?? -1
    const placed = this.placing.get(key)
    if (placed !== undefined) return placed
    const w = this.balancer
      ? this.balancer.place(performance.now())
      : (affinity ?? this.turn++) % this.relay.workers
    if (this.placing.size >= MAX_PLACING) this.placing.delete(this.placing.keys().next().value as number)
    this.placing.set(key, w)
    return w
  }

  /** Measures the workers and moves pairs where the balancer says (every BALANCE_MS). */
  private rebalance(): void {
    if (!this.balancer) return
    const stats = this.relay.workerStats()
    const moves = this.balancer.sample(
      performance.now(),
      stats.map((s) => s.packets),
      stats.map((s) => s.legs),
    )
    for (const m of moves) this.balancer.applied(m, this.relay.move(m.from, m.to, m.pairs, m.activeOnly))
  }

  supports(a: EndpointConfig, b: EndpointConfig): boolean {
    const suiteOk = (k: SrtpKeying | null) => k === null || srtpSuite(k.suite).libsrtpProfile !== 0
    return (
      !a.strict &&
      !b.strict &&
      ptMapOk(a.ptMap) &&
      ptMapOk(b.ptMap) &&
      a.mux === b.mux &&
      [a.srtpIn, a.srtpOut, b.srtpIn, b.srtpOut].every(suiteOk)
    )
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.relay.stop()
  }
}

/** A map the worker can apply: every type an RTP type outside RTCP's 64-95 (RFC 5761 §4). */
const ptMapOk = (m: ReadonlyMap<number, number>): boolean =>
  m.size === 0 || [...m].every(([from, to]) => nativePt(from) && nativePt(to))

/** Same rewrites; null (nothing set in the worker yet) is the empty map. */
const sameMap = (a: ReadonlyMap<number, number> | null, b: ReadonlyMap<number, number>): boolean =>
  a === b || ((a?.size ?? 0) === b.size && (a === null || [...a].every(([from, to]) => b.get(from) === to)))

function bind(relay: NativeRelay, address: string, port: number, worker: number): RelayLeg {
  try {
    return relay.bind(address, port, worker)
  } catch (e) {
    const code = (e as { code?: string }).code
    if (code === MediaPodErrorCode.portInUse) throw new PortInUseError(address, port, { cause: e })
    if (code === MediaNativeErrorCode.capacity)
      throw new RelayCapacityError(address, (e as Error).message, { cause: e })
    throw new MediaPodError(
      MediaPodErrorCode.internal,
      `cannot bind ${address}:${port}: ${(e as Error).message}`,
      { cause: e },
    )
  }
}

const sameKey = (a: SrtpKeying | null, b: SrtpKeying | null): boolean =>
  a === b ||
  (a !== null &&
    b !== null &&
    a.suite === b.suite &&
    Buffer.compare(a.masterKey, b.masterKey) === 0 &&
    Buffer.compare(a.masterSalt, b.masterSalt) === 0)

const sameIce = (a: IceCredentials | null, b: IceCredentials | null): boolean =>
  a === b || (a !== null && b !== null && a.ufrag === b.ufrag && a.pwd === b.pwd)

const samePeer = (address: string | null, port: number, b: PeerAddress | null): boolean =>
  b === null ? address === null : address === b.address && port === b.port

/** NativeEndpoint.flags bits (one small integer instead of a boolean field each: 8 B per field). */
const CONFIGURED = 1
const LOCK_RTP = 2
const LOCK_RTCP = 4
const CLOSED = 8
/** The last latch mode, in two bits of the same integer. */
const LATCH_SHIFT = 4
const LATCH_MASK = 3 << LATCH_SHIFT
const LATCHES: readonly EndpointConfig['latch'][] = ['off', 'once', 'always']

/**
 * What only SRTP, ICE-lite or payload-type-mapped endpoints have (the config's objects): one object
 * those endpoints hold, instead of four fields every endpoint carries for the whole call.
 */
interface EndpointExtras {
  readonly srtpIn: SrtpKeying | null
  readonly srtpOut: SrtpKeying | null
  /** Our ICE credentials toward the party. */
  readonly ice: IceCredentials | null
  /** The payload type map toward the party. */
  readonly ptMap: ReadonlyMap<number, number>
}

/**
 * One party's legs on a native worker. It keeps only what `configure` compares against (the last
 * peers, latch, clock rate and SRTP keys, as fields), not the EndpointConfig object and its
 * {address, port} objects: ~300 B less per call, held for the whole call.
 */
class NativeEndpoint implements RelayEndpoint {
  readonly relay: NativeRelay
  /** Leg indexes in the worker (numbers, not RelayLeg objects: kept for the whole call). */
  readonly rtp: number
  readonly rtcp: number | undefined
  readonly rtpPort: number
  readonly rtcpPort: number | undefined
  /** The section's affinity (-1 none): which placement the endpoint took. */
  readonly affinity: number
  /** CONFIGURED, LOCK_*, CLOSED and the latch mode (LATCH_SHIFT). */
  private flags = 1 << LATCH_SHIFT
  private clockRate = 0
  private peerAddress: string | null = null
  private peerPort = 0
  private rtcpPeerAddress: string | null = null
  private rtcpPeerPort = 0
  /** SRTP keys, ICE credentials, payload type map: null while none is set (plain RTP calls). */
  private extras: EndpointExtras | null = null

  constructor(relay: NativeRelay, rtp: number, rtcp: number | undefined, spec: EndpointSpec) {
    this.relay = relay
    this.rtp = rtp
    this.rtcp = rtcp
    this.rtpPort = spec.rtpPort
    this.rtcpPort = spec.rtcpPort
    this.affinity = spec.affinity ?? -1
  }

  /** The latch mode last configured. */
  private get latch(): EndpointConfig['latch'] {
    return LATCHES[(this.flags & LATCH_MASK) >> LATCH_SHIFT] ?? 'once'
  }

  private get ice(): IceCredentials | null {
    return this.extras?.ice ?? null
  }

  configure(c: EndpointConfig): void {
    const x = this.extras
    // The end of ICE: the nominated pair no longer stands, the SDP address is the peer again.
    const iceEnded = (x?.ice ?? null) !== null && c.ice === null
    if (!sameKey(x?.srtpIn ?? null, c.srtpIn) || !sameKey(x?.srtpOut ?? null, c.srtpOut)) {
      this.relay.setSrtp(this.rtp, c.srtpIn, c.srtpOut)
      if (this.rtcp !== undefined) this.relay.setSrtp(this.rtcp, c.srtpIn, c.srtpOut)
    }
    const first = (this.flags & CONFIGURED) === 0
    if (first || this.clockRate !== c.clockRate) this.relay.setClockRate(this.rtp, c.clockRate)
    this.clockRate = c.clockRate
    if (!sameIce(x?.ice ?? null, c.ice)) {
      this.relay.setIce(this.rtp, c.ice)
      if (this.rtcp !== undefined) this.relay.setIce(this.rtcp, c.ice)
    }
    // RTP leaves through the RTP leg only (RTCP is never rewritten), so only it gets the map.
    if (!sameMap(x?.ptMap ?? null, c.ptMap)) this.relay.setPtMap(this.rtp, c.ptMap)
    this.extras =
      c.srtpIn !== null || c.srtpOut !== null || c.ice !== null || c.ptMap.size > 0
        ? { srtpIn: c.srtpIn, srtpOut: c.srtpOut, ice: c.ice, ptMap: c.ptMap }
        : null
    const latchChanged = first || this.latch !== c.latch
    // With ICE the nominated pair is where media goes (RFC 8445 §12), whatever a re-offer's SDP says.
    if (
      (latchChanged || iceEnded || !samePeer(this.peerAddress, this.peerPort, c.rtpPeer)) &&
      !this.nominated(this.rtp)
    ) {
      this.setPeer('rtp', c.rtpPeer, c.latch)
      this.peerAddress = c.rtpPeer?.address ?? null
      this.peerPort = c.rtpPeer?.port ?? 0
    }
    if (
      this.rtcp !== undefined &&
      (latchChanged || iceEnded || !samePeer(this.rtcpPeerAddress, this.rtcpPeerPort, c.rtcpPeer)) &&
      !this.nominated(this.rtcp)
    ) {
      this.setPeer('rtcp', c.rtcpPeer, c.latch)
      this.rtcpPeerAddress = c.rtcpPeer?.address ?? null
      this.rtcpPeerPort = c.rtcpPeer?.port ?? 0
    }
    const latch = LATCHES.indexOf(c.latch)
    this.flags = (this.flags & ~LATCH_MASK) | ((latch < 0 ? 1 : latch) << LATCH_SHIFT) | CONFIGURED
  }

  /** A check with USE-CANDIDATE chose this leg's peer and the leg is still an ICE one. */
  private nominated(leg: number): boolean {
    return this.ice !== null && this.relay.stats(leg).nominated
  }

  private setPeer(kind: 'rtp' | 'rtcp', peer: PeerAddress | null, latch: EndpointConfig['latch']): void {
    const leg = kind === 'rtp' ? this.rtp : (this.rtcp as number)
    if (latch === 'off') this.relay.setPeer(leg, peer, Latch.off)
    else if (latch === 'always') this.relay.setPeer(leg, peer, Latch.always)
    else if (peer === null) this.relay.setPeer(leg, null, Latch.once)
    else {
      // Send to the SDP address and follow the first source; tick() locks it.
      this.relay.setPeer(leg, peer, Latch.always)
      this.setLock(kind, true)
      return
    }
    this.setLock(kind, false)
  }

  private setLock(kind: 'rtp' | 'rtcp', pending: boolean): void {
    const bit = kind === 'rtp' ? LOCK_RTP : LOCK_RTCP
    this.flags = pending ? this.flags | bit : this.flags & ~bit
  }

  tick(): void {
    if (this.flags & CLOSED) return
    for (const kind of ['rtp', 'rtcp'] as const) {
      if ((this.flags & (kind === 'rtp' ? LOCK_RTP : LOCK_RTCP)) === 0) continue
      const leg = kind === 'rtp' ? this.rtp : this.rtcp
      if (leg === undefined) continue
      const s = this.relay.stats(leg)
      // Media that parsed and authenticated, or a nomination, chose the peer; connectivity checks alone do not.
      const media = s.packetsIn - s.dropped - s.authFailures - s.replayDrops - s.iceChecks - s.iceFailures
      if ((media > 0 || s.nominated) && s.peerAddress && s.peerPort) {
        this.relay.setPeer(leg, { address: s.peerAddress, port: s.peerPort }, Latch.off)
        this.setLock(kind, false)
      }
    }
  }

  idleMs(): number {
    const a = this.relay.idleMs(this.rtp)
    const b = this.rtcp !== undefined ? this.relay.idleMs(this.rtcp) : -1
    return a < 0 ? b : b < 0 ? a : Math.min(a, b)
  }

  stats(): EndpointStats {
    const a = this.relay.stats(this.rtp)
    const b = this.rtcp !== undefined ? this.relay.stats(this.rtcp) : undefined
    const idle = [a.idleMs, b?.idleMs ?? -1].filter((x) => x >= 0)
    return {
      packetsIn: a.packetsIn + (b?.packetsIn ?? 0),
      bytesIn: a.bytesIn + (b?.bytesIn ?? 0),
      packetsOut: a.packetsOut + (b?.packetsOut ?? 0),
      bytesOut: a.bytesOut + (b?.bytesOut ?? 0),
      rtcpPacketsIn: b?.packetsIn ?? 0,
      authFailures: a.authFailures + (b?.authFailures ?? 0),
      replayDrops: a.replayDrops + (b?.replayDrops ?? 0),
      dropped: a.dropped + (b?.dropped ?? 0),
      idleMs: idle.length === 0 ? -1 : Math.min(...idle),
      lost: Math.max(0, a.lost),
      jitter: a.jitter,
      iceChecks: a.iceChecks + (b?.iceChecks ?? 0),
      iceFailures: a.iceFailures + (b?.iceFailures ?? 0),
      peer: a.peerAddress && a.peerPort ? { address: a.peerAddress, port: a.peerPort } : null,
    }
  }

  close(): void {
    if (this.flags & CLOSED) return
    this.flags |= CLOSED
    this.relay.close(this.rtp)
    if (this.rtcp !== undefined) this.relay.close(this.rtcp)
  }
}

import { srtpSuite } from '../../../lib/media/srtp/suites.ts'
import { Latch, loadMediaAddon, type MediaAddon } from '../../native/media-addon.ts'
import { NativeRelay, type RelayLeg } from '../../native/native-relay.ts'
import { MediaPodError, MediaPodErrorCode } from '../errors.ts'
import {
  type EndpointConfig,
  type EndpointSpec,
  type EndpointStats,
  IDLE_CONFIG,
  type PeerAddress,
  type RelayBackend,
  type RelayEndpoint,
  type SrtpKeying,
} from './relay.ts'

/**
 * The fast path: endpoints on the native relay workers (media-pod/native, ADR 0040). One worker
 * thread per `workers`; both endpoints of a call go to the same worker (`EndpointSpec.affinity`), so a
 * packet never crosses threads.
 *
 * @remarks
 * The worker latches "once" only when it has no peer; to send to the SDP address *and* learn the real
 * source (NAT), an endpoint starts in the worker's `always` mode and is locked (`off`, on the learnt
 * address) by the first {@link RelayEndpoint.tick} after its first packet. What the worker lacks —
 * payload type rewriting, strict source, RTCP mux on one side only, and suites without a native
 * engine — is reported by {@link NativeRelayBackend.supports}; such calls use the dgram fallback.
 */
export class NativeRelayBackend implements RelayBackend {
  readonly name = 'native' as const
  private readonly relays: NativeRelay[]

  private constructor(relays: NativeRelay[]) {
    this.relays = relays
  }

  /** Starts `workers` native relays, or returns null when the addon is not built. */
  static create(workers = 1, addon: MediaAddon | null = loadMediaAddon()): NativeRelayBackend | null {
    if (!addon) return null
    const relays: NativeRelay[] = []
    for (let i = 0; i < Math.max(1, workers); i++) {
      const r = new NativeRelay(addon)
      r.start()
      relays.push(r)
    }
    return new NativeRelayBackend(relays)
  }

  async open(spec: EndpointSpec): Promise<RelayEndpoint> {
    const relay = this.relays[(spec.affinity ?? 0) % this.relays.length] as NativeRelay
    const rtp = bind(relay, spec.bindAddress, spec.rtpPort)
    let rtcp: RelayLeg | undefined
    if (spec.rtcpPort !== undefined) {
      try {
        rtcp = bind(relay, spec.bindAddress, spec.rtcpPort)
      } catch (e) {
        relay.close(rtp)
        throw e
      }
    }
    return new NativeEndpoint(relay, rtp.leg, rtcp?.leg, spec)
  }

  pair(a: RelayEndpoint, b: RelayEndpoint): void {
    if (!(a instanceof NativeEndpoint) || !(b instanceof NativeEndpoint) || a.relay !== b.relay)
      throw new MediaPodError(MediaPodErrorCode.internal, 'native endpoints of a call must share a relay')
    a.relay.connect(a.rtp, b.rtp)
    a.relay.connect(b.rtp, a.rtp)
    if (a.rtcp !== undefined && b.rtcp !== undefined) {
      a.relay.connect(a.rtcp, b.rtcp)
      a.relay.connect(b.rtcp, a.rtcp)
    }
  }

  supports(a: EndpointConfig, b: EndpointConfig): boolean {
    const suiteOk = (k: SrtpKeying | null) => k === null || srtpSuite(k.suite).libsrtpProfile !== 0
    return (
      !a.strict &&
      !b.strict &&
      a.ptMap.size === 0 &&
      b.ptMap.size === 0 &&
      a.mux === b.mux &&
      // The worker drops what is not RTP (no path up to JavaScript): ICE-lite legs answer STUN in the dgram relay.
      a.ice === null &&
      b.ice === null &&
      [a.srtpIn, a.srtpOut, b.srtpIn, b.srtpOut].every(suiteOk)
    )
  }

  async close(): Promise<void> {
    for (const r of this.relays) r.stop()
  }
}

function bind(relay: NativeRelay, address: string, port: number): RelayLeg {
  try {
    return relay.bind(address, port)
  } catch (e) {
    const code = (e as { code?: string }).code
    throw new MediaPodError(
      code === 'SBC_ERR_MEDIA_PORT_IN_USE' ? MediaPodErrorCode.portInUse : MediaPodErrorCode.internal,
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

const samePeer = (a: PeerAddress | null, b: PeerAddress | null): boolean =>
  a === b || (a !== null && b !== null && a.address === b.address && a.port === b.port)

class NativeEndpoint implements RelayEndpoint {
  readonly relay: NativeRelay
  /** Leg indexes in the worker (numbers, not RelayLeg objects: kept for the whole call). */
  readonly rtp: number
  readonly rtcp: number | undefined
  readonly rtpPort: number
  readonly rtcpPort: number | undefined
  private config: EndpointConfig = IDLE_CONFIG
  /** Per leg: waiting for the first packet to lock the latch (fields, not an object per endpoint). */
  private lockRtp = false
  private lockRtcp = false
  private closed = false

  constructor(relay: NativeRelay, rtp: number, rtcp: number | undefined, spec: EndpointSpec) {
    this.relay = relay
    this.rtp = rtp
    this.rtcp = rtcp
    this.rtpPort = spec.rtpPort
    this.rtcpPort = spec.rtcpPort
  }

  configure(c: EndpointConfig): void {
    const prev = this.config
    if (!sameKey(prev.srtpIn, c.srtpIn) || !sameKey(prev.srtpOut, c.srtpOut)) {
      this.relay.setSrtp(this.rtp, c.srtpIn, c.srtpOut)
      if (this.rtcp !== undefined) this.relay.setSrtp(this.rtcp, c.srtpIn, c.srtpOut)
    }
    const first = prev === IDLE_CONFIG
    if (first || prev.clockRate !== c.clockRate) this.relay.setClockRate(this.rtp, c.clockRate)
    if (first || prev.latch !== c.latch || !samePeer(prev.rtpPeer, c.rtpPeer))
      this.setPeer('rtp', c.rtpPeer, c.latch)
    if (this.rtcp !== undefined && (first || prev.latch !== c.latch || !samePeer(prev.rtcpPeer, c.rtcpPeer)))
      this.setPeer('rtcp', c.rtcpPeer, c.latch)
    this.config = c
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
    if (kind === 'rtp') this.lockRtp = pending
    else this.lockRtcp = pending
  }

  tick(): void {
    if (this.closed) return
    for (const kind of ['rtp', 'rtcp'] as const) {
      if (!(kind === 'rtp' ? this.lockRtp : this.lockRtcp)) continue
      const leg = kind === 'rtp' ? this.rtp : this.rtcp
      if (leg === undefined) continue
      const s = this.relay.stats(leg)
      if (s.packetsIn - s.dropped - s.authFailures - s.replayDrops > 0 && s.peerAddress && s.peerPort) {
        this.relay.setPeer(leg, { address: s.peerAddress, port: s.peerPort }, Latch.off)
        this.setLock(kind, false)
      }
    }
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
      iceChecks: 0,
      iceFailures: 0,
      peer: a.peerAddress && a.peerPort ? { address: a.peerAddress, port: a.peerPort } : null,
    }
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.relay.close(this.rtp)
    if (this.rtcp !== undefined) this.relay.close(this.rtcp)
  }
}

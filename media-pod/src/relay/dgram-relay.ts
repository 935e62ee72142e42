import { createSocket, type RemoteInfo, type Socket } from 'node:dgram'
import { RtpStats } from '../../../lib/media/rtp/rtp-stats.ts'
import { SrtpContext, SrtpStatus } from '../../../lib/media/srtp/context.ts'
import { answerIceCheck } from '../../../lib/media/stun/ice-lite.ts'
import { MediaPodError, MediaPodErrorCode, PortInUseError, RelayCapacityError } from '../errors.ts'
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

/** Room after a packet for the SRTP tag and SRTCP index. */
const TRAILER = 64

/**
 * The slow path: a TypeScript relay on `node:dgram` with the TypeScript SRTP (`lib/media/srtp`).
 * Correct and complete (latching, strict source, rtcp-mux ↔ demux bridging, payload type mapping,
 * loss and jitter), but one JavaScript callback, one Buffer and one `send` per packet: about 25–30 µs
 * of CPU per packet before SRTP (ADR 0040). Used when the native addon is not built, and for calls
 * whose features the native worker lacks (`supports`).
 */
export class DgramRelayBackend implements RelayBackend {
  readonly name = 'dgram' as const
  private readonly open_ = new Set<DgramEndpoint>()

  async open(spec: EndpointSpec): Promise<RelayEndpoint> {
    const rtp = await bindSocket(spec.bindAddress, spec.rtpPort)
    let rtcp: Socket | undefined
    if (spec.rtcpPort !== undefined) {
      try {
        rtcp = await bindSocket(spec.bindAddress, spec.rtcpPort)
      } catch (e) {
        rtp.close()
        throw e
      }
    }
    const ep = new DgramEndpoint(rtp, rtcp, spec, () => this.open_.delete(ep))
    this.open_.add(ep)
    return ep
  }

  pair(a: RelayEndpoint, b: RelayEndpoint): void {
    if (!(a instanceof DgramEndpoint) || !(b instanceof DgramEndpoint))
      throw new MediaPodError(MediaPodErrorCode.internal, 'dgram relay cannot pair foreign endpoints')
    a.target = b
    b.target = a
  }

  supports(): boolean {
    return true
  }

  async close(): Promise<void> {
    for (const ep of [...this.open_]) ep.close()
  }
}

/**
 * A socket the process cannot open: out of descriptors (its RLIMIT_NOFILE, the system's
 * fs.file-max) or kernel memory. The node's capacity, not the call's fault.
 */
const OUT_OF_SOCKETS = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM'])

function bindSocket(address: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket({ type: address.includes(':') ? 'udp6' : 'udp4' })
    s.once('error', (err: NodeJS.ErrnoException) => {
      s.close()
      reject(
        err.code === 'EADDRINUSE'
          ? new PortInUseError(address, port, { cause: err })
          : OUT_OF_SOCKETS.has(err.code ?? '')
            ? new RelayCapacityError(address, err.code as string, { cause: err })
            : new MediaPodError(
                MediaPodErrorCode.internal,
                `cannot bind ${address}:${port}: ${err.code ?? err.message}`,
              ),
      )
    })
    s.bind(port, address, () => {
      s.removeAllListeners('error')
      s.on('error', () => {}) // ICMP errors surface here; a relay never stops for them
      resolve(s)
    })
  })
}

const contextOf = (k: SrtpKeying | null): SrtpContext | null =>
  k ? SrtpContext.fromMasterKey(k.suite, k.masterKey, k.masterSalt) : null

const sameKey = (a: SrtpKeying | null, b: SrtpKeying | null): boolean =>
  a === b ||
  (a !== null &&
    b !== null &&
    a.suite === b.suite &&
    Buffer.compare(a.masterKey, b.masterKey) === 0 &&
    Buffer.compare(a.masterSalt, b.masterSalt) === 0)

class DgramEndpoint implements RelayEndpoint {
  readonly rtpPort: number
  readonly rtcpPort: number | undefined
  target: DgramEndpoint | undefined
  private config: EndpointConfig = IDLE_CONFIG
  private rtpPeer: PeerAddress | null = null
  private rtcpPeer: PeerAddress | null = null
  private learnt = { rtp: false, rtcp: false }
  /** Where the party's nominated ICE pair ends (USE-CANDIDATE, RFC 8445 §7.3.1.5), per component. */
  private nominated: { rtp: PeerAddress | null; rtcp: PeerAddress | null } = { rtp: null, rtcp: null }
  private srtpIn: SrtpContext | null = null
  private srtpOut: SrtpContext | null = null
  private readonly rtpStats = new RtpStats()
  private lastPacket = -1
  private readonly counters = {
    packetsIn: 0,
    bytesIn: 0,
    packetsOut: 0,
    bytesOut: 0,
    rtcpPacketsIn: 0,
    authFailures: 0,
    replayDrops: 0,
    dropped: 0,
    iceChecks: 0,
    iceFailures: 0,
  }
  private closed = false

  private readonly rtp: Socket
  private readonly rtcp: Socket | undefined
  private readonly onClose: () => void

  constructor(rtp: Socket, rtcp: Socket | undefined, spec: EndpointSpec, onClose: () => void) {
    this.rtp = rtp
    this.rtcp = rtcp
    this.onClose = onClose
    this.rtpPort = spec.rtpPort
    this.rtcpPort = spec.rtcpPort
    rtp.on('message', (m, r) => this.receive(m, r, false))
    rtcp?.on('message', (m, r) => this.receive(m, r, true))
  }

  configure(c: EndpointConfig): void {
    const prev = this.config
    if (!sameKey(prev.srtpIn, c.srtpIn)) this.srtpIn = contextOf(c.srtpIn)
    if (!sameKey(prev.srtpOut, c.srtpOut)) this.srtpOut = contextOf(c.srtpOut)
    // A re-offer with the same address keeps what was learnt (NAT); a new address starts over, and so
    // does the end of ICE (what was learnt may be the nominated pair, which no longer stands).
    const iceEnded = prev.ice !== null && c.ice === null
    if (!this.learnt.rtp || c.latch === 'off' || iceEnded || !samePeer(prev.rtpPeer, c.rtpPeer)) {
      this.rtpPeer = c.rtpPeer
      this.learnt.rtp = false
    }
    if (!this.learnt.rtcp || c.latch === 'off' || iceEnded || !samePeer(prev.rtcpPeer, c.rtcpPeer)) {
      this.rtcpPeer = c.rtcpPeer
      this.learnt.rtcp = false
    }
    // With ICE the nominated pair is where media goes (RFC 8445 §12), whatever a re-offer's SDP says.
    if (c.ice) {
      if (this.nominated.rtp) this.rtpPeer = this.nominated.rtp
      if (this.nominated.rtcp) this.rtcpPeer = this.nominated.rtcp
    } else this.nominated = { rtp: null, rtcp: null }
    this.config = c
  }

  private receive(msg: Buffer, from: RemoteInfo, viaRtcpSocket: boolean): void {
    const c = this.counters
    c.packetsIn++
    c.bytesIn += msg.length
    const len = msg.length
    // RFC 7983 §7: a first byte of 0–3 is STUN; on an ICE-lite leg it is a connectivity check.
    if (len > 0 && (msg[0] as number) <= 3 && this.config.ice) {
      this.answerStun(msg, from, viaRtcpSocket)
      return
    }
    if (len < 8 || (msg[0] as number) >> 6 !== 2) {
      c.dropped++
      return
    }
    const b1 = msg[1] as number
    const isRtcp = viaRtcpSocket || (b1 >= 192 && b1 <= 223)
    if (!isRtcp && len < 12) {
      c.dropped++
      return
    }
    const kind = isRtcp && !this.config.mux && this.rtcp ? 'rtcp' : 'rtp'
    const peer = kind === 'rtcp' ? this.rtcpPeer : this.rtpPeer
    if (
      this.config.strict &&
      this.learnt[kind] &&
      peer &&
      (peer.address !== from.address || peer.port !== from.port)
    ) {
      c.dropped++
      return
    }
    const buf = Buffer.allocUnsafe(len + TRAILER)
    msg.copy(buf)
    let n = len
    if (this.srtpIn) {
      n = isRtcp ? this.srtpIn.unprotectRtcp(buf, len) : this.srtpIn.unprotectRtp(buf, len)
      if (n < 0) {
        if (n === SrtpStatus.replayed) c.replayDrops++
        else if (n === SrtpStatus.authFailed) c.authFailures++
        else c.dropped++
        return
      }
    }
    if (isRtcp) c.rtcpPacketsIn++
    const latch = this.config.latch
    if (latch === 'always' || (latch === 'once' && !this.learnt[kind])) {
      const learnt = { address: from.address, port: from.port }
      if (kind === 'rtcp') this.rtcpPeer = learnt
      else this.rtpPeer = learnt
      this.learnt[kind] = true
    }
    const now = performance.now()
    this.lastPacket = now
    if (!isRtcp) {
      const seq = ((buf[2] as number) << 8) | (buf[3] as number)
      const ts = buf.readUInt32BE(4)
      this.rtpStats.update(seq, ts, Math.floor((now * this.config.clockRate) / 1000) >>> 0)
    }
    const t = this.target
    if (!t?.send(buf, n, isRtcp)) c.dropped++
  }

  /**
   * ICE-lite responder (lib/media/stun/ice-lite.ts): the response leaves from the socket the check
   * arrived on, to its source (RFC 8445 §7.3: responses are sent symmetrically). A nominating check
   * (USE-CANDIDATE, §7.3.1.5 and §7.3.2 for lite agents) latches that source for the component it
   * arrived on: the nominated pair is where media goes.
   */
  private answerStun(msg: Buffer, from: RemoteInfo, viaRtcpSocket: boolean): void {
    const ice = this.config.ice
    if (!ice) return
    const c = this.counters
    const source = { address: from.address, port: from.port }
    const v = answerIceCheck(msg, source, ice)
    if (v.kind === 'drop') {
      if (v.failed) c.iceFailures++
      else c.dropped++
      return
    }
    const socket = viaRtcpSocket && this.rtcp ? this.rtcp : this.rtp
    socket.send(v.response, from.port, from.address)
    if (v.kind === 'error') {
      c.iceFailures++
      return
    }
    c.iceChecks++
    if (!v.nominated) return
    const kind = viaRtcpSocket && !this.config.mux && this.rtcp ? 'rtcp' : 'rtp'
    this.nominated[kind] = source
    if (kind === 'rtcp') this.rtcpPeer = source
    else this.rtpPeer = source
    this.learnt[kind] = true
  }

  /** Sends a plain packet to this endpoint's party (rewriting PT, protecting); false when dropped. */
  send(buf: Buffer, len: number, isRtcp: boolean): boolean {
    if (this.closed) return false
    const c = this.config
    if (!isRtcp && c.ptMap.size > 0) {
      const b1 = buf[1] as number
      const to = c.ptMap.get(b1 & 0x7f)
      if (to !== undefined) buf[1] = (b1 & 0x80) | to
    }
    let n = len
    if (this.srtpOut) {
      n = isRtcp ? this.srtpOut.protectRtcp(buf, len) : this.srtpOut.protectRtp(buf, len)
      if (n < 0) return false
    }
    const viaRtcp = isRtcp && !c.mux && this.rtcp !== undefined
    const peer = viaRtcp ? this.rtcpPeer : this.rtpPeer
    if (!peer) return false
    ;(viaRtcp ? (this.rtcp as Socket) : this.rtp).send(buf, 0, n, peer.port, peer.address)
    this.counters.packetsOut++
    this.counters.bytesOut += n
    return true
  }

  idleMs(): number {
    return this.lastPacket < 0 ? -1 : Math.round(performance.now() - this.lastPacket)
  }

  stats(): EndpointStats {
    return {
      ...this.counters,
      idleMs: this.idleMs(),
      lost: Math.max(0, this.rtpStats.received > 0 ? this.rtpStats.lost : 0),
      jitter: this.rtpStats.jitter,
      peer: this.rtpPeer,
    }
  }

  tick(): void {}

  close(): void {
    if (this.closed) return
    this.closed = true
    this.rtp.close()
    this.rtcp?.close()
    this.onClose()
  }
}

function samePeer(a: PeerAddress | null, b: PeerAddress | null): boolean {
  return a === b || (a !== null && b !== null && a.address === b.address && a.port === b.port)
}

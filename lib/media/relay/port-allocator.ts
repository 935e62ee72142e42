import { SbcError } from '../../errors.ts'

/** Error codes of the port allocator (declared here because the allocator is a self-contained module). */
export const PortAllocatorErrorCode = {
  /** No free port (or RTP/RTCP pair) is left in the range. Signalling maps it to 503 / an NG error. */
  exhausted: 'SBC_ERR_PORT_EXHAUSTED',
  /** A release named a port that is not allocated (double release, or a port from another range). */
  notAllocated: 'SBC_ERR_PORT_NOT_ALLOCATED',
  /** The range or options are unusable (min > max, outside 1..65535, too small to split). */
  invalidRange: 'SBC_ERR_PORT_RANGE_INVALID',
} as const
export type PortAllocatorErrorCode = (typeof PortAllocatorErrorCode)[keyof typeof PortAllocatorErrorCode]

/** A typed port allocator error; `code` is one of {@link PortAllocatorErrorCode}. */
export class PortAllocatorError extends SbcError {
  constructor(code: PortAllocatorErrorCode, message: string) {
    super(code, message)
  }
}

/** An inclusive UDP port range, e.g. a MediaRealm's `portMin..portMax`. */
export interface PortRange {
  readonly min: number
  readonly max: number
}

/**
 * What one call leg's media section gets: an RTP port and, unless RTCP is muxed (RFC 5761), the RTCP
 * port `rtp + 1` (RFC 3550 §11: "RTP SHOULD use an even destination port number and the corresponding
 * RTCP stream SHOULD use the next higher (odd) destination port number").
 */
export interface PortAllocation {
  readonly rtp: number
  readonly rtcp: number | undefined
}

/** Gauges for `sbc_media_ports_*{realm}`. */
export interface PortCounts {
  readonly total: number
  readonly inUse: number
  readonly quarantined: number
  readonly free: number
}

/** Options of {@link PortAllocator}. */
export interface PortAllocatorOptions {
  /**
   * How long a released port stays out of circulation, in milliseconds. Late packets of the old call
   * (the peer keeps sending until its BYE is processed, plus jitter buffers and NAT) would otherwise be
   * relayed into the next call that gets the port. Default 5,000.
   */
  quarantineMs?: number
  /** Monotonic clock in milliseconds; injectable so tests need no sleeps. */
  now?: () => number
}

const FREE = 0
const USED = 1
const QUARANTINED = 2

/**
 * A pure allocator of UDP ports within one range: no sockets, no I/O. The media pod binds what it
 * hands out, and returns the ports with {@link PortAllocator.release} at teardown.
 *
 * @remarks
 * Allocation walks the range round-robin from a cursor, so a freed port is reused as late as possible
 * even without quarantine; the quarantine is the hard guarantee. Pairs start on even ports. Single
 * (rtcp-mux) allocations take any free port, preferring ports whose pair partner is already busy so
 * that whole pairs stay available. Owned by: control loop (never the packet loop).
 */
export class PortAllocator {
  readonly range: PortRange
  private readonly state: Uint8Array
  private readonly quarantine: { port: number; until: number }[] = []
  private quarantineHead = 0
  private readonly quarantineMs: number
  private readonly now: () => number
  private cursor = 0
  private inUse = 0

  constructor(range: PortRange, options: PortAllocatorOptions = {}) {
    validateRange(range)
    this.range = { min: range.min, max: range.max }
    this.state = new Uint8Array(range.max - range.min + 1)
    this.quarantineMs = options.quarantineMs ?? 5_000
    if (!(this.quarantineMs >= 0)) {
      throw new PortAllocatorError(PortAllocatorErrorCode.invalidRange, 'quarantineMs must be >= 0')
    }
    this.now = options.now ?? (() => performance.now())
  }

  /**
   * Allocates an even RTP port and its RTCP neighbour (`mux: false`, the default) or a single port
   * for RTP and RTCP muxed (`mux: true`). Throws `SBC_ERR_PORT_EXHAUSTED` when none is left.
   */
  allocate(options: { mux?: boolean } = {}): PortAllocation {
    this.expire()
    if (options.mux) {
      const port = this.findSingle()
      this.mark(port, USED)
      return { rtp: port, rtcp: undefined }
    }
    const port = this.findPair()
    this.mark(port, USED)
    this.mark(port + 1, USED)
    return { rtp: port, rtcp: port + 1 }
  }

  /** Returns an allocation's ports to the pool, through the quarantine. */
  release(allocation: PortAllocation): void {
    const ports = allocation.rtcp === undefined ? [allocation.rtp] : [allocation.rtp, allocation.rtcp]
    for (const p of ports) {
      if (!this.isAllocated(p)) {
        throw new PortAllocatorError(
          PortAllocatorErrorCode.notAllocated,
          `port ${p} is not allocated in ${this.range.min}-${this.range.max}`,
        )
      }
    }
    const until = this.now() + this.quarantineMs
    for (const p of ports) {
      if (this.quarantineMs === 0) {
        this.mark(p, FREE)
      } else {
        this.mark(p, QUARANTINED)
        this.quarantine.push({ port: p, until })
      }
    }
  }

  /** Whether `port` is currently handed out. */
  isAllocated(port: number): boolean {
    return (
      Number.isInteger(port) &&
      port >= this.range.min &&
      port <= this.range.max &&
      this.state[port - this.range.min] === USED
    )
  }

  /** Current counts for metrics and for the capacity a media pod advertises in Redis. */
  counts(): PortCounts {
    this.expire()
    const total = this.state.length
    const quarantined = this.quarantine.length - this.quarantineHead
    return { total, inUse: this.inUse, quarantined, free: total - this.inUse - quarantined }
  }

  private mark(port: number, s: number): void {
    const i = port - this.range.min
    const before = this.state[i]
    this.state[i] = s
    if (before !== USED && s === USED) this.inUse++
    else if (before === USED && s !== USED) this.inUse--
  }

  /** Moves ports whose quarantine has ended back to FREE; the queue is ordered by `until`. */
  private expire(): void {
    const t = this.now()
    while (this.quarantineHead < this.quarantine.length) {
      const q = this.quarantine[this.quarantineHead]
      if (q === undefined || q.until > t) break
      // A quarantined port is never re-allocated before expiry, so it is still QUARANTINED here.
      this.mark(q.port, FREE)
      this.quarantineHead++
    }
    if (this.quarantineHead > 1024 && this.quarantineHead * 2 > this.quarantine.length) {
      this.quarantine.splice(0, this.quarantineHead)
      this.quarantineHead = 0
    }
  }

  private findPair(): number {
    const n = this.state.length
    const firstEven = this.range.min % 2 === 0 ? 0 : 1
    const slots = Math.floor((n - firstEven) / 2)
    let slot = Math.max(0, Math.floor((this.cursor - firstEven) / 2))
    for (let k = 0; k < slots; k++, slot++) {
      if (slot >= slots) slot = 0
      const i = firstEven + slot * 2
      if (this.state[i] === FREE && this.state[i + 1] === FREE) {
        this.cursor = (i + 2) % n
        return this.range.min + i
      }
    }
    throw new PortAllocatorError(
      PortAllocatorErrorCode.exhausted,
      `no free RTP/RTCP port pair in ${this.range.min}-${this.range.max}`,
    )
  }

  private findSingle(): number {
    const n = this.state.length
    let fallback = -1
    for (let k = 0, i = this.cursor; k < n; k++, i = (i + 1) % n) {
      if (this.state[i] !== FREE) continue
      const partner = (this.range.min + i) % 2 === 0 ? i + 1 : i - 1
      if (partner < 0 || partner >= n || this.state[partner] !== FREE) {
        this.cursor = (i + 1) % n
        return this.range.min + i
      }
      if (fallback < 0) fallback = i
    }
    if (fallback >= 0) {
      this.cursor = (fallback + 1) % n
      return this.range.min + fallback
    }
    throw new PortAllocatorError(
      PortAllocatorErrorCode.exhausted,
      `no free port in ${this.range.min}-${this.range.max}`,
    )
  }
}

function validateRange(range: PortRange): void {
  const ok =
    Number.isInteger(range.min) &&
    Number.isInteger(range.max) &&
    range.min >= 1 &&
    range.max <= 65_535 &&
    range.min <= range.max
  if (!ok) {
    throw new PortAllocatorError(
      PortAllocatorErrorCode.invalidRange,
      `invalid port range ${range.min}-${range.max}`,
    )
  }
}

/**
 * Splits a range into `parts` contiguous, non-overlapping sub-ranges of near-equal size, each starting
 * on an even port and holding whole pairs, so that each media worker owns its ports (no cross-thread
 * allocation). Ports that do not make up a whole pair at the ends are left out.
 */
export function splitPortRange(range: PortRange, parts: number): PortRange[] {
  validateRange(range)
  if (!Number.isInteger(parts) || parts < 1) {
    throw new PortAllocatorError(PortAllocatorErrorCode.invalidRange, `cannot split into ${parts} parts`)
  }
  const start = range.min % 2 === 0 ? range.min : range.min + 1
  const pairs = Math.floor((range.max - start + 1) / 2)
  if (pairs < parts) {
    throw new PortAllocatorError(
      PortAllocatorErrorCode.invalidRange,
      `range ${range.min}-${range.max} has ${pairs} port pairs, fewer than ${parts} parts`,
    )
  }
  const out: PortRange[] = []
  let next = start
  for (let p = 0; p < parts; p++) {
    const share = Math.floor(pairs / parts) + (p < pairs % parts ? 1 : 0)
    out.push({ min: next, max: next + share * 2 - 1 })
    next += share * 2
  }
  return out
}

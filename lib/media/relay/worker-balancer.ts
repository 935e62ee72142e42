/**
 * Load-following placement of calls on a media pod's packet threads (docs/media-pod.md, "Workers").
 *
 * A worker thread pays for every wake-up (epoll_wait, a context switch, on a VM an IPI): at a few
 * thousand packets per second per thread most wake-ups carry one packet, so spreading a light load
 * over every core costs CPU per packet (docs/benchmarks/media.md, "Session 7": one worker 16.8 µs,
 * two 29.2 µs per packet at 10,000 packets/s), while a heavy load on one thread waits behind itself
 * (its p99 rose to 0.5–0.7 ms at 20,000 packets/s on one worker). So calls go to as few workers as
 * carry the measured load at `spillPps` each, and move when the load changes: new calls fill the active
 * workers, a worker above the active set's average by a quarter gives pairs to the least loaded, and
 * workers beyond what the load needs hand their calls back.
 *
 * Pure policy: it sees numbers (packets per worker, placements) and answers with moves; the caller
 * (NativeRelayBackend) measures and moves.
 */

export interface WorkerBalancerOptions {
  /** Packets per second one worker carries before calls spill onto the next. */
  readonly spillPps: number
  /** What a new call counts for until its media is measured: RTP both ways every 20 ms. */
  readonly callPps?: number
  /** How long a new call counts at `callPps` (its media starts after the answer). */
  readonly graceMs?: number
  /** Fewer workers only when the load fits them at this fraction of `spillPps` (hysteresis). */
  readonly shrinkFraction?: number
  /** What one moved pair is taken to carry when a busy worker gives pairs away. */
  readonly pairPps?: number
}

/** Move up to `pairs` pairs from worker `from` to worker `to`; `activeOnly`: pairs with media only. */
export interface WorkerMove {
  readonly from: number
  readonly to: number
  readonly pairs: number
  readonly activeOnly: boolean
}

export class WorkerBalancer {
  readonly workers: number
  readonly #spill: number
  readonly #callPps: number
  readonly #graceMs: number
  readonly #shrink: number
  readonly #pairPps: number
  /** Workers 0 … active−1 take new calls. */
  #active = 1
  /** Packets per second per worker over the last sample interval. */
  #rates: number[]
  #lastPackets: number[] | null = null
  #lastAt = 0
  /** Per worker, when each call placed in the last `graceMs` was placed. */
  #recent: number[][]
  /**
   * The last evening-out move and how many pairs it moved ({@link WorkerBalancer.applied}), until the
   * workers are even: a move back the other way is taken as an overshoot (the pairs carried more than
   * `pairPps`) and moves at most half as many, so the pairs cannot swing back and forth every sample.
   */
  #lastEven: { from: number; to: number; pairs: number } | null = null

  constructor(workers: number, options: WorkerBalancerOptions) {
    if (!Number.isInteger(workers) || workers < 1) throw new RangeError('workers must be a positive integer')
    if (!(options.spillPps > 0)) throw new RangeError('spillPps must be positive')
    this.workers = workers
    this.#spill = options.spillPps
    this.#callPps = options.callPps ?? 100
    this.#graceMs = options.graceMs ?? 2000
    this.#shrink = options.shrinkFraction ?? 0.75
    this.#pairPps = options.pairPps ?? 75
    this.#rates = new Array<number>(workers).fill(0)
    this.#recent = Array.from({ length: workers }, () => [])
  }

  /** Workers taking new calls now. */
  get active(): number {
    return this.#active
  }

  /** The worker for a new call at `nowMs`: the least loaded active one, after the set grew if needed. */
  place(nowMs: number): number {
    this.#expire(nowMs)
    const load = this.#estimates()
    const total = load.reduce((a, b) => a + b, 0) + this.#callPps
    while (this.#active < this.workers && total > this.#active * this.#spill) this.#active++
    let best = 0
    for (let i = 1; i < this.#active; i++) if ((load[i] as number) < (load[best] as number)) best = i
    this.#recent[best]?.push(nowMs)
    return best
  }

  /**
   * A measurement at `nowMs`: cumulative datagrams received per worker and, when known, the legs each
   * owns now. Returns the moves that fit the load: first every worker beyond the active set hands its
   * pairs over (also pairs without media: calls on hold would otherwise stay on a thread that takes no
   * calls for as long as they are silent), then the busiest active worker gives pairs to the least
   * loaded when it is a quarter above their average.
   */
  sample(nowMs: number, packets: readonly number[], legs?: readonly number[]): WorkerMove[] {
    const last = this.#lastPackets
    const dt = (nowMs - this.#lastAt) / 1000
    this.#lastPackets = [...packets]
    this.#lastAt = nowMs
    if (last === null || dt <= 0) return []
    this.#rates = packets.map((p, i) => Math.max(0, (p - (last[i] ?? 0)) / dt))
    this.#expire(nowMs)
    const load = this.#estimates()
    const total = load.reduce((a, b) => a + b, 0)
    const need = Math.min(this.workers, Math.max(1, Math.ceil(total / this.#spill)))
    if (need > this.#active) this.#active = need
    while (this.#active > 1 && total < (this.#active - 1) * this.#spill * this.#shrink) this.#active--
    const moves: WorkerMove[] = []
    // Hand back everything beyond the active set: each to the least loaded active worker.
    for (let i = this.#active; i < this.workers; i++) {
      const idle =
        (load[i] as number) === 0 && (this.#recent[i]?.length ?? 0) === 0 && (this.#rates[i] as number) === 0
      // Without leg counts, a worker with no load and no recent placement is taken to hold nothing.
      if (legs ? (legs[i] ?? 0) === 0 && idle : idle) continue
      const to = this.#leastLoaded(load)
      moves.push({ from: i, to, pairs: Number.MAX_SAFE_INTEGER, activeOnly: false })
      load[to] = (load[to] as number) + (load[i] as number)
      load[i] = 0
      this.#recent[to]?.push(...(this.#recent[i] ?? []))
      this.#recent[i] = []
    }
    // Even out the active set: the busiest gives the share above the average to the least loaded.
    // Not while calls are in their grace: their load is a guess until their media is measured.
    if (this.#active > 1 && this.#recent.every((r) => r.length === 0)) {
      const avg = load.slice(0, this.#active).reduce((a, b) => a + b, 0) / this.#active
      let hi = 0
      for (let i = 1; i < this.#active; i++) if ((load[i] as number) > (load[hi] as number)) hi = i
      const lo = this.#leastLoaded(load)
      const excess = (load[hi] as number) - avg
      if (hi !== lo && excess > avg / 4) {
        let pairs = Math.max(1, Math.round(excess / this.#pairPps))
        const last = this.#lastEven
        // Back the way the last move went: it overshot, so at most half as many (none after one).
        if (last && last.from === lo && last.to === hi) pairs = Math.min(pairs, Math.floor(last.pairs / 2))
        if (pairs > 0) {
          moves.push({ from: hi, to: lo, pairs, activeOnly: true })
          this.#lastEven = { from: hi, to: lo, pairs }
        }
      } else this.#lastEven = null
    }
    return moves
  }

  /**
   * What a move from {@link WorkerBalancer.sample} did: `moved` pairs (the relay moves fewer than asked
   * when fewer carry media). Lets a move back be bounded by what actually went.
   */
  applied(move: WorkerMove, moved: number): void {
    const last = this.#lastEven
    if (move.activeOnly && last && last.from === move.from && last.to === move.to) last.pairs = moved
  }

  /** A worker's load: its measured rate plus the calls placed on it within the grace period. */
  #estimates(): number[] {
    return this.#rates.map((r, i) => r + (this.#recent[i]?.length ?? 0) * this.#callPps)
  }

  #leastLoaded(load: readonly number[]): number {
    let best = 0
    for (let i = 1; i < this.#active; i++) if ((load[i] as number) < (load[best] as number)) best = i
    return best
  }

  #expire(nowMs: number): void {
    for (const r of this.#recent) {
      let k = 0
      while (k < r.length && (r[k] as number) <= nowMs - this.#graceMs) k++
      if (k > 0) r.splice(0, k)
    }
  }
}

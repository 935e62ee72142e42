/** An opaque timer handle of a {@link Clock}. */
export type TimerHandle = unknown

/**
 * Time as the transaction layer sees it. Injected so that tests drive every timer with
 * {@link ManualClock} and never sleep.
 */
export interface Clock {
  setTimeout(callback: () => void, ms: number): TimerHandle
  clearTimeout(handle: TimerHandle): void
  /** Milliseconds, monotonic. */
  now(): number
}

/** The real clock. Timers are unref'd so a pending Timer D or K never holds the process open. */
export const systemClock: Clock = {
  setTimeout(callback, ms) {
    const t = setTimeout(callback, ms)
    t.unref()
    return t
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout)
  },
  now: () => performance.now(),
}

interface ManualTimer {
  readonly at: number
  readonly seq: number
  readonly callback: () => void
}

/** A clock that only moves when told to; timers fire in due order inside {@link ManualClock.advance}. */
export class ManualClock implements Clock {
  #now = 0
  #seq = 0
  readonly #timers = new Set<ManualTimer>()

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const timer: ManualTimer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, callback }
    this.#timers.add(timer)
    return timer
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle as ManualTimer)
  }

  now(): number {
    return this.#now
  }

  /** Timers currently scheduled. */
  get pending(): number {
    return this.#timers.size
  }

  /** Moves time forward by `ms`, firing every timer that falls due, including ones set meanwhile. */
  advance(ms: number): void {
    const target = this.#now + ms
    for (;;) {
      let next: ManualTimer | undefined
      for (const t of this.#timers) {
        if (
          t.at <= target &&
          (next === undefined || t.at < next.at || (t.at === next.at && t.seq < next.seq))
        )
          next = t
      }
      if (next === undefined) break
      this.#timers.delete(next)
      this.#now = next.at
      next.callback()
    }
    this.#now = target
  }
}

/** RFC 3261 §17.1.1.1 timer base values, in milliseconds. */
export interface TimerSettings {
  /** RTT estimate; default 500 ms. */
  readonly t1: number
  /** Maximum retransmit interval for non-INVITE requests and INVITE responses; default 4 s. */
  readonly t2: number
  /** Maximum duration a message remains in the network; default 5 s. */
  readonly t4: number
}

/** RFC 3261 Table 4 defaults (https://www.rfc-editor.org/rfc/rfc3261#appendix-A). */
export const defaultTimerSettings: TimerSettings = { t1: 500, t2: 4000, t4: 5000 }

/** The timers of RFC 3261 Table 4 and RFC 6026 §8.4 (L, M), resolved for one transport. */
export interface TimerValues {
  /** T2, the cap of the doubling intervals of E and G. */
  readonly t2: number
  /** INVITE request retransmit interval, initially T1 (unreliable only). */
  readonly A: number
  /** INVITE transaction timeout, 64·T1. */
  readonly B: number
  /** Wait time for response retransmits: ≥ 32 s unreliable, 0 reliable. */
  readonly D: number
  /** Non-INVITE request retransmit interval, initially T1 (unreliable only). */
  readonly E: number
  /** Non-INVITE transaction timeout, 64·T1. */
  readonly F: number
  /** INVITE response retransmit interval, initially T1 (unreliable only). */
  readonly G: number
  /** Wait time for ACK receipt, 64·T1. */
  readonly H: number
  /** Wait time for ACK retransmits: T4 unreliable, 0 reliable. */
  readonly I: number
  /** Wait time for non-INVITE request retransmits: 64·T1 unreliable, 0 reliable. */
  readonly J: number
  /** Wait time for response retransmits: T4 unreliable, 0 reliable. */
  readonly K: number
  /** RFC 6026: wait time for accepted INVITE request retransmits, 64·T1. */
  readonly L: number
  /** RFC 6026: wait time for retransmission of 2xx to INVITE, 64·T1. */
  readonly M: number
}

/** Resolves Table 4 for a reliable or unreliable transport. */
export function timerValues(settings: TimerSettings, reliable: boolean): TimerValues {
  const { t1, t4 } = settings
  return {
    t2: settings.t2,
    A: t1,
    B: 64 * t1,
    D: reliable ? 0 : Math.max(32_000, 64 * t1),
    E: t1,
    F: 64 * t1,
    G: t1,
    H: 64 * t1,
    I: reliable ? 0 : t4,
    J: reliable ? 0 : 64 * t1,
    K: reliable ? 0 : t4,
    L: 64 * t1,
    M: 64 * t1,
  }
}

/** Named one-shot timers of one transaction on a {@link Clock}; starting a name again replaces it. */
export class NamedTimers<Name extends string> {
  readonly #clock: Clock
  readonly #handles = new Map<Name, TimerHandle>()

  constructor(clock: Clock) {
    this.#clock = clock
  }

  start(name: Name, ms: number, callback: () => void): void {
    this.stop(name)
    this.#handles.set(
      name,
      this.#clock.setTimeout(() => {
        this.#handles.delete(name)
        callback()
      }, ms),
    )
  }

  stop(name: Name): void {
    const h = this.#handles.get(name)
    if (h !== undefined) {
      this.#clock.clearTimeout(h)
      this.#handles.delete(name)
    }
  }

  stopAll(): void {
    for (const h of this.#handles.values()) this.#clock.clearTimeout(h)
    this.#handles.clear()
  }

  /** Whether `name` is running (for tests and diagnostics). */
  running(name: Name): boolean {
    return this.#handles.has(name)
  }
}

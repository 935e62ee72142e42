import type { Clock } from './clock.ts'

interface PendingTimer {
  readonly at: number
  readonly seq: number
  readonly fn: () => void
}

/**
 * A clock that moves only when a test calls `advance`, firing due timers in time order. For unit
 * tests of anything that takes a {@link Clock}.
 */
export class ManualClock implements Clock {
  #now: number
  #seq = 0
  #timers: PendingTimer[] = []

  constructor(startMs = 1_000_000) {
    this.#now = startMs
  }

  now(): number {
    return this.#now
  }

  setTimer(ms: number, fn: () => void): () => void {
    const timer: PendingTimer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn }
    this.#timers.push(timer)
    return () => {
      this.#timers = this.#timers.filter((t) => t !== timer)
    }
  }

  /** Number of timers not yet fired or cancelled. */
  get pendingTimers(): number {
    return this.#timers.length
  }

  /** Moves time forward by `ms`, firing every timer that falls due, earliest first. */
  advance(ms: number): void {
    const target = this.#now + ms
    for (;;) {
      const due = this.#timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.seq - b.seq)[0]
      if (!due) break
      this.#timers = this.#timers.filter((t) => t !== due)
      this.#now = due.at
      due.fn()
    }
    this.#now = target
  }
}

import { type Clock, systemClock } from './clock.ts'

/**
 * Optional observer for queue metrics, shaped after controller-runtime's `workqueue_*` series so the
 * operator can export the same names (adds_total, depth, queue_duration, work_duration, retries).
 */
export interface WorkQueueMetrics {
  add(): void
  depth(n: number): void
  /** Time a key waited in the FIFO before a worker took it. */
  queueLatency(ms: number): void
  /** Time between `get` and `done`. */
  workDuration(ms: number): void
  retry(): void
}

/** Tuning of a {@link WorkQueue}. All optional. */
export interface WorkQueueOptions {
  clock?: Clock
  /** First backoff after a failure (client-go: 5 ms). */
  baseDelayMs?: number
  /** Backoff cap (client-go: 1000 s; we cap lower because a human is waiting for the status). */
  maxDelayMs?: number
  metrics?: WorkQueueMetrics
}

/** What {@link WorkQueue.get} returns: a key to process, or the news that the queue is closed. */
export type WorkQueueItem<T> = { readonly item: T; readonly shutdown: false } | { readonly shutdown: true }

/**
 * A rate-limited, delaying work queue with client-go's "stingy" contract:
 *
 * - a key added many times before a worker takes it is processed once (the `dirty` set);
 * - a key is never handed to two workers at once (the `processing` set);
 * - a key added while it is being processed is queued again when the worker calls `done`;
 * - `addRateLimited` backs off exponentially per key until `forget`;
 * - `addAfter` holds a key back (a requeue timer); only the earliest pending time per key is kept.
 *
 * Keys are compared with `===`, so use strings (`namespace/name`).
 */
export class WorkQueue<T = string> {
  readonly #clock: Clock
  readonly #baseDelayMs: number
  readonly #maxDelayMs: number
  readonly #metrics: WorkQueueMetrics | undefined
  #queue: T[] = []
  readonly #dirty = new Set<T>()
  readonly #processing = new Set<T>()
  readonly #addedAt = new Map<T, number>()
  readonly #startedAt = new Map<T, number>()
  readonly #failures = new Map<T, number>()
  readonly #waiting = new Map<T, { at: number; cancel: () => void }>()
  #waiters: (() => void)[] = []
  #drainWaiters: (() => void)[] = []
  #shuttingDown = false

  constructor(options: WorkQueueOptions = {}) {
    this.#clock = options.clock ?? systemClock
    this.#baseDelayMs = options.baseDelayMs ?? 5
    this.#maxDelayMs = options.maxDelayMs ?? 300_000
    this.#metrics = options.metrics
  }

  /** Queues `item` unless it is already queued; defers it if it is being processed. */
  add(item: T): void {
    if (this.#shuttingDown || this.#dirty.has(item)) return
    this.#metrics?.add()
    this.#dirty.add(item)
    if (this.#processing.has(item)) return
    this.#push(item)
  }

  /** Queues `item` after `delayMs` (immediately when <= 0). An earlier pending time wins. */
  addAfter(item: T, delayMs: number): void {
    if (this.#shuttingDown) return
    if (delayMs <= 0) {
      this.add(item)
      return
    }
    const at = this.#clock.now() + delayMs
    const pending = this.#waiting.get(item)
    if (pending && pending.at <= at) return
    pending?.cancel()
    const cancel = this.#clock.setTimer(delayMs, () => {
      this.#waiting.delete(item)
      this.add(item)
    })
    this.#waiting.set(item, { at, cancel })
  }

  /** Queues `item` after its per-key exponential backoff: base * 2^failures, capped. */
  addRateLimited(item: T): void {
    const failures = this.#failures.get(item) ?? 0
    this.#failures.set(item, failures + 1)
    this.#metrics?.retry()
    this.addAfter(item, this.backoffFor(failures))
  }

  /** The delay the next `addRateLimited` of a key with `failures` previous failures gets. */
  backoffFor(failures: number): number {
    return Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** Math.min(failures, 62))
  }

  /** Clears the backoff of `item` (call after a successful reconcile). */
  forget(item: T): void {
    this.#failures.delete(item)
  }

  /** How many times `item` was rate-limited since the last `forget`. */
  numRequeues(item: T): number {
    return this.#failures.get(item) ?? 0
  }

  /**
   * Waits for the next key and marks it as processing; the caller must call `done(item)`. Resolves
   * `{ shutdown: true }` once the queue is shut down and empty.
   */
  async get(): Promise<WorkQueueItem<T>> {
    for (;;) {
      const item = this.#queue.shift()
      if (item !== undefined) {
        this.#dirty.delete(item)
        this.#processing.add(item)
        const now = this.#clock.now()
        const added = this.#addedAt.get(item)
        this.#addedAt.delete(item)
        if (added !== undefined) this.#metrics?.queueLatency(now - added)
        this.#startedAt.set(item, now)
        this.#metrics?.depth(this.#queue.length)
        return { item, shutdown: false }
      }
      if (this.#shuttingDown) return { shutdown: true }
      await new Promise<void>((resolve) => this.#waiters.push(resolve))
    }
  }

  /** Ends processing of `item`; if it was added meanwhile, it goes back into the FIFO. */
  done(item: T): void {
    this.#processing.delete(item)
    const started = this.#startedAt.get(item)
    this.#startedAt.delete(item)
    if (started !== undefined) this.#metrics?.workDuration(this.#clock.now() - started)
    if (this.#dirty.has(item)) this.#push(item)
    if (this.#processing.size === 0) {
      for (const w of this.#drainWaiters.splice(0)) w()
    }
  }

  /** Keys waiting in the FIFO (not those held back by `addAfter`, not those being processed). */
  get depth(): number {
    return this.#queue.length
  }

  /** Keys currently held by workers. */
  get processingCount(): number {
    return this.#processing.size
  }

  /** Keys held back by `addAfter` / `addRateLimited` timers. */
  get delayedCount(): number {
    return this.#waiting.size
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown
  }

  /**
   * Stops accepting keys, cancels pending timers and wakes idle workers. Keys already queued are
   * still handed out, so workers drain the FIFO; `get` reports shutdown once it is empty.
   */
  shutDown(): void {
    this.#shuttingDown = true
    for (const w of this.#waiting.values()) w.cancel()
    this.#waiting.clear()
    for (const w of this.#waiters.splice(0)) w()
  }

  /** Shuts down and resolves when no key is being processed any more. */
  async shutDownWithDrain(): Promise<void> {
    this.shutDown()
    if (this.#processing.size === 0) return
    await new Promise<void>((resolve) => this.#drainWaiters.push(resolve))
  }

  #push(item: T): void {
    this.#queue.push(item)
    this.#addedAt.set(item, this.#clock.now())
    this.#metrics?.depth(this.#queue.length)
    this.#waiters.shift()?.()
  }
}

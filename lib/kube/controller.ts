import { type Logger, nullLogger } from '../observability/logger.ts'
import { type Clock, systemClock } from './clock.ts'
import { WorkQueue, type WorkQueueMetrics } from './work-queue.ts'

/** What a reconcile may ask for: run again after a delay even if nothing changes (a timer). */
export interface ReconcileResult {
  requeueAfterMs?: number
}

/**
 * Converges everything derived from one key. It receives only the key, never the event that
 * caused it (STYLE §5.4): read the current state from caches/API and make the world match.
 * Throw to retry with per-key exponential backoff.
 */
export interface Reconciler {
  // biome-ignore lint/suspicious/noConfusingVoidType: lets `async reconcile() { ... }` with no return implement it
  reconcile(key: string): Promise<ReconcileResult | undefined | void>
}

/** Per-reconcile observations, shaped after controller-runtime's `controller_runtime_reconcile_*`. */
export interface ControllerMetrics {
  reconciled(result: 'success' | 'error' | 'requeue_after', durationMs: number): void
}

/** Options of a {@link Controller}. */
export interface ControllerOptions {
  /** Name for logs and metrics labels (controller-runtime's `controller` label). */
  name: string
  reconciler: Reconciler
  /** Parallel workers; one key is still never reconciled twice at once. Default 1. */
  workers?: number
  /** Bring your own queue (e.g. to share it with informers created earlier). */
  queue?: WorkQueue<string>
  clock?: Clock
  logger?: Logger
  metrics?: ControllerMetrics
  queueMetrics?: WorkQueueMetrics
}

/**
 * Runs a {@link Reconciler} with N workers pulling keys from a {@link WorkQueue}: success forgets
 * the key's backoff (and honours `requeueAfterMs`), a throw re-adds it rate-limited.
 */
export class Controller {
  readonly name: string
  readonly queue: WorkQueue<string>
  readonly #reconciler: Reconciler
  readonly #workers: number
  readonly #clock: Clock
  readonly #logger: Logger
  readonly #metrics: ControllerMetrics | undefined
  #running: Promise<void>[] = []

  constructor(options: ControllerOptions) {
    this.name = options.name
    this.#reconciler = options.reconciler
    this.#workers = Math.max(1, options.workers ?? 1)
    this.#clock = options.clock ?? systemClock
    this.#logger = (options.logger ?? nullLogger).child({ controller: options.name })
    this.#metrics = options.metrics
    this.queue = options.queue ?? new WorkQueue<string>({ clock: this.#clock, metrics: options.queueMetrics })
  }

  /** Starts the workers (idempotent). Start informers feeding `queue` before or after; either works. */
  start(): void {
    if (this.#running.length > 0) return
    for (let i = 0; i < this.#workers; i++) this.#running.push(this.#work())
  }

  /** Stops taking keys, lets in-flight reconciles finish, and resolves when all workers exit. */
  async stop(): Promise<void> {
    this.queue.shutDown()
    await Promise.all(this.#running)
    this.#running = []
  }

  async #work(): Promise<void> {
    for (;;) {
      const next = await this.queue.get()
      if (next.shutdown) return
      await this.#reconcileOne(next.item)
    }
  }

  async #reconcileOne(key: string): Promise<void> {
    const started = this.#clock.now()
    try {
      const result = await this.#reconciler.reconcile(key)
      this.queue.forget(key)
      const after = result ? result.requeueAfterMs : undefined
      if (after !== undefined && after >= 0) {
        this.queue.addAfter(key, after)
        this.#metrics?.reconciled('requeue_after', this.#clock.now() - started)
      } else {
        this.#metrics?.reconciled('success', this.#clock.now() - started)
      }
    } catch (err) {
      this.#metrics?.reconciled('error', this.#clock.now() - started)
      this.#logger.warn(
        { err, key, retries: this.queue.numRequeues(key) },
        'reconcile failed; retrying with backoff',
      )
      this.queue.addRateLimited(key)
    } finally {
      this.queue.done(key)
    }
  }
}

import { type KubernetesObject, ListWatch, Watch } from '@kubernetes/client-node'
import { type Logger, nullLogger } from '../observability/logger.ts'
import { type Clock, systemClock } from './clock.ts'
import { objectKey } from './keys.ts'
import type { KindRef, KubeClient } from './kube-client.ts'
import type { WorkQueue } from './work-queue.ts'

/**
 * Maps a changed object to the reconcile keys it affects: itself (`objectKey`), its owner
 * (`ownerKeys`, controller-runtime's `Owns()`), or a fixed root key (`constantKey`, the
 * "everything compiles into one snapshot" case). Return nothing to ignore the object.
 */
export type KeyMapper<T extends KubernetesObject> = (obj: T) => readonly string[] | string | undefined

/** Options of an {@link InformerCache}. */
export interface InformerCacheOptions {
  /** Watch one namespace only; all namespaces when absent (for namespaced kinds). */
  namespace?: string
  labelSelector?: string
  fieldSelector?: string
  /**
   * Every `resyncMs` all cached objects are mapped and enqueued again: the safety net that makes
   * a missed or mishandled event converge anyway. Default 10 minutes; 0 disables.
   */
  resyncMs?: number
  /** Delay before re-listing after the watch failed (the ListWatch stops on errors). Default 1 s. */
  restartDelayMs?: number
  clock?: Clock
  logger?: Logger
}

/**
 * One kind, listed and watched, kept in memory, used as a read cache by reconcilers. Its event
 * callbacks do exactly one thing: map the object to keys and add them to work queues. The event
 * type is deliberately dropped (STYLE §5.4): reconcilers read the cache and converge.
 */
export class InformerCache<T extends KubernetesObject = KubernetesObject> {
  readonly kind: KindRef
  readonly #client: KubeClient
  readonly #options: InformerCacheOptions
  readonly #clock: Clock
  readonly #logger: Logger
  readonly #targets: { queue: WorkQueue<string>; map: KeyMapper<T> }[] = []
  #listWatch: ListWatch<T> | undefined
  #synced = false
  #stopped = false
  #cancelResync: (() => void) | undefined
  #cancelRestart: (() => void) | undefined

  constructor(client: KubeClient, kind: KindRef, options: InformerCacheOptions = {}) {
    this.#client = client
    this.kind = kind
    this.#options = options
    this.#clock = options.clock ?? systemClock
    this.#logger = (options.logger ?? nullLogger).child({ informer: `${kind.kind}.${kind.apiVersion}` })
  }

  /** Enqueue the keys `map` returns (default: the object's own key) into `queue` on every change. */
  enqueueTo(queue: WorkQueue<string>, map: KeyMapper<T> = objectKey): this {
    this.#targets.push({ queue, map })
    return this
  }

  /** Lists, starts watching, and resolves once the cache holds the initial list. */
  async start(): Promise<void> {
    this.#stopped = false
    const path = await this.#client.path({ ...this.kind, namespace: this.#options.namespace })
    const lw = new ListWatch<T>(
      path,
      new Watch(this.#client.kubeConfig),
      () =>
        this.#client.list<T>(
          { ...this.kind, namespace: this.#options.namespace },
          { labelSelector: this.#options.labelSelector, fieldSelector: this.#options.fieldSelector },
        ),
      false,
      this.#options.labelSelector,
      this.#options.fieldSelector,
    )
    const enqueue = (obj: T) => this.#enqueue(obj)
    lw.on('add', enqueue)
    lw.on('update', enqueue)
    lw.on('delete', enqueue)
    lw.on('error', (err: unknown) => this.#restartLater(err))
    this.#listWatch = lw
    await lw.start()
    this.#synced = true
    this.#scheduleResync()
  }

  /** True once the initial list is in the cache. */
  get synced(): boolean {
    return this.#synced
  }

  /** The cached object, or `undefined`. For cluster-scoped kinds omit `namespace`. */
  get(name: string, namespace?: string): T | undefined {
    return this.#listWatch?.get(name, namespace)
  }

  /** Cached objects, in one namespace or all. */
  list(namespace?: string): readonly T[] {
    return this.#listWatch?.list(namespace) ?? []
  }

  /** Enqueues the keys of every cached object now (what the periodic resync does). */
  resync(): void {
    for (const obj of this.list()) this.#enqueue(obj)
  }

  /** Stops watching and cancels timers; the cache keeps its last content. */
  async stop(): Promise<void> {
    this.#stopped = true
    this.#cancelResync?.()
    this.#cancelRestart?.()
    await this.#listWatch?.stop()
  }

  #enqueue(obj: T): void {
    for (const { queue, map } of this.#targets) {
      const keys = map(obj)
      if (keys === undefined) continue
      for (const key of typeof keys === 'string' ? [keys] : keys) queue.add(key)
    }
  }

  #scheduleResync(): void {
    const every = this.#options.resyncMs ?? 600_000
    if (every <= 0 || this.#stopped) return
    this.#cancelResync = this.#clock.setTimer(every, () => {
      this.resync()
      this.#scheduleResync()
    })
  }

  #restartLater(err: unknown): void {
    if (this.#stopped) return
    this.#logger.warn({ err }, 'watch failed; re-listing')
    this.#cancelRestart?.()
    this.#cancelRestart = this.#clock.setTimer(this.#options.restartDelayMs ?? 1000, () => {
      if (this.#stopped || !this.#listWatch) return
      // start() re-lists when the resource version is gone, and the list reconciles deletions
      // that happened while we were not watching (deleteItems fires the delete callbacks).
      this.#listWatch.start().catch((e: unknown) => this.#restartLater(e))
    })
  }
}

import type { KubernetesObject } from '@kubernetes/client-node'
import type { SbcConfig } from '../config/model.ts'
import { parseConfig } from '../config/validate.ts'
import { type Logger, nullLogger } from '../observability/logger.ts'
import { Controller } from './controller.ts'
import { InformerCache } from './informer-cache.ts'
import type { KubeClient } from './kube-client.ts'
import { WorkQueue } from './work-queue.ts'

/** Options of a {@link SnapshotWatcher}. */
export interface SnapshotWatcherOptions {
  client: KubeClient
  /** The pod's namespace (the SBC's). */
  namespace: string
  /** The SessionBorderController; the ConfigMap watched is `<sbc>-config`. */
  sbc: string
  /**
   * Called with each new validated snapshot, one at a time, in generation order; never twice for
   * one generation. Throwing means "not applied": it is retried with backoff (keep running the
   * old config meanwhile, and roll back whatever was half-applied before throwing).
   */
  onSnapshot: (config: SbcConfig) => Promise<void> | void
  /** Called when the published snapshot does not validate (the pod keeps its current config). */
  onInvalid?: (err: Error) => void
  /** Relist safety net; default 5 minutes. */
  resyncMs?: number
  logger?: Logger
}

/**
 * The pod side of config distribution: watches ConfigMap `<sbc>-config` (field-selected by name,
 * so the pod needs only get/list/watch on configmaps), validates `config.json` with
 * `parseConfig`, and hands each newer generation to `onSnapshot`. Level-triggered like the
 * operator: every change only enqueues one key; the handler reads the cached ConfigMap.
 *
 * ```ts
 * const watcher = new SnapshotWatcher({ client, namespace, sbc, onSnapshot: async (c) => {
 *   await runtime.apply(c)           // open new listeners, swap routing, drain old ones
 *   await ack.acknowledge(c.generation)
 * } })
 * await watcher.start()              // resolves once the first list is in (snapshot or not)
 * ```
 */
export class SnapshotWatcher {
  readonly #o: SnapshotWatcherOptions
  readonly #logger: Logger
  readonly #informer: InformerCache<KubernetesObject & { data?: Record<string, string> }>
  readonly #controller: Controller
  #current: SbcConfig | undefined
  #rejected: string | undefined

  constructor(options: SnapshotWatcherOptions) {
    this.#o = options
    this.#logger = (options.logger ?? nullLogger).child({
      configMap: `${options.namespace}/${this.configMapName}`,
    })
    const queue = new WorkQueue<string>({ maxDelayMs: 30_000 })
    this.#informer = new InformerCache(
      options.client,
      { apiVersion: 'v1', kind: 'ConfigMap' },
      {
        namespace: options.namespace,
        fieldSelector: `metadata.name=${this.configMapName}`,
        resyncMs: options.resyncMs ?? 300_000,
        logger: this.#logger,
      },
    )
    this.#informer.enqueueTo(queue, () => 'snapshot')
    this.#controller = new Controller({
      name: 'snapshot',
      queue,
      reconciler: { reconcile: () => this.#sync() },
      logger: this.#logger,
    })
  }

  /** `<sbc>-config`. */
  get configMapName(): string {
    return `${this.#o.sbc}-config`
  }

  /** The snapshot last handed to `onSnapshot` successfully. */
  get current(): SbcConfig | undefined {
    return this.#current
  }

  async start(): Promise<void> {
    this.#controller.start()
    await this.#informer.start()
  }

  async stop(): Promise<void> {
    await this.#informer.stop()
    await this.#controller.stop()
  }

  async #sync(): Promise<undefined> {
    const cm = this.#informer.get(this.configMapName, this.#o.namespace)
    const json = cm?.data?.['config.json']
    if (json === undefined || json === this.#rejected) return undefined
    let config: SbcConfig
    try {
      config = parseConfig(json)
    } catch (err) {
      this.#rejected = json
      this.#logger.warn({ err }, 'published config does not validate; keeping the current one')
      this.#o.onInvalid?.(err as Error)
      return undefined
    }
    if (this.#current !== undefined && config.generation <= this.#current.generation) return undefined
    await this.#o.onSnapshot(config)
    this.#current = config
    this.#logger.info({ generation: config.generation }, 'applied config snapshot')
    return undefined
  }
}

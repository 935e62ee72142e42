import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node'
import type { Registry } from 'prom-client'
import { API_VERSION } from '../../lib/api/v1alpha1/group.ts'
import { Controller } from '../../lib/kube/controller.ts'
import { InformerCache } from '../../lib/kube/informer-cache.ts'
import { objectKey, ownerKeys } from '../../lib/kube/keys.ts'
import { type KindRef, KubeClient } from '../../lib/kube/kube-client.ts'
import { LeaderElector } from '../../lib/kube/leader-election.ts'
import { WorkQueue } from '../../lib/kube/work-queue.ts'
import { type Logger, nullLogger } from '../../lib/observability/logger.ts'
import { KubeOperatorApi } from './api.ts'
import { ConfigController, configKeysFor } from './controllers/config-controller.ts'
import { WorkloadController } from './controllers/workload-controller.ts'
import { K, MEMBER_KINDS, OWNED_KINDS } from './kinds.ts'
import { OperatorMetrics } from './metrics.ts'
import { LABEL_MANAGED_BY, LABEL_PART_OF, MANAGED_BY } from './names.ts'
import type { DefaultRedis } from './redis-default.ts'
import { InformerStore } from './store.ts'

/** The leader-election Lease name (in the operator's namespace). */
export const LEADER_LEASE = 'kube-sbc-operator'

export interface OperatorOptions {
  kubeConfig: KubeConfig
  /** Namespace of the leader-election Lease. */
  namespace: string
  /** Campaign for the Lease and reconcile only while leading; otherwise reconcile at once. */
  leaderElect: boolean
  image: string
  /** The Redis of SBCs that name none (chart's `KUBE_SBC_DEFAULT_REDIS_*`); default: none. */
  defaultRedis?: DefaultRedis
  identity?: string
  leaseDurationMs?: number
  /** Config compile throttle per SBC (default 250 ms). */
  throttleMs?: number
  /** Informer resync (default 10 min). */
  resyncMs?: number
  registry: Registry
  logger?: Logger
  /** Called when leadership is lost after having been held: the process should exit (as controller-runtime does). */
  onLostLeadership?: () => void
}

/**
 * The operator: informer caches for every kind it reads, the config and workload controllers
 * fed by them, and (optionally) leader election. Caches start on every replica (so a standby is
 * warm and `/readyz` is true on both); controllers run only on the leader.
 */
export class Operator {
  readonly client: KubeClient
  readonly store = new InformerStore()
  readonly metrics: OperatorMetrics
  readonly #o: OperatorOptions
  readonly #logger: Logger
  readonly #controllers: Controller[]
  readonly #informers: InformerCache[] = []
  #elector: LeaderElector | undefined
  #synced = false
  #wasLeader = false

  constructor(options: OperatorOptions) {
    this.#o = options
    this.#logger = options.logger ?? nullLogger
    this.client = new KubeClient(options.kubeConfig)
    this.metrics = new OperatorMetrics(options.registry)
    const identity = options.identity ?? `operator-${process.pid}`
    const api = new KubeOperatorApi(this.client, identity)
    const configQueue = new WorkQueue<string>({ metrics: this.metrics.queue('config'), maxDelayMs: 60_000 })
    const workloadQueue = new WorkQueue<string>({
      metrics: this.metrics.queue('workload'),
      maxDelayMs: 60_000,
    })
    const config = new Controller({
      name: 'config',
      queue: configQueue,
      reconciler: new ConfigController({
        store: this.store,
        api,
        throttleMs: options.throttleMs,
        logger: this.#logger.child({ controller: 'config' }),
        metrics: this.metrics.config,
        defaultRedis: options.defaultRedis,
      }),
      logger: this.#logger,
      metrics: this.metrics.controller('config'),
    })
    const workload = new Controller({
      name: 'workload',
      queue: workloadQueue,
      reconciler: new WorkloadController({
        store: this.store,
        api,
        image: options.image,
        logger: this.#logger.child({ controller: 'workload' }),
      }),
      logger: this.#logger,
      metrics: this.metrics.controller('workload'),
    })
    this.#controllers = [config, workload]

    const keys = configKeysFor(this.store, options.defaultRedis)
    const owner = ownerKeys(K.SessionBorderController.kind, API_VERSION)
    const informer = (kind: KindRef, labelSelector?: string) => {
      const cache = new InformerCache<KubernetesObject>(this.client, kind, {
        labelSelector,
        resyncMs: options.resyncMs,
        logger: this.#logger,
      })
      this.store.add(cache)
      this.#informers.push(cache)
      return cache
    }
    informer(K.SessionBorderController).enqueueTo(configQueue, keys.sbc).enqueueTo(workloadQueue, objectKey)
    for (const k of MEMBER_KINDS) informer(k).enqueueTo(configQueue, keys.member)
    informer(K.Secret).enqueueTo(configQueue, keys.secret)
    informer(K.Lease, `${LABEL_PART_OF}=kube-sbc`).enqueueTo(configQueue, keys.lease)
    const managed = `${LABEL_MANAGED_BY}=${MANAGED_BY}`
    informer(K.ConfigMap, managed).enqueueTo(configQueue, owner).enqueueTo(workloadQueue, owner)
    for (const k of OWNED_KINDS) informer(k, managed).enqueueTo(workloadQueue, owner)
  }

  /** True once every cache holds its initial list. */
  get ready(): boolean {
    return this.#synced
  }

  get isLeader(): boolean {
    return this.#o.leaderElect ? (this.#elector?.isLeader ?? false) : true
  }

  /** Starts the caches, then campaigns (or, without leader election, starts the controllers). */
  async start(): Promise<void> {
    await Promise.all(this.#informers.map((i) => i.start()))
    this.#synced = true
    this.#logger.info({}, 'caches synced')
    if (!this.#o.leaderElect) {
      this.metrics.leader(LEADER_LEASE, true)
      for (const c of this.#controllers) c.start()
      return
    }
    this.metrics.leader(LEADER_LEASE, false)
    this.#elector = new LeaderElector({
      client: this.client,
      namespace: this.#o.namespace,
      name: LEADER_LEASE,
      identity: this.#o.identity,
      leaseDurationMs: this.#o.leaseDurationMs,
      logger: this.#logger,
      onStartedLeading: () => {
        this.#wasLeader = true
        this.metrics.leader(LEADER_LEASE, true)
        for (const c of this.#controllers) c.start()
      },
      onStoppedLeading: () => {
        this.metrics.leader(LEADER_LEASE, false)
        if (this.#wasLeader) this.#o.onLostLeadership?.()
      },
    })
    this.#elector.start()
  }

  /** Stops reconciling (in-flight reconciles finish), releases the Lease, stops the caches. */
  async stop(): Promise<void> {
    this.#wasLeader = false
    await Promise.all(this.#controllers.map((c) => c.stop()))
    await this.#elector?.stop({ release: true })
    await Promise.all(this.#informers.map((i) => i.stop()))
  }
}

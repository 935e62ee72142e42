import { type Logger, nullLogger } from '../observability/logger.ts'
import { applyObject } from './apply.ts'
import { type Clock, systemClock } from './clock.ts'
import type { KubeClient } from './kube-client.ts'
import { microTime } from './leader-election.ts'

/** Options of an {@link AckLease}; names follow docs/design/20261126.runtime-contract.md. */
export interface AckLeaseOptions {
  client: KubeClient
  /** The pod's namespace (POD_NAMESPACE). */
  namespace: string
  /** The pod's name (POD_NAME): the Lease's name and holder. */
  podName: string
  /** The pod's uid (POD_UID): when known, the Lease is owned by the Pod and collected with it. */
  podUid?: string
  /** The SessionBorderController the pod serves. */
  sbc: string
  role: 'signalling' | 'media'
  /** Default 30 s (contract). */
  leaseDurationSeconds?: number
  /** Default 10 s (contract). */
  renewIntervalMs?: number
  clock?: Clock
  logger?: Logger
}

/**
 * The pod side of config acknowledgement: a coordination.k8s.io/v1 Lease `<pod-name>` renewed
 * every 10 s, reporting the generation the pod runs in annotation
 * `sbc.kubesbc.io/applied-generation`. The operator counts only Leases renewed within their
 * duration, so a dead pod stops holding `Programmed` back.
 *
 * ```ts
 * const ack = new AckLease({ client, namespace, podName, podUid, sbc, role: 'signalling' })
 * await ack.start()                 // creates the Lease (applied generation 0)
 * ack.acknowledge(config.generation) // after applying a snapshot; renews at once
 * await ack.stop()                  // stops renewing (the Lease expires; the Pod's GC removes it)
 * ```
 *
 * Written by server-side apply with field manager `kube-sbc-<role>` (needs leases get, create,
 * patch). Renewal failures are logged and retried on the next tick; they never throw.
 */
export class AckLease {
  readonly #o: AckLeaseOptions
  readonly #clock: Clock
  readonly #logger: Logger
  #generation = 0
  #cancel: (() => void) | undefined
  #stopped = true
  #writing: Promise<void> = Promise.resolve()

  constructor(options: AckLeaseOptions) {
    this.#o = options
    this.#clock = options.clock ?? systemClock
    this.#logger = (options.logger ?? nullLogger).child({ lease: `${options.namespace}/${options.podName}` })
  }

  /** The generation last acknowledged. */
  get appliedGeneration(): number {
    return this.#generation
  }

  /** Writes the Lease once (throws if that fails: the pod lacks RBAC or the API is unreachable), then renews. */
  async start(): Promise<void> {
    this.#stopped = false
    await this.#write()
    this.#schedule()
  }

  /** Records that `generation` is applied and renews at once (resolves when written, never throws). */
  acknowledge(generation: number): Promise<void> {
    this.#generation = generation
    return this.renew()
  }

  /** Renews now; writes are serialised. */
  renew(): Promise<void> {
    this.#writing = this.#writing.then(() =>
      this.#write().catch((err: unknown) => this.#logger.warn({ err }, 'could not renew the ack Lease')),
    )
    return this.#writing
  }

  /** Stops renewing. The Lease is left to expire (and to be collected with the Pod). */
  async stop(): Promise<void> {
    this.#stopped = true
    this.#cancel?.()
    await this.#writing
  }

  #schedule(): void {
    if (this.#stopped) return
    this.#cancel = this.#clock.setTimer(this.#o.renewIntervalMs ?? 10_000, () => {
      this.renew().finally(() => this.#schedule())
    })
  }

  async #write(): Promise<void> {
    const o = this.#o
    await applyObject(
      o.client,
      {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: {
          name: o.podName,
          namespace: o.namespace,
          labels: {
            'app.kubernetes.io/part-of': 'kube-sbc',
            'sbc.kubesbc.io/sbc': o.sbc,
            'sbc.kubesbc.io/role': o.role,
          },
          annotations: { 'sbc.kubesbc.io/applied-generation': String(this.#generation) },
          ...(o.podUid
            ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: o.podName, uid: o.podUid }] }
            : {}),
        },
        spec: {
          holderIdentity: o.podName,
          leaseDurationSeconds: o.leaseDurationSeconds ?? 30,
          renewTime: microTime(this.#clock.now()),
        },
      },
      { fieldManager: `kube-sbc-${o.role}` },
    )
  }
}

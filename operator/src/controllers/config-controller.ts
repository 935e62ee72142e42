import type { KubernetesObject } from '@kubernetes/client-node'
import { compile } from '../../../lib/config/compile/compile.ts'
import type { KubeObject } from '../../../lib/config/compile/objects.ts'
import { ControllerNotFoundError } from '../../../lib/config/errors.ts'
import type { ReconcileResult, Reconciler } from '../../../lib/kube/controller.ts'
import { splitKey } from '../../../lib/kube/keys.ts'
import { type Logger, nullLogger } from '../../../lib/observability/logger.ts'
import type { OperatorApi } from '../api.ts'
import { acknowledged } from '../config/acks.ts'
import { configMap, decidePublication, readPublished } from '../config/publish.ts'
import { desiredStatus, newProblems, ownedStatusDiffers } from '../config/status.ts'
import { K, SBC_KINDS } from '../kinds.ts'
import { configMapName, LABEL_SBC } from '../names.ts'
import { isControlledBy } from '../owner.ts'
import {
  type DefaultRedis,
  MirrorConflictError,
  mirrorUpToDate,
  NO_DEFAULT_REDIS,
  RedisReason,
  type RedisResolution,
  redisAuthName,
  resolveRedis,
} from '../redis-default.ts'
import type { ObjectStore } from '../store.ts'

/** Observations for `sbc_config_generation` and `sbc_config_generation_acked{role}`. */
export interface ConfigMetrics {
  generation(namespace: string, sbc: string, generation: number): void
  acked(namespace: string, sbc: string, byRole: Readonly<Record<string, number>>): void
}

export interface ConfigControllerOptions {
  store: ObjectStore
  api: OperatorApi
  /** Milliseconds since the epoch (Lease liveness, lastTransitionTime, throttling). */
  now?: () => number
  /** At most one compile per SBC per window (STUNner's throttle); 0 disables. Default 250 ms. */
  throttleMs?: number
  /** Longest wait before re-checking Lease liveness. Default 60 s. */
  maxRequeueMs?: number
  logger?: Logger
  metrics?: ConfigMetrics
  /** The Redis of SBCs that name none (the chart's `KUBE_SBC_DEFAULT_REDIS_*`); default: none. */
  defaultRedis?: DefaultRedis
}

/**
 * The config compiler (STYLE §5.4, first kind of controller). One key per
 * SessionBorderController (`namespace/name`); every change of an SBC CR, a Secret or a pod's ack
 * Lease in its namespace enqueues it (see {@link configKeysFor}). A reconcile reads everything
 * from the caches, compiles, publishes the snapshot to ConfigMap `<sbc>-config` when the compiled
 * content changed (generation + 1), and writes the status of every object it judged when that
 * differs. It never looks at what triggered it.
 */
export class ConfigController implements Reconciler {
  readonly #o: ConfigControllerOptions
  readonly #now: () => number
  readonly #logger: Logger
  readonly #lastCompile = new Map<string, number>()

  constructor(options: ConfigControllerOptions) {
    this.#o = options
    this.#now = options.now ?? Date.now
    this.#logger = options.logger ?? nullLogger
  }

  async reconcile(key: string): Promise<ReconcileResult | undefined> {
    const { namespace, name } = splitKey(key)
    if (namespace === undefined) return undefined
    const { store, api } = this.#o
    const sbc = store.get(K.SessionBorderController, name, namespace)
    if (sbc === undefined || sbc.metadata?.deletionTimestamp) {
      this.#lastCompile.delete(key)
      return undefined // its ConfigMap goes with it (garbage collection)
    }
    const now = this.#now()
    const window = this.#o.throttleMs ?? 250
    const last = this.#lastCompile.get(key)
    if (window > 0 && last !== undefined && now - last < window)
      return { requeueAfterMs: window - (now - last) }
    this.#lastCompile.set(key, now)

    const objects = [...SBC_KINDS, K.Secret].flatMap((k) => store.list(k, namespace)) as KubeObject[]
    let compiled: ReturnType<typeof compile>
    try {
      compiled = compile(objects, { generation: 0, controller: { namespace, name } })
    } catch (err) {
      if (err instanceof ControllerNotFoundError) return undefined
      throw err
    }

    const defaults = this.#o.defaultRedis ?? NO_DEFAULT_REDIS
    const src = defaults.passwordSecret
    let mirrorFailed = false
    let redis = resolveRedis(
      sbc,
      compiled.config.redis,
      defaults,
      src === undefined ? undefined : store.get(K.Secret, src.name, src.namespace),
    )
    // The mirror before the ConfigMap: the workload controller renders pods mounting it from the
    // published snapshot, so it exists by the time a pod is scheduled.
    // A failed mirror write (e.g. RBAC without create on secrets) must not stop publication of
    // everything else: the condition names it, and the next reconcile (resync, Secret change) retries.
    try {
      await this.#mirror(sbc, redis)
    } catch (err) {
      this.#logger.warn({ err, sbc: key }, 'could not mirror the default Redis password')
      mirrorFailed = true
      redis = {
        ...redis,
        condition: {
          ...redis.condition,
          status: 'False',
          reason: RedisReason.MirrorFailed,
          message: `Could not write Secret ${redisAuthName(name)} (mirror of the default Redis password): ${(err as Error).message}`,
        },
      }
    }

    const cmRef = { apiVersion: 'v1', kind: 'ConfigMap', namespace, name: configMapName(name) }
    const published = readPublished(await api.get(cmRef))
    const floor =
      Number((sbc as { status?: { configGeneration?: unknown } }).status?.configGeneration ?? 0) || 0
    const config = { ...compiled.config, redis: redis.redis }
    const pub = decidePublication(config, compiled.verdicts, published, floor)
    if (pub.write) await api.apply(configMap(sbc, pub))
    if (pub.configChanged) {
      this.#logger.info({ sbc: key, generation: pub.generation }, 'published config')
      await this.#event(sbc, 'Normal', 'ConfigPublished', `Published config generation ${pub.generation}.`)
    }
    this.#o.metrics?.generation(namespace, name, pub.generation)

    const acks = acknowledged(store.list(K.Lease, namespace), name, now)
    this.#o.metrics?.acked(namespace, name, acks.byRole)

    for (const v of compiled.verdicts) {
      const kind = SBC_KINDS.find((k) => k.kind === v.kind)
      const obj = kind === undefined ? undefined : store.get(kind, v.name, v.namespace)
      if (kind === undefined || obj === undefined) continue
      const extra = kind === K.SessionBorderController ? [redis.condition] : []
      const status = desiredStatus(obj, v, pub.objects, acks, pub.generation, new Date(now), extra)
      if (!ownedStatusDiffers(obj, status)) continue
      for (const c of newProblems(obj, status)) await this.#event(obj, 'Warning', c.reason, c.message)
      await api.applyStatus({ ...kind, namespace: v.namespace, name: v.name }, status)
    }

    const max = this.#o.maxRequeueMs ?? 60_000
    if (acks.nextExpiry === undefined) return mirrorFailed ? { requeueAfterMs: max } : undefined
    return { requeueAfterMs: Math.max(1000, Math.min(max, acks.nextExpiry - now + 1000)) }
  }

  /** Keeps `<sbc>-redis-auth` equal to the default's password Secret, or removes it when unused. */
  async #mirror(sbc: KubernetesObject, r: RedisResolution): Promise<void> {
    const namespace = sbc.metadata?.namespace ?? ''
    const name = redisAuthName(sbc.metadata?.name ?? '')
    const cached = this.#o.store.get(K.Secret, name, namespace)
    const owned = isControlledBy(cached, sbc)
    if (r.mirror.action === 'apply') {
      if (mirrorUpToDate(cached, r.mirror.secret)) return
      // Never take over a Secret someone else made (a forced apply would overwrite its data).
      if (cached !== undefined && !owned) throw new MirrorConflictError(namespace, name)
      await this.#o.api.apply(r.mirror.secret)
      this.#logger.info(
        { sbc: `${namespace}/${sbc.metadata?.name}`, secret: name },
        'mirrored the default Redis password',
      )
      return
    }
    if (r.mirror.action !== 'delete' || cached === undefined || !owned) return
    await this.#o.api.delete({ ...K.Secret, namespace, name })
    this.#logger.info(
      { sbc: `${namespace}/${sbc.metadata?.name}`, secret: name },
      'deleted the unused Redis password mirror',
    )
  }

  async #event(
    obj: KubernetesObject,
    type: 'Normal' | 'Warning',
    reason: string,
    note: string,
  ): Promise<void> {
    try {
      await this.#o.api.event({ regarding: obj, type, reason, action: 'Compile', note })
    } catch (err) {
      this.#logger.warn({ err, reason }, 'could not record an event')
    }
  }
}

/**
 * The keys (`namespace/sbc`) a changed object maps to, for the config controller's informers
 * (controller-runtime's `EnqueueRequestsFromMapFunc`): an SBC maps to itself; a member CR or a
 * Secret to every SBC of its namespace (selectors are the compiler's business); a pod's ack Lease
 * to the SBC its label names; the published ConfigMap to its owner.
 */
export function configKeysFor(store: ObjectStore, defaultRedis: DefaultRedis = NO_DEFAULT_REDIS) {
  const sbcsOf = (namespace: string | undefined) =>
    namespace === undefined
      ? []
      : store.list(K.SessionBorderController, namespace).map((s) => `${namespace}/${s.metadata?.name}`)
  const src = defaultRedis.passwordSecret
  return {
    sbc: (o: KubernetesObject) => `${o.metadata?.namespace}/${o.metadata?.name}`,
    member: (o: KubernetesObject) => sbcsOf(o.metadata?.namespace),
    /**
     * A Secret maps like a member; the default Redis password Secret also maps to every SBC in
     * every namespace (any of them may mirror it), so a rotation reaches every mirror.
     */
    secret: (o: KubernetesObject) =>
      src !== undefined && o.metadata?.namespace === src.namespace && o.metadata?.name === src.name
        ? store.list(K.SessionBorderController).map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`)
        : sbcsOf(o.metadata?.namespace),
    lease: (o: KubernetesObject) => {
      const sbc = o.metadata?.labels?.[LABEL_SBC]
      return sbc === undefined ? undefined : `${o.metadata?.namespace}/${sbc}`
    },
  }
}

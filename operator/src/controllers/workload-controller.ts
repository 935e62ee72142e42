import { createHash } from 'node:crypto'
import type { KubernetesObject } from '@kubernetes/client-node'
import type { SbcConfig } from '../../../lib/config/model.ts'
import { parseConfig } from '../../../lib/config/validate.ts'
import type { Reconciler } from '../../../lib/kube/controller.ts'
import { splitKey } from '../../../lib/kube/keys.ts'
import { type Logger, nullLogger } from '../../../lib/observability/logger.ts'
import type { OperatorApi } from '../api.ts'
import { K, kindKey } from '../kinds.ts'
import { ANNOTATION_SPEC_HASH, CONFIG_KEY, configMapName } from '../names.ts'
import { isControlledBy } from '../owner.ts'
import type { ObjectStore } from '../store.ts'
import { desiredWorkloads } from '../workloads/index.ts'
import type { SbcObject } from '../workloads/input.ts'

export interface WorkloadControllerOptions {
  store: ObjectStore
  api: OperatorApi
  /** The image the pods run. */
  image: string
  logger?: Logger
}

/**
 * The workload controller (STYLE §5.4, second kind): one key per SessionBorderController. It
 * renders the desired Deployment, DaemonSet, Services, PDB, NetworkPolicy and pod RBAC purely
 * (`operator/src/workloads`) from the SBC and its published snapshot, and server-side applies
 * each with field manager `kube-sbc-operator`. An apply is skipped when the cached object carries
 * the hash of the same desired object and has not changed since our last apply (same
 * metadata.generation, or resourceVersion for kinds without one), so an idle cluster sees no
 * writes while a hand edit is still reverted. Services of SipInterfaces that left the snapshot
 * are deleted. Everything carries the SBC as controller owner, so deleting it collects all.
 */
export class WorkloadController implements Reconciler {
  readonly #o: WorkloadControllerOptions
  readonly #logger: Logger
  /** `kind/ns/name` → the marker of the object our last apply returned. */
  readonly #applied = new Map<string, string>()

  constructor(options: WorkloadControllerOptions) {
    this.#o = options
    this.#logger = options.logger ?? nullLogger
  }

  async reconcile(key: string): Promise<undefined> {
    const { namespace, name } = splitKey(key)
    if (namespace === undefined) return undefined
    const { store, api } = this.#o
    const sbc = store.get(K.SessionBorderController, name, namespace) as SbcObject | undefined
    if (sbc === undefined || sbc.metadata?.deletionTimestamp) return undefined
    const config = this.#config(namespace, name)
    const desired = desiredWorkloads({ sbc, config, image: this.#o.image })
    for (const obj of desired) await this.#apply(obj)
    if (config !== undefined) {
      const keep = new Set(desired.filter((d) => d.kind === 'Service').map((d) => d.metadata?.name))
      for (const svc of store.list(K.Service, namespace)) {
        if (!isControlledBy(svc, sbc) || keep.has(svc.metadata?.name)) continue
        await api.delete({ ...K.Service, namespace, name: svc.metadata?.name ?? '' })
        this.#logger.info(
          { sbc: key, service: svc.metadata?.name },
          'deleted the Service of a removed SipInterface',
        )
      }
    }
    return undefined
  }

  #config(namespace: string, name: string): SbcConfig | undefined {
    const cm = this.#o.store.get(K.ConfigMap, configMapName(name), namespace) as
      | (KubernetesObject & { data?: Record<string, string> })
      | undefined
    const json = cm?.data?.[CONFIG_KEY]
    if (json === undefined) return undefined
    try {
      return parseConfig(json)
    } catch (err) {
      this.#logger.warn(
        { err, sbc: `${namespace}/${name}` },
        'published config does not validate; rendering without it',
      )
      return undefined
    }
  }

  async #apply(obj: KubernetesObject): Promise<void> {
    const hash = createHash('sha256').update(JSON.stringify(obj)).digest('hex').slice(0, 16)
    const body = {
      ...obj,
      metadata: {
        ...obj.metadata,
        annotations: { ...obj.metadata?.annotations, [ANNOTATION_SPEC_HASH]: hash },
      },
    }
    const ref = { apiVersion: obj.apiVersion ?? '', kind: obj.kind ?? '' }
    const ns = obj.metadata?.namespace
    const name = obj.metadata?.name ?? ''
    const id = `${kindKey(ref)}/${ns}/${name}`
    const cached = this.#o.store.get(ref, name, ns)
    if (
      cached !== undefined &&
      cached.metadata?.annotations?.[ANNOTATION_SPEC_HASH] === hash &&
      this.#applied.get(id) === marker(cached)
    ) {
      return
    }
    const stored = await this.#o.api.apply(body)
    this.#applied.set(id, marker(stored))
  }
}

/** What changes when someone else edits the object: its generation, else its resourceVersion. */
function marker(o: KubernetesObject): string {
  const g = o.metadata?.generation
  return g !== undefined && g > 0 ? `g${g}` : `rv${o.metadata?.resourceVersion ?? ''}`
}

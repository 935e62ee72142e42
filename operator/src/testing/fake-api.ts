import type { KubernetesObject } from '@kubernetes/client-node'
import type { ObjectRef } from '../../../lib/kube/kube-client.ts'
import type { EventSpec, OperatorApi } from '../api.ts'
import type { MemoryStore } from '../store.ts'

/** One recorded write. */
export type Write =
  | { op: 'apply'; kind: string; name: string; object: KubernetesObject }
  | { op: 'status'; kind: string; name: string; status: unknown }
  | { op: 'delete'; kind: string; name: string }

/**
 * An {@link OperatorApi} for pure controller tests: writes are recorded and land in the
 * {@link MemoryStore} the controller reads (as an informer would deliver them), so a second
 * reconcile sees the first one's result. `apply` replaces the object (enough for our tests; the
 * real SSA merge is covered against the API server), `applyStatus` replaces the owned fields.
 */
export class FakeApi implements OperatorApi {
  readonly writes: Write[] = []
  readonly events: EventSpec[] = []
  readonly #store: MemoryStore
  #rv = 1

  constructor(store: MemoryStore) {
    this.#store = store
  }

  async get<T extends object = KubernetesObject>(ref: ObjectRef): Promise<T | undefined> {
    return this.#store.get(ref, ref.name, ref.namespace) as T | undefined
  }

  async apply<T extends KubernetesObject>(obj: T): Promise<T> {
    this.writes.push({ op: 'apply', kind: obj.kind ?? '', name: obj.metadata?.name ?? '', object: obj })
    const stored = structuredClone(obj)
    stored.metadata = { ...stored.metadata, resourceVersion: String(++this.#rv), generation: 1 }
    this.#store.put(stored)
    return stored
  }

  async applyStatus(ref: ObjectRef, status: unknown): Promise<void> {
    this.writes.push({ op: 'status', kind: ref.kind, name: ref.name, status })
    const obj = this.#store.get(ref, ref.name, ref.namespace)
    if (obj === undefined) throw new Error(`status of missing ${ref.kind} ${ref.name}`)
    const prev = (obj as { status?: Record<string, unknown> }).status ?? {}
    const next = { ...prev }
    for (const k of ['observedGeneration', 'conditions', 'configGeneration', 'acknowledgedGeneration'])
      delete next[k]
    this.#store.put({ ...obj, status: { ...next, ...structuredClone(status as object) } } as KubernetesObject)
  }

  async delete(ref: ObjectRef): Promise<void> {
    this.writes.push({ op: 'delete', kind: ref.kind, name: ref.name })
    this.#store.remove(ref, ref.name, ref.namespace)
  }

  async event(e: EventSpec): Promise<void> {
    this.events.push(e)
  }

  /** Forgets recorded writes and events. */
  reset(): void {
    this.writes.length = 0
    this.events.length = 0
  }
}

import type { KubernetesObject } from '@kubernetes/client-node'
import type { InformerCache } from '../../lib/kube/informer-cache.ts'
import type { KindRef } from '../../lib/kube/kube-client.ts'
import { kindKey } from './kinds.ts'

/**
 * What reconcilers read: the informer caches, behind an interface so the pure controller tests
 * feed a snapshot of objects instead ({@link MemoryStore}).
 */
export interface ObjectStore {
  list(kind: KindRef, namespace?: string): readonly KubernetesObject[]
  get(kind: KindRef, name: string, namespace?: string): KubernetesObject | undefined
}

/** An {@link ObjectStore} over informer caches, one per kind. */
export class InformerStore implements ObjectStore {
  readonly #caches = new Map<string, InformerCache>()

  add(cache: InformerCache): this {
    this.#caches.set(kindKey(cache.kind), cache)
    return this
  }

  cache(kind: KindRef): InformerCache {
    const c = this.#caches.get(kindKey(kind))
    if (c === undefined) throw new Error(`no informer for ${kindKey(kind)}`)
    return c
  }

  list(kind: KindRef, namespace?: string): readonly KubernetesObject[] {
    return this.cache(kind).list(namespace)
  }

  get(kind: KindRef, name: string, namespace?: string): KubernetesObject | undefined {
    return this.cache(kind).get(name, namespace)
  }
}

/** An in-memory {@link ObjectStore}: `put` replaces by kind, namespace and name. For tests. */
export class MemoryStore implements ObjectStore {
  readonly #objects = new Map<string, KubernetesObject>()

  constructor(objects: readonly KubernetesObject[] = []) {
    for (const o of objects) this.put(o)
  }

  static key(kind: KindRef, name: string, namespace?: string): string {
    return `${kindKey(kind)}/${namespace ?? ''}/${name}`
  }

  put(obj: KubernetesObject): void {
    const ref = { apiVersion: obj.apiVersion ?? '', kind: obj.kind ?? '' }
    this.#objects.set(MemoryStore.key(ref, obj.metadata?.name ?? '', obj.metadata?.namespace), obj)
  }

  remove(kind: KindRef, name: string, namespace?: string): void {
    this.#objects.delete(MemoryStore.key(kind, name, namespace))
  }

  list(kind: KindRef, namespace?: string): readonly KubernetesObject[] {
    return [...this.#objects.values()].filter(
      (o) =>
        o.apiVersion === kind.apiVersion &&
        o.kind === kind.kind &&
        (namespace === undefined || o.metadata?.namespace === namespace),
    )
  }

  get(kind: KindRef, name: string, namespace?: string): KubernetesObject | undefined {
    return this.#objects.get(MemoryStore.key(kind, name, namespace))
  }
}

import type { KubernetesObject } from '@kubernetes/client-node'

/** The reconcile key of an object: `namespace/name`, or `name` for cluster-scoped objects. */
export function objectKey(obj: KubernetesObject): string {
  const ns = obj.metadata?.namespace
  const name = obj.metadata?.name ?? ''
  return ns ? `${ns}/${name}` : name
}

/** Splits a key made by {@link objectKey}. */
export function splitKey(key: string): { namespace: string | undefined; name: string } {
  const i = key.indexOf('/')
  return i < 0 ? { namespace: undefined, name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) }
}

/**
 * A mapper from an owned object to its owners' keys (controller-runtime's `Owns()`): every owner
 * reference of `ownerKind` (and, if given, of `ownerApiVersion`'s group) in the same namespace.
 */
export function ownerKeys(
  ownerKind: string,
  ownerApiVersion?: string,
): (obj: KubernetesObject) => readonly string[] {
  const group = ownerApiVersion === undefined ? undefined : groupOf(ownerApiVersion)
  return (obj) =>
    (obj.metadata?.ownerReferences ?? [])
      .filter((r) => r.kind === ownerKind && (group === undefined || groupOf(r.apiVersion) === group))
      .map((r) => (obj.metadata?.namespace ? `${obj.metadata.namespace}/${r.name}` : r.name))
}

/** A mapper that sends every object to one root key (the config compiler's `sbc/config`). */
export function constantKey(key: string): () => string {
  return () => key
}

function groupOf(apiVersion: string): string {
  const i = apiVersion.lastIndexOf('/')
  return i < 0 ? '' : apiVersion.slice(0, i)
}

/** A Kubernetes object as read from the API server or a YAML file. */
export interface KubeObject {
  apiVersion?: unknown
  kind?: unknown
  metadata?: {
    name?: unknown
    namespace?: unknown
    generation?: unknown
    labels?: unknown
    creationTimestamp?: unknown
  }
  spec?: unknown
  data?: unknown
  stringData?: unknown
  type?: unknown
}

/** Identity of an object: kind, namespace and name. */
export interface ObjectRef {
  readonly kind: string
  readonly namespace: string
  readonly name: string
}

/** The namespace objects without one land in, as with kubectl. */
export const DEFAULT_NAMESPACE = 'default'

/** The namespace of an object, defaulted like kubectl does. */
export function namespaceOf(o: KubeObject): string {
  const ns = o.metadata?.namespace
  return typeof ns === 'string' && ns !== '' ? ns : DEFAULT_NAMESPACE
}

/** The name of an object, or '' when it has none. */
export function nameOf(o: KubeObject): string {
  const n = o.metadata?.name
  return typeof n === 'string' ? n : ''
}

/** `Kind namespace/name`, the way messages name an object. */
export function describeRef(ref: ObjectRef): string {
  return `${ref.kind} ${ref.namespace}/${ref.name}`
}

/** A string key for maps. */
export function refKey(ref: ObjectRef): string {
  return `${ref.kind}/${ref.namespace}/${ref.name}`
}

/** The labels of an object as a plain record. */
export function labelsOf(o: KubeObject): Record<string, string> {
  const l = o.metadata?.labels
  if (typeof l !== 'object' || l === null) return {}
  return Object.fromEntries(Object.entries(l).filter((e): e is [string, string] => typeof e[1] === 'string'))
}

/** Ordering used to pick a winner of a conflict: older first (creationTimestamp), then by name. */
export function precedence(a: KubeObject, b: KubeObject): number {
  const ta = typeof a.metadata?.creationTimestamp === 'string' ? a.metadata.creationTimestamp : ''
  const tb = typeof b.metadata?.creationTimestamp === 'string' ? b.metadata.creationTimestamp : ''
  if (ta !== tb) return ta === '' ? 1 : tb === '' ? -1 : ta < tb ? -1 : 1
  return nameOf(a) < nameOf(b) ? -1 : nameOf(a) > nameOf(b) ? 1 : 0
}

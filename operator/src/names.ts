import { createHash } from 'node:crypto'

/**
 * Names, labels and annotations of the runtime contract
 * (docs/design/20261126.runtime-contract.md). One place, so the operator, the pods and the tests
 * agree.
 */
export const LABEL_NAME = 'app.kubernetes.io/name'
export const LABEL_INSTANCE = 'app.kubernetes.io/instance'
export const LABEL_COMPONENT = 'app.kubernetes.io/component'
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by'
export const LABEL_PART_OF = 'app.kubernetes.io/part-of'
export const LABEL_SBC = 'sbc.kubesbc.io/sbc'
export const LABEL_ROLE = 'sbc.kubesbc.io/role'
export const ANNOTATION_GENERATION = 'sbc.kubesbc.io/generation'
export const ANNOTATION_APPLIED_GENERATION = 'sbc.kubesbc.io/applied-generation'
/** Hash of the desired object last applied (lets a reconcile skip a no-op apply). */
export const ANNOTATION_SPEC_HASH = 'sbc.kubesbc.io/spec-hash'
export const MANAGED_BY = 'kube-sbc-operator'
/** ConfigMap key of the snapshot. */
export const CONFIG_KEY = 'config.json'
/** ConfigMap key mapping `Kind/name` to the config generation that first contained its metadata.generation. */
export const OBJECTS_KEY = 'objects.json'
/** The NG (media control) port of media pods. */
export const NG_PORT = 22222
/** The one HTTP port of every process. */
export const HTTP_PORT = 8080

export type Component = 'signalling' | 'media'

/** A child object name `<sbc>-<suffix>`, shortened with a hash suffix past `max` characters. */
export function childName(sbc: string, suffix: string, max = 63): string {
  const name = `${sbc}-${suffix}`
  if (name.length <= max) return name
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8)
  return `${name.slice(0, max - 9).replace(/-+$/, '')}-${hash}`
}

export const configMapName = (sbc: string) => childName(sbc, 'config', 253)
export const signallingName = (sbc: string) => childName(sbc, 'signalling')
export const mediaName = (sbc: string) => childName(sbc, 'media')
export const podsName = (sbc: string) => childName(sbc, 'pods')
export const mediaControlPolicyName = (sbc: string) => childName(sbc, 'media-control')
/** Service names are DNS-1035 labels: at most 63 characters. */
export const serviceName = (sbc: string, sipInterface: string) => childName(sbc, sipInterface)

/** The contract labels of every object the operator creates for `sbc`. */
export function commonLabels(
  sbc: string,
  component?: Component | 'config' | 'rbac' | 'redis',
): Record<string, string> {
  const labels: Record<string, string> = {
    [LABEL_NAME]: 'kube-sbc',
    [LABEL_INSTANCE]: sbc,
    [LABEL_MANAGED_BY]: MANAGED_BY,
  }
  if (component !== undefined) labels[LABEL_COMPONENT] = component
  return labels
}

/** The (immutable) selector labels of a component's pods. */
export function selectorLabels(sbc: string, component: Component): Record<string, string> {
  return { [LABEL_NAME]: 'kube-sbc', [LABEL_INSTANCE]: sbc, [LABEL_COMPONENT]: component }
}

import type { KubernetesObject, V1OwnerReference } from '@kubernetes/client-node'

/**
 * The controller owner reference to `owner`, so garbage collection deletes what the operator
 * created with it. `blockOwnerDeletion` is left out on purpose: setting it needs `update` on the
 * owner's `finalizers` subresource under the OwnerReferencesPermissionEnforcement admission
 * plugin, which the contract's RBAC does not grant, and background deletion does not need it.
 */
export function ownerReference(owner: KubernetesObject): V1OwnerReference {
  return {
    apiVersion: owner.apiVersion ?? '',
    kind: owner.kind ?? '',
    name: owner.metadata?.name ?? '',
    uid: owner.metadata?.uid ?? '',
    controller: true,
  }
}

/** Whether `obj` carries a controller owner reference to `owner` (it is ours to change or delete). */
export function isControlledBy(obj: KubernetesObject | undefined, owner: KubernetesObject): boolean {
  const uid = owner.metadata?.uid
  return obj?.metadata?.ownerReferences?.some((r) => r.uid === uid && r.controller === true) ?? false
}

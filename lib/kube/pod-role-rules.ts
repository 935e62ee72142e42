import type { V1PolicyRule } from '@kubernetes/client-node'

/**
 * The permissions the pod side of config distribution needs, and nothing more: `SnapshotWatcher`
 * reads ConfigMap `<sbc>-config` (get, list, watch) and `AckLease` keeps the pod's ack Lease (get,
 * create, update, patch). The operator grants exactly these to the pods' Role
 * (operator/src/workloads/rbac.ts, docs/design/20261126.runtime-contract.md); tests that run the pod
 * side under that Role use the same list.
 */
export const podRoleRules: readonly V1PolicyRule[] = [
  { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update', 'patch'] },
]

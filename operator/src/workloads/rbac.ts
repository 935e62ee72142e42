import type { KubernetesObject } from '@kubernetes/client-node'
import { podRoleRules } from '../../../lib/kube/pod-role-rules.ts'
import { commonLabels, podsName } from '../names.ts'
import { ownedMeta, sbcName, type WorkloadInput } from './input.ts'

/**
 * ServiceAccount, Role and RoleBinding `<sbc>-pods` for the signalling and media pods, exactly the
 * contract's least privilege: configmaps get/list/watch (the snapshot), leases
 * get/create/update/patch (the ack Lease). TLS Secrets are mounted by the kubelet, so no Secret
 * access. Fields owned: labels, ownerReferences, automountServiceAccountToken, rules, roleRef,
 * subjects.
 */
export function podRbac(input: WorkloadInput): KubernetesObject[] {
  const sbc = sbcName(input)
  const name = podsName(sbc)
  const meta = ownedMeta(input, name, commonLabels(sbc, 'rbac'))
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta, automountServiceAccountToken: true },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: meta,
      rules: podRoleRules,
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name, namespace: input.sbc.metadata?.namespace }],
    },
  ] as unknown as KubernetesObject[]
}

import { API_VERSION, Kinds } from '../../lib/api/v1alpha1/group.ts'
import type { KindRef } from '../../lib/kube/kube-client.ts'

/** The kinds the operator reads and writes. */
export const K = {
  SessionBorderController: { apiVersion: API_VERSION, kind: Kinds.SessionBorderController },
  SipInterface: { apiVersion: API_VERSION, kind: Kinds.SipInterface },
  MediaRealm: { apiVersion: API_VERSION, kind: Kinds.MediaRealm },
  IPProfile: { apiVersion: API_VERSION, kind: Kinds.IPProfile },
  IPGroup: { apiVersion: API_VERSION, kind: Kinds.IPGroup },
  RoutingRule: { apiVersion: API_VERSION, kind: Kinds.RoutingRule },
  Secret: { apiVersion: 'v1', kind: 'Secret' },
  ConfigMap: { apiVersion: 'v1', kind: 'ConfigMap' },
  Service: { apiVersion: 'v1', kind: 'Service' },
  ServiceAccount: { apiVersion: 'v1', kind: 'ServiceAccount' },
  Lease: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease' },
  Deployment: { apiVersion: 'apps/v1', kind: 'Deployment' },
  DaemonSet: { apiVersion: 'apps/v1', kind: 'DaemonSet' },
  PodDisruptionBudget: { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget' },
  Role: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role' },
  RoleBinding: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding' },
  NetworkPolicy: { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy' },
} as const satisfies Record<string, KindRef>

/** The five member kinds a SessionBorderController compiles (besides itself). */
export const MEMBER_KINDS: readonly KindRef[] = [
  K.MediaRealm,
  K.SipInterface,
  K.IPProfile,
  K.IPGroup,
  K.RoutingRule,
]

/** Every kind of our API group, SessionBorderController first. */
export const SBC_KINDS: readonly KindRef[] = [K.SessionBorderController, ...MEMBER_KINDS]

/** The workload kinds the workload controller owns (each watched to correct drift). */
export const OWNED_KINDS: readonly KindRef[] = [
  K.Deployment,
  K.DaemonSet,
  K.Service,
  K.PodDisruptionBudget,
  K.ServiceAccount,
  K.Role,
  K.RoleBinding,
  K.NetworkPolicy,
]

/** `apiVersion/kind`, the key of a kind in maps. */
export function kindKey(k: KindRef): string {
  return `${k.apiVersion}/${k.kind}`
}

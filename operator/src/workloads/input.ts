import type { KubernetesObject } from '@kubernetes/client-node'
import type { SessionBorderControllerSpec } from '../../../lib/api/v1alpha1/session-border-controller.ts'
import type { SbcConfig } from '../../../lib/config/model.ts'
import { ownerReference } from '../owner.ts'

/** A SessionBorderController as read from the API. */
export type SbcObject = KubernetesObject & { spec?: SessionBorderControllerSpec }

/** Everything a renderer needs; renderers are pure functions of it. */
export interface WorkloadInput {
  readonly sbc: SbcObject
  /** The published snapshot (interfaces, realms, Secret names), when there is one. */
  readonly config: SbcConfig | undefined
  /** The kube-sbc image the pods run (the operator's own). */
  readonly image: string
}

/** The metadata every owned object carries: name, namespace, labels and the controller owner reference. */
export function ownedMeta(input: WorkloadInput, name: string, labels: Record<string, string>) {
  return {
    name,
    namespace: input.sbc.metadata?.namespace,
    labels,
    ownerReferences: [ownerReference(input.sbc)],
  }
}

export const sbcName = (input: WorkloadInput): string => input.sbc.metadata?.name ?? ''

/** The Secrets the signalling pods mount (TLS material and the Redis password), sorted, unique. */
export function mountedSecrets(config: SbcConfig | undefined): string[] {
  if (config === undefined) return []
  const names = new Set<string>()
  for (const i of config.interfaces) {
    if (i.tls === null) continue
    names.add(i.tls.certificate.secret)
    names.add(i.tls.privateKey.secret)
    if (i.tls.clientCA !== null) names.add(i.tls.clientCA.secret)
  }
  if (config.redis.password !== null) names.add(config.redis.password.secret)
  return [...names].sort()
}

/** Where Secret `name` is mounted in the pods: `/etc/kube-sbc/secrets/<name>/<key>`. */
export const SECRETS_DIR = '/etc/kube-sbc/secrets'

/** The volume mounts of the Secrets a pod reads, one read-only folder each under {@link SECRETS_DIR}. */
export function secretMounts(secrets: readonly string[]) {
  return secrets.map((s) => ({ name: `secret-${s}`, mountPath: `${SECRETS_DIR}/${s}`, readOnly: true }))
}

/** The volumes behind {@link secretMounts}. */
export function secretVolumes(secrets: readonly string[]) {
  return secrets.map((s) => ({ name: `secret-${s}`, secret: { secretName: s } }))
}

/** Downward-API environment of the contract (plus POD_UID for the ack Lease's owner reference). */
export function downwardEnv(withHostIp: boolean) {
  const field = (name: string, fieldPath: string) => ({ name, valueFrom: { fieldRef: { fieldPath } } })
  return [
    field('POD_NAME', 'metadata.name'),
    field('POD_NAMESPACE', 'metadata.namespace'),
    field('POD_UID', 'metadata.uid'),
    field('NODE_NAME', 'spec.nodeName'),
    field('POD_IP', 'status.podIP'),
    ...(withHostIp ? [field('HOST_IP', 'status.hostIP')] : []),
  ]
}

/** The restricted container security context (Pod Security Standards "restricted"). */
export const restrictedContainer = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  capabilities: { drop: ['ALL'] },
}

/** The pod security context: UID/GID 65532 of the image, RuntimeDefault seccomp. */
export const restrictedPod = {
  runAsNonRoot: true,
  runAsUser: 65532,
  runAsGroup: 65532,
  fsGroup: 65532,
  seccompProfile: { type: 'RuntimeDefault' },
}

export const httpProbes = {
  readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 5, failureThreshold: 3 },
  livenessProbe: {
    httpGet: { path: '/healthz', port: 'http' },
    initialDelaySeconds: 5,
    periodSeconds: 10,
    failureThreshold: 3,
  },
}

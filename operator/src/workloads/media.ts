import type { KubernetesObject } from '@kubernetes/client-node'
import {
  commonLabels,
  HTTP_PORT,
  mediaControlPolicyName,
  mediaName,
  NG_PORT,
  podsName,
  selectorLabels,
} from '../names.ts'
import {
  downwardEnv,
  httpProbes,
  ownedMeta,
  restrictedContainer,
  restrictedPod,
  sbcName,
  secretMounts,
  secretVolumes,
  type WorkloadInput,
} from './input.ts'

/** Seconds a media pod gets after SIGTERM to keep relaying calls that are still up. */
export const MEDIA_GRACE_SECONDS = 120

/** `name=min-max,…` of the realms, for the SBC_MEDIA_PORT_RANGES env (documentation and preflight). */
export function portRangesEnv(input: WorkloadInput): string {
  return (input.config?.realms ?? []).map((r) => `${r.name}=${r.portRange.min}-${r.portRange.max}`).join(',')
}

/**
 * The security contexts of a media pod whose relay threads run SCHED_FIFO (spec.media.workerPriority):
 * setting a real-time policy takes CAP_SYS_NICE, and Kubernetes sets no ambient capabilities, so a
 * capability added to a container reaches its process only when it runs as UID 0 (a non-root process
 * loses it at exec). So UID 0 with every capability dropped but SYS_NICE, no privilege escalation, a
 * read-only root file system, the RuntimeDefault seccomp profile; the pod already needs the
 * `privileged` Pod Security level for its host network. Whether SCHED_FIFO is then granted is the
 * node's (a kernel with RT group scheduling gives containers no real-time budget by default): without
 * it the pod logs a warning and runs its threads normally (media-pod/src/media-pod.ts).
 */
export const realtimeSecurity = {
  pod: { runAsNonRoot: false, runAsUser: 0, runAsGroup: 0, seccompProfile: { type: 'RuntimeDefault' } },
  container: {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: false,
    capabilities: { drop: ['ALL'], add: ['SYS_NICE'] },
  },
}

/**
 * DaemonSet `<sbc>-media`, the RTP/SRTP relay, one pod per selected node on the host network.
 *
 * Fields owned: labels, ownerReferences, spec.selector (immutable), spec.updateStrategy, the pod
 * template: hostNetwork, dnsPolicy ClusterFirstWithHostNet, nodeSelector (spec.media.nodeSelector),
 * serviceAccountName, securityContext, terminationGracePeriodSeconds, and the container (image,
 * args `media --sbc --http-port --ng-port` (and `--worker-spill-pps` from spec.media.workerSpillPps,
 * `--worker-priority` from spec.media.workerPriority), env incl. HOST_IP and SBC_MEDIA_PORT_RANGES, ports,
 * probes, resources, securityContext, the Redis password Secret's volume and mount). No capabilities: realm ports are >= 1024 (schema minimum),
 * NG is 22222 and HTTP 8080, so nothing privileged is bound — unless spec.media.workerPriority asks for
 * real-time relay threads (realtimeSecurity). The realm port ranges travel in the
 * snapshot; the env only documents them on the pod. hostNetwork means the restricted Pod Security
 * level does not admit this pod; the namespace needs `baseline` or `privileged`.
 */
export function mediaDaemonSet(input: WorkloadInput): KubernetesObject {
  const sbc = sbcName(input)
  const spec = input.sbc.spec?.media ?? {}
  // Media pods keep call state in the same Redis (media-pod/src/config-redis.ts reads the
  // password from the snapshot's Secret under SECRETS_DIR); no TLS material is needed here.
  const redisSecret = input.config?.redis.password?.secret
  const secrets = redisSecret === undefined ? [] : [redisSecret]
  const priority = spec.workerPriority ?? 0
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: ownedMeta(input, mediaName(sbc), commonLabels(sbc, 'media')),
    spec: {
      selector: { matchLabels: selectorLabels(sbc, 'media') },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
      template: {
        metadata: { labels: commonLabels(sbc, 'media') },
        spec: {
          hostNetwork: true,
          dnsPolicy: 'ClusterFirstWithHostNet',
          serviceAccountName: podsName(sbc),
          automountServiceAccountToken: true,
          securityContext: priority > 0 ? realtimeSecurity.pod : restrictedPod,
          terminationGracePeriodSeconds: MEDIA_GRACE_SECONDS,
          ...(spec.nodeSelector ? { nodeSelector: spec.nodeSelector } : {}),
          containers: [
            {
              name: 'media',
              image: input.image,
              args: [
                'media',
                `--sbc=${sbc}`,
                `--http-port=${HTTP_PORT}`,
                `--ng-port=${NG_PORT}`,
                ...(spec.workerSpillPps !== undefined ? [`--worker-spill-pps=${spec.workerSpillPps}`] : []),
                ...(priority > 0 ? [`--worker-priority=${priority}`] : []),
              ],
              env: [...downwardEnv(true), { name: 'SBC_MEDIA_PORT_RANGES', value: portRangesEnv(input) }],
              ports: [
                { name: 'http', containerPort: HTTP_PORT, protocol: 'TCP' },
                { name: 'ng', containerPort: NG_PORT, protocol: 'UDP' },
              ],
              ...httpProbes,
              ...(spec.resources ? { resources: spec.resources } : {}),
              securityContext: priority > 0 ? realtimeSecurity.container : restrictedContainer,
              volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }, ...secretMounts(secrets)],
            },
          ],
          volumes: [{ name: 'tmp', emptyDir: { sizeLimit: '64Mi' } }, ...secretVolumes(secrets)],
        },
      },
    },
  } as KubernetesObject
}

/**
 * NetworkPolicy `<sbc>-media-control`: NG (UDP 22222) only from this SBC's signalling pods; RTP
 * port ranges and HTTP stay open. Defence in depth only: many CNIs do not apply policies to
 * hostNetwork pods, so the real fence is NG binding HOST_IP (runtime contract).
 * Fields owned: labels, ownerReferences, spec (podSelector, policyTypes, ingress).
 */
export function mediaControlPolicy(input: WorkloadInput): KubernetesObject {
  const sbc = sbcName(input)
  const rtp = (input.config?.realms ?? []).map((r) => ({
    protocol: 'UDP',
    port: r.portRange.min,
    ...(r.portRange.max > r.portRange.min ? { endPort: r.portRange.max } : {}),
  }))
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: ownedMeta(input, mediaControlPolicyName(sbc), commonLabels(sbc, 'media')),
    spec: {
      podSelector: { matchLabels: selectorLabels(sbc, 'media') },
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [{ podSelector: { matchLabels: selectorLabels(sbc, 'signalling') } }],
          ports: [{ protocol: 'UDP', port: NG_PORT }],
        },
        { ports: [{ protocol: 'TCP', port: HTTP_PORT }, ...rtp] },
      ],
    },
  } as KubernetesObject
}

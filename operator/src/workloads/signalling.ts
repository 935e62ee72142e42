import type { KubernetesObject } from '@kubernetes/client-node'
import { commonLabels, HTTP_PORT, podsName, selectorLabels, signallingName } from '../names.ts'
import {
  downwardEnv,
  httpProbes,
  mountedSecrets,
  ownedMeta,
  restrictedContainer,
  restrictedPod,
  sbcName,
  secretMounts,
  secretVolumes,
  type WorkloadInput,
} from './input.ts'

/** Seconds a signalling pod gets after SIGTERM: /readyz turns false, transactions finish, dialogs live in Redis. */
export const SIGNALLING_GRACE_SECONDS = 60

/**
 * Deployment `<sbc>-signalling`, the SIP B2BUA pods.
 *
 * Fields owned (field manager kube-sbc-operator): metadata.labels (contract labels),
 * ownerReferences, spec.replicas (from spec.signalling.replicas, default 2; to hand replicas to
 * an HPA the renderer would have to stop sending it), spec.selector (immutable), the whole pod
 * template: labels, serviceAccountName `<sbc>-pods`, securityContext, terminationGracePeriodSeconds,
 * topologySpreadConstraints, nodeSelector, volumes, and the one container (image, args, env,
 * ports, probes, resources, securityContext, volumeMounts). Not owned: status, annotations others
 * add (e.g. `kubectl rollout restart`), strategy details the API server defaults.
 */
export function signallingDeployment(input: WorkloadInput): KubernetesObject {
  const sbc = sbcName(input)
  const spec = input.sbc.spec?.signalling ?? {}
  const selector = selectorLabels(sbc, 'signalling')
  const secrets = mountedSecrets(input.config)
  const sipPorts = (input.config?.interfaces ?? []).flatMap((i) =>
    i.listeners.map((l) => ({
      containerPort: l.port,
      protocol: l.transport === 'UDP' ? 'UDP' : 'TCP',
      ...(i.exposure.mode === 'HostPort'
        ? { hostPort: l.port, ...(i.bindAddress !== '0.0.0.0' ? { hostIP: i.bindAddress } : {}) }
        : {}),
    })),
  )
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: ownedMeta(input, signallingName(sbc), commonLabels(sbc, 'signalling')),
    spec: {
      replicas: spec.replicas ?? 2,
      selector: { matchLabels: selector },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: { labels: commonLabels(sbc, 'signalling') },
        spec: {
          serviceAccountName: podsName(sbc),
          automountServiceAccountToken: true,
          securityContext: restrictedPod,
          terminationGracePeriodSeconds: SIGNALLING_GRACE_SECONDS,
          topologySpreadConstraints: [
            {
              maxSkew: 1,
              topologyKey: 'kubernetes.io/hostname',
              whenUnsatisfiable: 'ScheduleAnyway',
              labelSelector: { matchLabels: selector },
            },
            {
              maxSkew: 1,
              topologyKey: 'topology.kubernetes.io/zone',
              whenUnsatisfiable: 'ScheduleAnyway',
              labelSelector: { matchLabels: selector },
            },
          ],
          ...(spec.nodeSelector ? { nodeSelector: spec.nodeSelector } : {}),
          containers: [
            {
              name: 'signalling',
              image: input.image,
              args: ['signalling', `--sbc=${sbc}`, `--http-port=${HTTP_PORT}`],
              env: downwardEnv(false),
              ports: [{ name: 'http', containerPort: HTTP_PORT, protocol: 'TCP' }, ...sipPorts],
              ...httpProbes,
              ...(spec.resources ? { resources: spec.resources } : {}),
              securityContext: restrictedContainer,
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
 * PodDisruptionBudget `<sbc>-signalling`: at most one signalling pod evicted at a time.
 * Fields owned: labels, ownerReferences, spec.maxUnavailable, spec.selector.
 */
export function signallingPdb(input: WorkloadInput): KubernetesObject {
  const sbc = sbcName(input)
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: ownedMeta(input, signallingName(sbc), commonLabels(sbc, 'signalling')),
    spec: { maxUnavailable: 1, selector: { matchLabels: selectorLabels(sbc, 'signalling') } },
  } as KubernetesObject
}

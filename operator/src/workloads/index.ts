import type { KubernetesObject } from '@kubernetes/client-node'
import type { WorkloadInput } from './input.ts'
import { mediaControlPolicy, mediaDaemonSet } from './media.ts'
import { podRbac } from './rbac.ts'
import { interfaceServices } from './services.ts'
import { signallingDeployment, signallingPdb } from './signalling.ts'

/** Every object the workload controller keeps for one SBC, in apply order (RBAC before pods). */
export function desiredWorkloads(input: WorkloadInput): KubernetesObject[] {
  return [
    ...podRbac(input),
    signallingDeployment(input),
    signallingPdb(input),
    mediaDaemonSet(input),
    mediaControlPolicy(input),
    ...interfaceServices(input),
  ]
}

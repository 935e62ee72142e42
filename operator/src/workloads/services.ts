import type { KubernetesObject } from '@kubernetes/client-node'
import type { InterfaceConfig } from '../../../lib/config/model.ts'
import { commonLabels, selectorLabels, serviceName } from '../names.ts'
import { ownedMeta, sbcName, type WorkloadInput } from './input.ts'

/**
 * Service `<sbc>-<sipinterface>` per SipInterface of the snapshot, selecting the signalling pods.
 * Ports: one per listener (UDP for UDP, TCP for TCP and TLS), named `<transport>-<port>`. Type:
 * the interface's `exposure.serviceType` in mode Service; ClusterIP in mode HostPort (the
 * listeners are on the nodes then; the Service only gives the interface a stable in-cluster name).
 * NodePort and LoadBalancer get `externalTrafficPolicy: Local`, so classification sees the real
 * source address.
 *
 * Fields owned: labels, ownerReferences, spec.type, spec.selector, spec.ports (name, protocol,
 * port, targetPort), spec.externalTrafficPolicy, spec.loadBalancerIP. Not owned: clusterIP(s),
 * nodePorts the API server allocates, status.
 */
export function interfaceService(input: WorkloadInput, iface: InterfaceConfig): KubernetesObject {
  const sbc = sbcName(input)
  const type = iface.exposure.mode === 'Service' ? iface.exposure.serviceType : 'ClusterIP'
  const external = type === 'NodePort' || type === 'LoadBalancer'
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      ...ownedMeta(input, serviceName(sbc, iface.name), commonLabels(sbc, 'signalling')),
      annotations: { 'sbc.kubesbc.io/sip-interface': iface.name },
    },
    spec: {
      type,
      selector: selectorLabels(sbc, 'signalling'),
      ports: iface.listeners.map((l) => ({
        name: `${l.transport.toLowerCase()}-${l.port}`,
        protocol: l.transport === 'UDP' ? 'UDP' : 'TCP',
        port: l.port,
        targetPort: l.port,
      })),
      ...(external ? { externalTrafficPolicy: 'Local' } : {}),
      ...(type === 'LoadBalancer' && iface.exposure.loadBalancerIP !== null
        ? { loadBalancerIP: iface.exposure.loadBalancerIP }
        : {}),
    },
  } as KubernetesObject
}

/** Every interface Service of the snapshot. */
export function interfaceServices(input: WorkloadInput): KubernetesObject[] {
  return (input.config?.interfaces ?? []).map((i) => interfaceService(input, i))
}

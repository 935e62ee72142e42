import { ConditionReason, ConditionType } from '../../api/v1alpha1/conditions.ts'
import type { SipInterfaceSpec } from '../../api/v1alpha1/sip-interface.ts'
import type { InterfaceConfig } from '../model.ts'
import type { Candidate, CompileContext } from './context.ts'
import { ANY_ADDRESS, addressesOverlap } from './media-realm.ts'
import { precedence } from './objects.ts'

const l4 = (transport: string) => (transport === 'UDP' ? 'udp' : 'tcp')

/**
 * Compiles SipInterfaces: listener conflicts across interfaces (same port and L4 protocol on
 * colliding addresses: the older interface wins), then references to the MediaRealm and the TLS
 * Secrets. The public identity defaults to the SessionBorderController NAT on the NAT'd network.
 */
export function compileSipInterfaces(
  ctx: CompileContext,
  candidates: readonly Candidate<SipInterfaceSpec>[],
  nat: { network: string; publicAddress: string; fqdn: string | null } | null,
): InterfaceConfig[] {
  const kept: Candidate<SipInterfaceSpec>[] = []
  for (const c of [...candidates].sort((a, b) => precedence(a.object, b.object))) {
    const mine = c.spec.bindAddress ?? ANY_ADDRESS
    let conflicted = false
    for (const [i, l] of c.spec.listeners.entries()) {
      for (const k of kept) {
        if (!addressesOverlap(k.spec.bindAddress ?? ANY_ADDRESS, mine)) continue
        const other = k.spec.listeners.find((m) => m.port === l.port && l4(m.transport) === l4(l.transport))
        if (other === undefined) continue
        c.verdict.error(
          ConditionType.Accepted,
          ConditionReason.Conflicted,
          `spec.listeners[${i}]`,
          `${l.transport} port ${l.port} on ${mine} is already used by SipInterface "${k.name}" (${other.transport} ${other.port} on ${k.spec.bindAddress ?? ANY_ADDRESS})`,
        )
        conflicted = true
      }
    }
    if (!conflicted) kept.push(c)
  }
  const out: InterfaceConfig[] = []
  for (const c of kept) {
    const s = c.spec
    const v = c.verdict
    ctx.resolve(v, 'MediaRealm', s.mediaRealmRef.name, 'spec.mediaRealmRef.name')
    if (s.tls !== undefined) {
      ctx.resolveSecret(v, s.tls.secretRef.name, 'spec.tls.secretRef.name', ['tls.crt', 'tls.key'])
      if (s.tls.clientCASecretRef !== undefined) {
        ctx.resolveSecret(v, s.tls.clientCASecretRef.name, 'spec.tls.clientCASecretRef.name', ['ca.crt'])
      }
    }
    if (v.hasErrors()) continue
    ctx.markIncluded('SipInterface', c.name)
    const natHere = nat !== null && nat.network === s.network ? nat : null
    const tls = s.tls
    out.push({
      name: c.name,
      network: s.network,
      bindAddress: s.bindAddress ?? ANY_ADDRESS,
      listeners: [...s.listeners]
        .sort((a, b) => a.port - b.port || a.transport.localeCompare(b.transport))
        .map((l) => ({ transport: l.transport, port: l.port })),
      tls:
        tls === undefined
          ? null
          : {
              certificate: { secret: tls.secretRef.name, key: 'tls.crt' },
              privateKey: { secret: tls.secretRef.name, key: 'tls.key' },
              clientCA:
                tls.clientCASecretRef === undefined
                  ? null
                  : { secret: tls.clientCASecretRef.name, key: 'ca.crt' },
              mutualAuth: tls.mutualAuth ?? false,
              minVersion: tls.minVersion ?? 'TLSv1.2',
              groups: [...(tls.groups ?? [])],
              cipherSuites: [...(tls.cipherSuites ?? [])],
              serverName: tls.serverName ?? s.advertised?.fqdn ?? natHere?.fqdn ?? null,
            },
      advertised: {
        address: s.advertised?.address ?? natHere?.publicAddress ?? null,
        fqdn: s.advertised?.fqdn ?? natHere?.fqdn ?? null,
      },
      mediaRealm: s.mediaRealmRef.name,
      exposure: {
        mode: s.exposure?.mode ?? 'HostPort',
        serviceType: s.exposure?.serviceType ?? 'LoadBalancer',
        loadBalancerIP: s.exposure?.loadBalancerIP ?? null,
      },
    })
  }
  return out
}

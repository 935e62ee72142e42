import { isIP } from 'node:net'
import { ConditionReason, ConditionType } from '../../api/v1alpha1/conditions.ts'
import type { IPGroupSpec } from '../../api/v1alpha1/ip-group.ts'
import type { GroupConfig, InterfaceConfig, SbcConfig } from '../model.ts'
import type { Candidate, CompileContext } from './context.ts'
import { checkManipulation, type ManipulationConfig, manipulationVariables } from './manipulation.ts'

/**
 * Compiles IPGroups: resolves the SipInterface, IPProfile, MediaRealm (the group's override, else
 * the interface's) and the registration credentials Secret; fills proxy defaults (resolution from
 * the address, transport default ports, SRV without a port). Manipulation rules get the checks
 * signalling pods apply when they build their pipeline (`checkManipulation`): a rule they would
 * refuse makes the group Accepted=False here, instead of a snapshot every pod refuses whole.
 */
export function compileIPGroups(
  ctx: CompileContext,
  candidates: readonly Candidate<IPGroupSpec>[],
  interfaces: readonly InterfaceConfig[],
  nat: SbcConfig['nat'],
): GroupConfig[] {
  const out: GroupConfig[] = []
  for (const c of candidates) {
    const s = c.spec
    const v = c.verdict
    const ifaceOk = ctx.resolve(v, 'SipInterface', s.sipInterfaceRef.name, 'spec.sipInterfaceRef.name')
    ctx.resolve(v, 'IPProfile', s.ipProfileRef.name, 'spec.ipProfileRef.name')
    if (s.mediaRealmRef !== undefined)
      ctx.resolve(v, 'MediaRealm', s.mediaRealmRef.name, 'spec.mediaRealmRef.name')
    const creds = s.registration?.credentialsSecretRef
    if (creds !== undefined) {
      ctx.resolveSecret(v, creds.name, 'spec.registration.credentialsSecretRef.name', [
        'username',
        'password',
      ])
    }
    if (v.hasErrors() || !ifaceOk) continue
    const iface = interfaces.find((i) => i.name === s.sipInterfaceRef.name)!
    const manipulations: ManipulationConfig[] = (s.manipulations ?? []).map((m) => ({
      name: m.name,
      direction: m.direction ?? 'Outbound',
      methods: [...(m.methods ?? [])],
      header: m.header,
      action: m.action,
      value: m.value ?? null,
    }))
    const vars = manipulationVariables(iface, nat)
    for (const [i, m] of manipulations.entries()) {
      const checked = checkManipulation(m, vars)
      if (!('problems' in checked)) continue
      for (const why of checked.problems)
        v.error(
          ConditionType.Accepted,
          ConditionReason.Invalid,
          `spec.manipulations[${i}]`,
          `${m.name}: ${why}`,
        )
    }
    if (v.hasErrors()) continue
    ctx.markIncluded('IPGroup', c.name)
    const proxies = s.proxySet.proxies.map((p) => {
      const resolution = p.resolution ?? (isIP(p.address) !== 0 ? 'Static' : 'A')
      const transport = p.transport ?? 'UDP'
      return {
        address: p.address,
        port: resolution === 'SRV' ? null : (p.port ?? (transport === 'TLS' ? 5061 : 5060)),
        transport,
        resolution,
        priority: p.priority ?? 0,
        weight: p.weight ?? 1,
      }
    })
    const reg = s.registration
    const ka = s.proxySet.keepAlive
    out.push({
      name: c.name,
      sipInterface: iface.name,
      profile: s.ipProfileRef.name,
      mediaRealm: s.mediaRealmRef?.name ?? iface.mediaRealm,
      sipGroupName: s.sipGroupName ?? null,
      contactUser: s.contactUser ?? null,
      proxies,
      keepAlive: {
        enabled: ka?.enabled ?? true,
        intervalSeconds: ka?.intervalSeconds ?? 60,
        failureThreshold: ka?.failureThreshold ?? 3,
      },
      registration: {
        mode: reg?.mode ?? 'None',
        registrar:
          reg === undefined || reg.mode === 'None'
            ? null
            : (reg.registrar ?? s.sipGroupName ?? proxies[0]?.address ?? null),
        expiresSeconds: reg?.expiresSeconds ?? 3600,
        username: creds === undefined ? null : { secret: creds.name, key: 'username' },
        password: creds === undefined ? null : { secret: creds.name, key: 'password' },
      },
      classification: {
        fromProxySet: s.classification?.fromProxySet ?? true,
        rules: (s.classification?.rules ?? []).map((r) => ({
          name: r.name,
          sourceCIDRs: [...(r.sourceCIDRs ?? [])],
          sourcePorts: [...(r.sourcePorts ?? [])],
          peerCertificateNames: [...(r.peerCertificateNames ?? [])],
          host: r.host === undefined ? null : { header: r.host.header ?? 'From', values: [...r.host.values] },
        })),
      },
      manipulations,
      maxConcurrentCalls: s.maxConcurrentCalls ?? null,
      callRateLimit:
        s.callRateLimit === undefined
          ? null
          : {
              callsPerSecond: s.callRateLimit.callsPerSecond,
              burst: s.callRateLimit.burst ?? Math.ceil(s.callRateLimit.callsPerSecond),
            },
    })
  }
  return out
}

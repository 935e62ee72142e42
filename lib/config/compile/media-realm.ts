import { ConditionReason, ConditionType } from '../../api/v1alpha1/conditions.ts'
import type { MediaRealmSpec } from '../../api/v1alpha1/media-realm.ts'
import type { RealmConfig } from '../model.ts'
import type { Candidate, CompileContext } from './context.ts'
import { precedence } from './objects.ts'

/** The wildcard bind address. */
export const ANY_ADDRESS = '0.0.0.0'

/** Two bind addresses can collide when equal or when either binds every address. */
export function addressesOverlap(a: string, b: string): boolean {
  return a === b || a === ANY_ADDRESS || b === ANY_ADDRESS || a === '::' || b === '::'
}

/**
 * Compiles MediaRealms. Two realms on the same network whose bind addresses can collide must not
 * share ports (the seed gives Webex 20000–20399 for exactly this reason); the older one wins and
 * the other is rejected as Conflicted, naming it.
 */
export function compileMediaRealms(
  ctx: CompileContext,
  candidates: readonly Candidate<MediaRealmSpec>[],
  nat: { network: string; publicAddress: string } | null,
): RealmConfig[] {
  const kept: Candidate<MediaRealmSpec>[] = []
  for (const c of [...candidates].sort((a, b) => precedence(a.object, b.object))) {
    const mine = c.spec.bindAddress ?? ANY_ADDRESS
    const clash = kept.find(
      (k) =>
        k.spec.network === c.spec.network &&
        addressesOverlap(k.spec.bindAddress ?? ANY_ADDRESS, mine) &&
        k.spec.portRange.min <= c.spec.portRange.max &&
        c.spec.portRange.min <= k.spec.portRange.max,
    )
    if (clash !== undefined) {
      c.verdict.error(
        ConditionType.Accepted,
        ConditionReason.Conflicted,
        'spec.portRange',
        `ports ${c.spec.portRange.min}-${c.spec.portRange.max} overlap MediaRealm "${clash.name}" (${clash.spec.portRange.min}-${clash.spec.portRange.max}) on network ${c.spec.network}`,
      )
      continue
    }
    kept.push(c)
  }
  return kept.map((c) => {
    ctx.markIncluded('MediaRealm', c.name)
    const natAddress = nat !== null && nat.network === c.spec.network ? nat.publicAddress : null
    return {
      name: c.name,
      network: c.spec.network,
      bindAddress: c.spec.bindAddress ?? ANY_ADDRESS,
      portRange: { min: c.spec.portRange.min, max: c.spec.portRange.max },
      advertisedAddress: c.spec.advertisedAddress ?? natAddress ?? c.spec.bindAddress ?? null,
      maxSessions: c.spec.maxSessions ?? 100,
    }
  })
}

import type { SessionBorderControllerSpec } from '../../api/v1alpha1/session-border-controller.ts'
import type { SbcConfig } from '../model.ts'
import type { CompileContext } from './context.ts'
import { compilePattern } from './pattern.ts'
import type { VerdictBuilder } from './verdict.ts'

/** The global parts of the config a SessionBorderController contributes. */
export type ControllerSettings = Pick<SbcConfig, 'redis' | 'nat' | 'security'>

/** Settings when the input has no SessionBorderController (standalone tries, partial validation). */
export const DEFAULT_CONTROLLER_SETTINGS: ControllerSettings = {
  redis: { mode: 'memory', url: null, sentinel: null, password: null },
  nat: null,
  security: { maliciousSignatures: [], rateLimit: null, unclassified: 'Reject' },
}

/** Compiles the SessionBorderController's Redis, NAT and security settings, checking its Secret and patterns. */
export function compileController(
  ctx: CompileContext,
  spec: SessionBorderControllerSpec,
  verdict: VerdictBuilder,
): ControllerSettings | null {
  const r = spec.redis
  if (r?.passwordSecretRef !== undefined) {
    ctx.resolveSecret(verdict, r.passwordSecretRef.name, 'spec.redis.passwordSecretRef.name', ['password'])
  }
  const signatures = (spec.security?.maliciousSignatures ?? []).flatMap((sig, i) => {
    const match = compilePattern(sig.match, `spec.security.maliciousSignatures[${i}].match`, verdict)
    return match === null
      ? []
      : [
          {
            name: sig.name,
            header: (sig.header ?? 'User-Agent').toLowerCase(),
            match,
            action: sig.action ?? 'Drop',
          },
        ]
  })
  if (verdict.hasErrors()) return null
  const rl = spec.security?.rateLimit
  return {
    redis: {
      mode: r?.url !== undefined ? 'url' : r?.sentinel !== undefined ? 'sentinel' : 'memory',
      url: r?.url ?? null,
      sentinel:
        r?.sentinel === undefined
          ? null
          : { masterName: r.sentinel.masterName, addresses: [...r.sentinel.addresses] },
      password:
        r?.passwordSecretRef === undefined ? null : { secret: r.passwordSecretRef.name, key: 'password' },
    },
    nat:
      spec.nat === undefined
        ? null
        : {
            network: spec.nat.network ?? 'WAN',
            publicAddress: spec.nat.publicAddress,
            fqdn: spec.nat.fqdn ?? null,
          },
    security: {
      maliciousSignatures: signatures,
      rateLimit:
        rl === undefined
          ? null
          : {
              requestsPerSecond: rl.requestsPerSecond,
              burst: rl.burst ?? Math.ceil(rl.requestsPerSecond),
              banSeconds: rl.banSeconds ?? 0,
            },
      unclassified: spec.security?.unclassified ?? 'Reject',
    },
  }
}

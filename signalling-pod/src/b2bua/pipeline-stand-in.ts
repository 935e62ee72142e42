/**
 * TEMPORARY stand-in for `signalling-pod/src/pipeline/pipeline.ts` (another engineer's work, same
 * interface). Classifies by proxy address, routes by source group and method, admits by the group's
 * call limit. Delete once the real pipeline lands.
 */
import type { SbcConfig } from '../../../lib/config/model.ts'
import type { SipRequest, SipResponse } from '../../../lib/sip/message/message.ts'
import type { DialogStore } from '../../../lib/state/dialog-store.ts'

export interface InboundContext {
  request: SipRequest
  source: { transport: 'UDP' | 'TCP' | 'TLS'; address: string; port: number }
  interfaceName: string
  peerCertificateNames?: string[]
}
export interface RouteTarget {
  group: string
  interfaceName: string
  proxies: { address: string; port: number; transport: 'UDP' | 'TCP' | 'TLS' }[]
}
export type Decision =
  | { type: 'drop'; reason: 'scanner' | 'unclassified' | 'rate-limited'; signature?: string }
  | {
      type: 'reply'
      code: number
      reason: string
      headers?: Record<string, string>
      sourceGroup: string | null
      rule?: string
    }
  | {
      type: 'route'
      sourceGroup: string
      rule: string
      targets: RouteTarget[]
      failover: { onStatusCodes: number[]; onTimeout: boolean }
    }

export class CompiledPipeline {
  readonly config: SbcConfig
  private constructor(config: SbcConfig) {
    this.config = config
  }
  static from(config: SbcConfig): CompiledPipeline {
    return new CompiledPipeline(config)
  }
}

export function decide(p: CompiledPipeline, ctx: InboundContext): Decision {
  const c = p.config
  const ua = ctx.request.header('user-agent') ?? ''
  for (const s of c.security.maliciousSignatures) {
    if (s.header === 'user-agent' && s.match.kind === 'prefix' && ua.startsWith(s.match.value))
      return { type: 'drop', reason: 'scanner', signature: s.name }
  }
  const group =
    c.groups.find(
      (g) =>
        g.sipInterface === ctx.interfaceName &&
        g.proxies.some((x) => x.address === ctx.source.address && x.port === ctx.source.port),
    ) ??
    c.groups.find(
      (g) => g.sipInterface === ctx.interfaceName && g.proxies.some((x) => x.address === ctx.source.address),
    )
  const sourceGroup = group?.name ?? null
  for (const r of c.routes) {
    if (r.match.sourceIPGroups.length > 0 && (sourceGroup === null || !r.match.sourceIPGroups.includes(sourceGroup)))
      continue
    if (r.match.methods.length > 0 && !r.match.methods.includes(ctx.request.method)) continue
    if (r.action.type === 'reply')
      return { type: 'reply', code: r.action.code, reason: r.action.reason, sourceGroup, rule: r.name }
    if (sourceGroup === null) break
    const targets = r.action.targets.flatMap((name) => {
      const g = c.groups.find((x) => x.name === name)
      if (!g) return []
      return [
        {
          group: g.name,
          interfaceName: g.sipInterface,
          proxies: g.proxies.map((x) => ({ address: x.address, port: x.port ?? 5060, transport: x.transport })),
        },
      ]
    })
    return { type: 'route', sourceGroup, rule: r.name, targets, failover: r.action.failover }
  }
  if (sourceGroup === null) {
    if (c.security.unclassified === 'Drop') return { type: 'drop', reason: 'unclassified' }
    return { type: 'reply', code: 403, reason: 'Forbidden', sourceGroup: null }
  }
  return { type: 'reply', code: 404, reason: 'Not Found', sourceGroup }
}

export async function admit(
  store: DialogStore,
  pipeline: CompiledPipeline,
  group: string,
  callId: string,
): Promise<{ ok: true } | { ok: false; code: 503; retryAfterSeconds: number; reason: string }> {
  const g = pipeline.config.groups.find((x) => x.name === group)
  if (g?.maxConcurrentCalls) {
    const r = await store.tryAcquireCall(group, callId, g.maxConcurrentCalls, 200_000)
    if (!r.granted) return { ok: false, code: 503, retryAfterSeconds: 5, reason: 'Call limit reached' }
  }
  return { ok: true }
}

export function manipulateOutbound(_p: CompiledPipeline, _group: string, _msg: SipRequest | SipResponse): void {}

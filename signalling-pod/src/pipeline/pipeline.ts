/**
 * The out-of-dialog request pipeline (docs/pipeline.md): scanner → classification → routing, pure,
 * then admission (store) and manipulation (per group and direction) called by the B2BUA.
 *
 * Changes from the agreed interface (all additive except one):
 * - `Decision.route.sourceGroup` is `string | null`: with `security.unclassified: Allow` an
 *   unclassified request can match a rule with no source groups. Admission needs a group: admit
 *   toward the *target* group(s); skip source-group admission when it is null.
 * - `Decision.reply.signature` names the malicious signature of a Reject (403).
 * - `RouteTarget.proxies[]` also carry `resolution`, `priority` and `weight`: A/SRV entries
 *   must go through a `Resolver` (`resolver.ts`) at call time.
 * - `admit()` takes optional `AdmitOptions` (hold, timeout) and its refusal carries `cause`.
 * - `decideWithTrace()` returns the decision and each step's reason for logs and traces.
 * - `CompiledPipeline.learnProxyAddresses()` lets DNS results feed classification by proxy set.
 * - `manipulateOutbound/Inbound` return how many rules applied (callers may ignore it) and throw
 *   `ManipulationError` rather than write invalid SIP.
 */
import { classify } from './classify.ts'
import type { CompiledPipeline } from './compiled.ts'
import { route } from './route.ts'
import { scanner } from './scanner.ts'
import type { Decision, InboundContext, TraceEntry } from './types.ts'

export { type AdmissionResult, type AdmitOptions, admit, releaseAdmission } from './admission.ts'
export { CompiledPipeline } from './compiled.ts'
export { ManipulationError, PipelineConfigError } from './errors.ts'
export { advertisedAddress, advertisedHost, applyIdentity, contactUri } from './identity.ts'
export { manipulateInbound, manipulateOutbound } from './manipulate.ts'
export {
  createDnsResolver,
  DNS_SERVERS_ENV,
  dnsOptionsFromEnv,
  needsResolution,
  orderSrv,
  type Resolve,
  type ResolvedAddress,
  resolveRouteTargets,
  resolveTarget,
  srvName,
} from './resolver.ts'
export { scanner } from './scanner.ts'
export type {
  Decision,
  InboundContext,
  RouteProxy,
  RouteTarget,
  StepResult,
  TraceEntry,
  Transport,
} from './types.ts'

/** {@link decide}, with what each step said. */
export function decideWithTrace(
  p: CompiledPipeline,
  ctx: InboundContext,
): { decision: Decision; trace: TraceEntry[] } {
  const trace: TraceEntry[] = []
  const s = scanner(p.signatures, ctx.request)
  trace.push({ step: 'scanner', outcome: s.kind, why: s.why })
  if (s.kind === 'done') return { decision: s.decision, trace }
  const c = classify(p.classification, ctx)
  trace.push({ step: 'classification', outcome: c.kind, why: c.why })
  if (c.kind === 'done') return { decision: c.decision, trace }
  const r = route(p.routes, ctx.request, c.value)
  trace.push({ step: 'routing', outcome: r.kind, why: r.why })
  if (r.kind === 'done') return { decision: r.decision, trace }
  // Routing always decides (404 when no rule matches); kept for exhaustiveness.
  return { decision: { type: 'reply', code: 404, reason: 'Not Found', sourceGroup: c.value }, trace }
}

/** Decides what to do with an out-of-dialog request. Pure: no I/O, no clock. */
export function decide(p: CompiledPipeline, ctx: InboundContext): Decision {
  return decideWithTrace(p, ctx).decision
}

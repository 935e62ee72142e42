import type { GroupConfig, InterfaceConfig, RouteConfig } from '../../../lib/config/model.ts'
import { headerKey } from '../../../lib/sip/message/headers/header-names.ts'
import { getParam } from '../../../lib/sip/message/headers/params.ts'
import type { SipRequest } from '../../../lib/sip/message/message.ts'
import type { Uri } from '../../../lib/sip/uri/uri.ts'
import { compileMatcher, describePattern, type Matcher } from './patterns.ts'
import type { Decision, RouteProxy, RouteTarget, StepResult, Transport } from './types.ts'

/** Default port of a transport when a proxy has none (RFC 3261 §19.1.2). */
export function defaultPort(t: Transport): number {
  return t === 'TLS' ? 5061 : 5060
}

/** A routing rule ready to test. */
export interface CompiledRoute {
  name: string
  order: number
  sourceGroups: ReadonlySet<string> | null
  methods: ReadonlySet<string> | null
  sourceNumber: { test: Matcher; text: string } | null
  destinationNumber: { test: Matcher; text: string } | null
  headers: { name: string; present: boolean; value: { test: Matcher; text: string } | null }[]
  action: Decision & { type: 'reply' | 'route' }
}

/** The target of a group: its interface and proxies, priority order, ports defaulted. */
export function targetOf(g: GroupConfig): RouteTarget {
  const proxies: RouteProxy[] = g.proxies
    .map((p, i) => ({ p, i }))
    .sort((a, b) => a.p.priority - b.p.priority || a.i - b.i)
    .map(({ p }) => ({
      address: p.address,
      port: p.port ?? defaultPort(p.transport),
      transport: p.transport,
      resolution: p.resolution,
      priority: p.priority,
      weight: p.weight,
    }))
  return { group: g.name, interfaceName: g.sipInterface, proxies }
}

/** Compiles the routes (already sorted by order); targets are resolved against `groups`. */
export function compileRoutes(
  routes: readonly RouteConfig[],
  groups: ReadonlyMap<string, GroupConfig>,
  _interfaces: ReadonlyMap<string, InterfaceConfig>,
  problems: string[],
): CompiledRoute[] {
  const pat = (p: RouteConfig['match']['sourceNumber']) =>
    p === null ? null : { test: compileMatcher(p, false), text: describePattern(p) }
  return routes.map((r) => {
    let action: CompiledRoute['action']
    if (r.action.type === 'reply') {
      action = {
        type: 'reply',
        code: r.action.code,
        reason: r.action.reason,
        sourceGroup: null,
        rule: r.name,
      }
    } else {
      const targets: RouteTarget[] = []
      for (const name of r.action.targets) {
        const g = groups.get(name)
        if (g === undefined)
          problems.push(`RoutingRule ${r.name}: target IP group ${name} not in the snapshot`)
        else targets.push(targetOf(g))
      }
      action = {
        type: 'route',
        sourceGroup: null,
        rule: r.name,
        targets,
        failover: {
          onStatusCodes: [...r.action.failover.onStatusCodes],
          onTimeout: r.action.failover.onTimeout,
        },
      }
    }
    return {
      name: r.name,
      order: r.order,
      sourceGroups: r.match.sourceIPGroups.length === 0 ? null : new Set(r.match.sourceIPGroups),
      methods: r.match.methods.length === 0 ? null : new Set(r.match.methods.map((m) => m.toUpperCase())),
      sourceNumber: pat(r.match.sourceNumber),
      destinationNumber: pat(r.match.destinationNumber),
      headers: r.match.headers.map((h) => ({
        name: headerName(h.name, `RoutingRule ${r.name}: header condition`, problems),
        present: h.present,
        value:
          h.value === null ? null : { test: compileMatcher(h.value, false), text: describePattern(h.value) },
      })),
      action,
    }
  })
}

/** A header name's lookup key; one that is not a token goes to `problems` (looking it up would throw). */
function headerName(name: string, where: string, problems: string[]): string {
  const key = headerKey(name)
  if (key === undefined) problems.push(`${where}: ${JSON.stringify(name)} is not a header name`)
  return key ?? name.toLowerCase()
}

/** RFC 3966 §5.1.1 visual separators: no meaning in a telephone number, ignored when comparing (§4). */
const VISUAL_SEPARATORS = /[-.()]/g

/**
 * The number a URI carries: a tel number, or the user part of a SIP URI (without `;` parameters).
 * A telephone number — tel, or a SIP URI with `user=phone` (RFC 3261 §19.1.1) — loses its visual
 * separators, so `tel:+1-212-555-0100` matches the pattern `+1212`; any other user part is a name
 * and stays as written.
 */
export function numberOf(u: Uri | undefined): string | undefined {
  if (u === undefined) return undefined
  if (u.kind === 'tel') return u.number.replace(VISUAL_SEPARATORS, '')
  if (u.kind !== 'sip' || u.user === undefined) return undefined
  const semi = u.user.indexOf(';')
  const user = semi < 0 ? u.user : u.user.slice(0, semi)
  const phone = String(getParam(u.params, 'user') ?? '').toLowerCase() === 'phone'
  return phone ? user.replace(VISUAL_SEPARATORS, '') : user
}

function fromNumber(req: SipRequest): string | undefined {
  try {
    return numberOf(req.from?.uri)
  } catch {
    return undefined
  }
}

/** Tests one rule; null when it matches, else why it does not. */
export function ruleMismatch(r: CompiledRoute, req: SipRequest, sourceGroup: string | null): string | null {
  if (r.sourceGroups !== null && (sourceGroup === null || !r.sourceGroups.has(sourceGroup)))
    return `source group ${sourceGroup ?? '(unclassified)'} not in [${[...r.sourceGroups].join(',')}]`
  if (r.methods !== null && !r.methods.has(req.method))
    return `method ${req.method} not in [${[...r.methods].join(',')}]`
  if (r.sourceNumber !== null) {
    const n = fromNumber(req)
    if (n === undefined || !r.sourceNumber.test(n))
      return `source number ${n ?? '(none)'} not ${r.sourceNumber.text}`
  }
  if (r.destinationNumber !== null) {
    const n = numberOf(req.uri)
    if (n === undefined || !r.destinationNumber.test(n))
      return `destination number ${n ?? '(none)'} not ${r.destinationNumber.text}`
  }
  for (const h of r.headers) {
    const values = req.headerValues(h.name)
    if (!h.present) {
      if (values.length > 0) return `header ${h.name} present`
      continue
    }
    if (values.length === 0) return `header ${h.name} absent`
    if (h.value !== null && !values.some((v) => h.value!.test(v.trim())))
      return `header ${h.name} not ${h.value.text}`
  }
  return null
}

/**
 * Step 3: the first routing rule, in order, whose conditions all hold decides: a local reply or a
 * route to its target groups in failover order. No rule matching is a 404 Not Found reply.
 */
export function route(
  routes: readonly CompiledRoute[],
  req: SipRequest,
  sourceGroup: string | null,
): StepResult {
  const misses: string[] = []
  for (const r of routes) {
    const why = ruleMismatch(r, req, sourceGroup)
    if (why !== null) {
      misses.push(`${r.name}: ${why}`)
      continue
    }
    const decision: Decision = { ...r.action, sourceGroup }
    return { kind: 'done', decision, why: `rule ${r.name} (order ${r.order}) matched` }
  }
  return {
    kind: 'done',
    decision: { type: 'reply', code: 404, reason: 'Not Found', sourceGroup },
    why: `no routing rule matched (${misses.join('; ') || 'no rules'})`,
  }
}

import { ConditionReason, ConditionType } from '../../api/v1alpha1/conditions.ts'
import type { RoutingRuleSpec } from '../../api/v1alpha1/routing-rule.ts'
import type { RouteConfig } from '../model.ts'
import type { Candidate, CompileContext } from './context.ts'
import { precedence } from './objects.ts'
import { compilePattern } from './pattern.ts'

/** Standard reason phrases (RFC 3261 §21) for local replies without one. */
const PHRASES: Record<number, string> = {
  200: 'OK',
  202: 'Accepted',
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  480: 'Temporarily Unavailable',
  486: 'Busy Here',
  488: 'Not Acceptable Here',
  500: 'Server Internal Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  603: 'Decline',
}

/** The default reason phrase of a status code. */
export function reasonPhrase(code: number): string {
  return (
    PHRASES[code] ??
    (code < 300
      ? 'OK'
      : code < 400
        ? 'Redirect'
        : code < 500
          ? 'Client Error'
          : code < 600
            ? 'Server Error'
            : 'Global Failure')
  )
}

/** True when every request `later` matches is matched by `earlier` as well. */
export function covers(earlier: RouteConfig['match'], later: RouteConfig['match']): boolean {
  if (earlier.sourceNumber !== null || earlier.destinationNumber !== null || earlier.headers.length > 0)
    return false
  const superset = (a: readonly string[], b: readonly string[]) =>
    a.length === 0 || (b.length > 0 && b.every((x) => a.includes(x)))
  return superset(earlier.sourceIPGroups, later.sourceIPGroups) && superset(earlier.methods, later.methods)
}

/**
 * Compiles RoutingRules: unique orders (the older rule keeps its order), regexes that compile,
 * source and target IPGroups that resolve, then a warning on every rule an earlier rule fully
 * covers — it can never match (the seed's reason for putting the OPTIONS rule first).
 */
export function compileRoutingRules(
  ctx: CompileContext,
  candidates: readonly Candidate<RoutingRuleSpec>[],
): RouteConfig[] {
  const byOrder = new Map<number, Candidate<RoutingRuleSpec>>()
  const out: { route: RouteConfig; verdict: Candidate<RoutingRuleSpec>['verdict'] }[] = []
  for (const c of [...candidates].sort((a, b) => precedence(a.object, b.object))) {
    const s = c.spec
    const v = c.verdict
    const holder = byOrder.get(s.order)
    if (holder !== undefined) {
      v.error(
        ConditionType.Accepted,
        ConditionReason.Conflicted,
        'spec.order',
        `order ${s.order} is already used by RoutingRule "${holder.name}"`,
      )
    } else {
      byOrder.set(s.order, c)
    }
    const m = s.match ?? {}
    const sourceNumber =
      m.sourceNumber === undefined ? null : compilePattern(m.sourceNumber, 'spec.match.sourceNumber', v)
    const destinationNumber =
      m.destinationNumber === undefined
        ? null
        : compilePattern(m.destinationNumber, 'spec.match.destinationNumber', v)
    const headers = (m.headers ?? []).map((h, i) => ({
      name: h.name.toLowerCase(),
      present: h.present ?? true,
      value: h.value === undefined ? null : compilePattern(h.value, `spec.match.headers[${i}].value`, v),
    }))
    for (const [i, g] of (m.sourceIPGroups ?? []).entries())
      ctx.resolve(v, 'IPGroup', g, `spec.match.sourceIPGroups[${i}]`)
    const route = s.action.route
    if (route !== undefined) {
      for (const [i, t] of route.targets.entries())
        ctx.resolve(v, 'IPGroup', t.ipGroup, `spec.action.route.targets[${i}].ipGroup`)
    }
    if (v.hasErrors()) continue
    const reply = s.action.reply
    out.push({
      verdict: v,
      route: {
        name: c.name,
        order: s.order,
        match: {
          sourceIPGroups: [...new Set(m.sourceIPGroups ?? [])].sort(),
          methods: [...new Set(m.methods ?? [])].sort(),
          sourceNumber,
          destinationNumber,
          headers,
        },
        action:
          route !== undefined
            ? {
                type: 'route',
                targets: route.targets.map((t) => t.ipGroup),
                failover: {
                  onStatusCodes: [
                    ...new Set(route.failover?.onStatusCodes ?? [408, 500, 502, 503, 504]),
                  ].sort((a, b) => a - b),
                  onTimeout: route.failover?.onTimeout ?? true,
                },
              }
            : { type: 'reply', code: reply!.code, reason: reply!.reason ?? reasonPhrase(reply!.code) },
      },
    })
  }
  out.sort((a, b) => a.route.order - b.route.order)
  for (const [i, r] of out.entries()) {
    const cover = out.slice(0, i).find((e) => covers(e.route.match, r.route.match))
    if (cover !== undefined) {
      r.verdict.warn(
        ConditionReason.Shadowed,
        'spec.order',
        `rule can never match: RoutingRule "${cover.route.name}" (order ${cover.route.order}) matches every request it would`,
      )
    }
    ctx.markIncluded('RoutingRule', r.route.name)
  }
  return out.map((e) => e.route)
}

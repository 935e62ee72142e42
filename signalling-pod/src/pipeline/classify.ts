import type { GroupConfig, SecurityConfig } from '../../../lib/config/model.ts'
import { headerKey } from '../../../lib/sip/message/headers/header-names.ts'
import { parseNameAddr } from '../../../lib/sip/message/headers/name-addr.ts'
import type { SipRequest } from '../../../lib/sip/message/message.ts'
import { type Cidr, inCidr, ipKey, parseCidr, parseIp } from './address.ts'
import type { InboundContext, StepResult, Transport } from './types.ts'

/** A classification rule ready to test, with the group it classifies to. */
export interface CompiledClassRule {
  group: string
  rule: string
  interfaceName: string
  cidrs: Cidr[]
  ports: ReadonlySet<number>
  /** Lower-case exact names and wildcard suffixes (`*.webex.com` → `.webex.com`). */
  certExact: ReadonlySet<string>
  certWildcards: readonly string[]
  /** Lower-case header name and accepted hosts (the rule's values plus the group's SIP group name). */
  host: { header: string; values: ReadonlySet<string> } | null
}

/** A proxy address a group accepts traffic from. */
export interface ProxySource {
  group: string
  interfaceName: string
  port: number | null
  transport: Transport
  /**
   * The A/SRV proxy (its {@link proxyKey}) whose background resolution found this address: the next
   * answer replaces these. Absent for Static proxies and addresses learned at call time.
   */
  learnedFrom?: string
}

/** Names an A/SRV proxy of a group across generations: group, name, resolution, transport, port. */
export function proxyKey(
  group: string,
  p: { address: string; port: number | null; transport: Transport; resolution: string },
): string {
  return `${group} ${p.resolution} ${p.transport} ${p.address.toLowerCase()} ${p.port ?? ''}`
}

/** Everything classification needs, built once per config generation. */
export interface ClassificationTable {
  rules: CompiledClassRule[]
  /** ipKey → proxies at that address (groups with `fromProxySet` only). */
  proxies: Map<string, ProxySource[]>
  policy: SecurityConfig['unclassified']
}

/** Builds the table; malformed CIDRs are reported to `problems`. Groups are taken in name order. */
export function compileClassification(
  groups: readonly GroupConfig[],
  policy: SecurityConfig['unclassified'],
  problems: string[],
): ClassificationTable {
  const rules: CompiledClassRule[] = []
  const proxies = new Map<string, ProxySource[]>()
  // Name order makes the ties; the compiler sorts groups, a hand-written snapshot may not.
  const byName = [...groups].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  for (const g of byName) {
    for (const r of g.classification.rules) {
      const cidrs: Cidr[] = []
      for (const c of r.sourceCIDRs) {
        const parsed = parseCidr(c)
        if (parsed === undefined)
          problems.push(`IPGroup ${g.name}: classification rule ${r.name}: bad CIDR ${c}`)
        else cidrs.push(parsed)
      }
      const certExact = new Set<string>()
      const certWildcards: string[] = []
      for (const n of r.peerCertificateNames) {
        const lower = n.toLowerCase()
        if (lower.startsWith('*.')) certWildcards.push(lower.slice(1))
        else certExact.add(lower)
      }
      // The CRD spells it RequestURI (HostHeaders); headerHosts knows it as request-uri.
      const hostHeader = r.host?.header.toLowerCase().replace(/^requesturi$/, 'request-uri')
      if (hostHeader !== undefined && hostHeader !== 'request-uri' && headerKey(hostHeader) === undefined)
        problems.push(
          `IPGroup ${g.name}: classification rule ${r.name}: ${JSON.stringify(r.host?.header)} is not a header name`,
        )
      const host =
        r.host === null
          ? null
          : {
              header: hostHeader!,
              values: new Set(
                [...r.host.values, ...(g.sipGroupName === null ? [] : [g.sipGroupName])].map((v) =>
                  v.toLowerCase(),
                ),
              ),
            }
      rules.push({
        group: g.name,
        rule: r.name,
        interfaceName: g.sipInterface,
        cidrs,
        ports: new Set(r.sourcePorts),
        certExact,
        certWildcards,
        host,
      })
    }
    if (!g.classification.fromProxySet) continue
    for (const p of g.proxies) {
      const key = ipKey(p.address)
      if (key === undefined) continue // A/SRV names: addresses are learned at run time
      addProxySource(proxies, key, {
        group: g.name,
        interfaceName: g.sipInterface,
        port: p.port,
        transport: p.transport,
      })
    }
  }
  return { rules, proxies, policy }
}

/**
 * Adds one proxy address (also used for addresses learned from DNS). An address the background
 * resolution of a proxy found is kept under that proxy even when another source has it too, so
 * that the other's next answer dropping it does not unclassify it.
 */
export function addProxySource(map: Map<string, ProxySource[]>, key: string, src: ProxySource): void {
  const list = map.get(key)
  if (list === undefined) map.set(key, [src])
  else if (
    !list.some(
      (s) =>
        s.group === src.group &&
        s.port === src.port &&
        s.transport === src.transport &&
        (src.learnedFrom === undefined || s.learnedFrom === src.learnedFrom),
    )
  )
    list.push(src)
}

/** Removes the addresses the background resolution of proxy `learnedFrom` had found. */
export function removeLearnedSources(map: Map<string, ProxySource[]>, learnedFrom: string): void {
  for (const [key, list] of map) {
    const kept = list.filter((s) => s.learnedFrom !== learnedFrom)
    if (kept.length === list.length) continue
    if (kept.length === 0) map.delete(key)
    else map.set(key, kept)
  }
}

/** Whether a certificate name matches: exact, or `*.suffix` covering exactly one more label. */
export function certificateNameMatches(
  rule: CompiledClassRule,
  names: readonly string[],
): string | undefined {
  for (const raw of names) {
    const name = raw.toLowerCase()
    if (rule.certExact.has(name)) return raw
    for (const suffix of rule.certWildcards) {
      if (
        name.endsWith(suffix) &&
        name.length > suffix.length &&
        !name.slice(0, -suffix.length).includes('.')
      )
        return raw
    }
  }
  return undefined
}

/**
 * The host a header names, lower-case: the Request-URI's host, the sent-by host of the top Via (the
 * hop that sent the request), else the URI host of each line of a name-addr header (the trimmed raw
 * value when a line is not one).
 */
export function headerHosts(req: SipRequest, header: string): string[] {
  if (header === 'request-uri') return req.uri.kind === 'sip' ? [req.uri.host.toLowerCase()] : []
  if (header === 'via') {
    try {
      const top = req.topVia
      return top === undefined ? [] : [top.host.toLowerCase()]
    } catch {
      return []
    }
  }
  const out: string[] = []
  for (const raw of req.headerValues(header)) {
    try {
      const na = parseNameAddr(raw, header)
      if (na.uri.kind === 'sip') out.push(na.uri.host.toLowerCase())
    } catch {
      out.push(raw.trim().toLowerCase())
    }
  }
  return out
}

/** Tests the non-certificate conditions of a rule; null when all hold, else why not. */
function otherConditions(
  rule: CompiledClassRule,
  ctx: InboundContext,
  prefix: { len: number },
): string | null {
  if (rule.cidrs.length > 0) {
    const ip = parseIp(ctx.source.address)
    const hit = ip === undefined ? undefined : rule.cidrs.filter((c) => inCidr(ip, c))
    if (hit === undefined || hit.length === 0)
      return `source ${ctx.source.address} outside ${rule.cidrs.map((c) => c.text).join(',')}`
    prefix.len = Math.max(...hit.map((c) => c.prefix))
  }
  if (rule.ports.size > 0 && !rule.ports.has(ctx.source.port))
    return `source port ${ctx.source.port} not listed`
  if (rule.host !== null) {
    const hosts = headerHosts(ctx.request, rule.host.header)
    if (!hosts.some((h) => rule.host!.values.has(h)))
      return `${rule.host.header} host ${hosts.join(',') || '(none)'} not listed`
  }
  return null
}

function hasConditions(rule: CompiledClassRule): boolean {
  return rule.cidrs.length > 0 || rule.ports.size > 0 || rule.host !== null
}

/**
 * Step 2: which IP group sent the request. Only groups on the interface the request arrived on are
 * candidates. Precedence (first tier that matches wins):
 *  1. a rule with peer certificate names matching a verified TLS peer name (and its other conditions);
 *  2. the source address equals a proxy address of a group with `fromProxySet` (static IPs, and
 *     addresses learned from DNS); among several, one whose port and transport also match, else
 *     one whose transport matches;
 *  3. a rule with source CIDRs and/or ports (and host), the longest matching prefix first;
 *  4. a rule with only a host condition (header URI host in its values or the group's SIP group name).
 * Ties go to the group, then rule, earliest in name order. A rule without conditions never matches.
 * Unclassified: `security.unclassified` Drop (silent), Reject (403) or Allow (source group null).
 */
export function classify(t: ClassificationTable, ctx: InboundContext): StepResult<string | null> {
  const rules = t.rules.filter((r) => r.interfaceName === ctx.interfaceName)
  const misses: string[] = []

  const names = ctx.source.transport === 'TLS' ? (ctx.peerCertificateNames ?? []) : []
  for (const r of rules) {
    if (r.certExact.size === 0 && r.certWildcards.length === 0) continue
    const name = certificateNameMatches(r, names)
    if (name === undefined) {
      misses.push(`${r.group}/${r.rule}: no peer certificate name matches`)
      continue
    }
    const why = otherConditions(r, ctx, { len: 0 })
    if (why === null)
      return { kind: 'pass', value: r.group, why: `${r.group}/${r.rule}: peer certificate ${name}` }
    misses.push(`${r.group}/${r.rule}: ${why}`)
  }

  const key = ipKey(ctx.source.address)
  const sources = (key === undefined ? [] : (t.proxies.get(key) ?? [])).filter(
    (s) => s.interfaceName === ctx.interfaceName,
  )
  if (sources.length > 0) {
    // Port and transport; else transport alone, as a TCP/TLS request comes from a connection's
    // ephemeral port, never from the proxy's listening port; else the first group.
    const s =
      sources.find((x) => x.port === ctx.source.port && x.transport === ctx.source.transport) ??
      sources.find((x) => x.transport === ctx.source.transport) ??
      sources[0]!
    return {
      kind: 'pass',
      value: s.group,
      why: `${s.group}: source ${ctx.source.address} is a proxy of the group`,
    }
  }
  misses.push(`no proxy set holds ${ctx.source.address}`)

  let best: { rule: CompiledClassRule; len: number } | undefined
  for (const r of rules) {
    if (r.certExact.size > 0 || r.certWildcards.length > 0) continue
    if (r.cidrs.length === 0 && r.ports.size === 0) continue
    const prefix = { len: -1 }
    const why = otherConditions(r, ctx, prefix)
    if (why !== null) misses.push(`${r.group}/${r.rule}: ${why}`)
    else if (best === undefined || prefix.len > best.len) best = { rule: r, len: prefix.len }
  }
  if (best !== undefined) {
    return {
      kind: 'pass',
      value: best.rule.group,
      why: `${best.rule.group}/${best.rule.rule}: source address or port`,
    }
  }

  for (const r of rules) {
    if (r.certExact.size > 0 || r.certWildcards.length > 0 || r.cidrs.length > 0 || r.ports.size > 0) continue
    if (!hasConditions(r)) continue
    const why = otherConditions(r, ctx, { len: 0 })
    if (why === null)
      return { kind: 'pass', value: r.group, why: `${r.group}/${r.rule}: ${r.host!.header} host` }
    misses.push(`${r.group}/${r.rule}: ${why}`)
  }

  const why = `unclassified on ${ctx.interfaceName} (${misses.join('; ') || 'no rules'}); policy ${t.policy}`
  if (t.policy === 'Drop') return { kind: 'done', decision: { type: 'drop', reason: 'unclassified' }, why }
  if (t.policy === 'Reject') {
    return {
      kind: 'done',
      decision: { type: 'reply', code: 403, reason: 'Forbidden', sourceGroup: null },
      why,
    }
  }
  return { kind: 'pass', value: null, why }
}

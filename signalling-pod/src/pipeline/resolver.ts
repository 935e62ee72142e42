import { Resolver as DnsResolver } from 'node:dns/promises'
import { defaultPort } from './route.ts'
import type { RouteTarget, Transport } from './types.ts'

/** One address to try, in order. */
export interface ResolvedAddress {
  address: string
  port: number
  transport: Transport
  /**
   * The domain it was resolved from (A/SRV proxies): the identity a TLS server must prove (RFC 5922
   * §4: the domain of the URI, not the SRV target) and the host of the Request-URI.
   */
  domain?: string
  /** How it was found: the proxy's resolution (A or SRV); absent for a Static proxy. */
  resolution?: 'A' | 'SRV'
  /**
   * How long the answer it came from stays valid, seconds (its TTL, less the time it has been
   * cached); absent when unknown. Refreshing proxy addresses for classification waits this long.
   */
  ttlSeconds?: number
}

/** An SRV record as `node:dns` returns it. */
export interface SrvRecord {
  name: string
  port: number
  priority: number
  weight: number
}

/**
 * The resolver seam: the B2BUA resolves A/SRV proxies at call time through it; tests inject a
 * table. `kind` A returns the host's addresses (port from the caller), SRV the targets in RFC 2782
 * order with their ports.
 */
export type Resolve = (host: string, kind: 'A' | 'SRV', transport: Transport) => Promise<ResolvedAddress[]>

/** The SRV owner name for a transport (RFC 3263 §4.1). */
export function srvName(host: string, transport: Transport): string {
  if (transport === 'TLS') return `_sips._tcp.${host}`
  return transport === 'TCP' ? `_sip._tcp.${host}` : `_sip._udp.${host}`
}

/**
 * Orders SRV records per RFC 2782: ascending priority; within a priority, a weighted random draw
 * without replacement (weight-0 records first in the list, as the RFC asks, so they are drawn last
 * only rarely). `random` returns [0, 1).
 */
export function orderSrv(records: readonly SrvRecord[], random: () => number = Math.random): SrvRecord[] {
  const byPriority = new Map<number, SrvRecord[]>()
  for (const r of records) byPriority.set(r.priority, [...(byPriority.get(r.priority) ?? []), r])
  const out: SrvRecord[] = []
  for (const prio of [...byPriority.keys()].sort((a, b) => a - b)) {
    const pool = [...byPriority.get(prio)!].sort(
      (a, b) => (a.weight === 0 ? 0 : 1) - (b.weight === 0 ? 0 : 1),
    )
    while (pool.length > 0) {
      const total = pool.reduce((s, r) => s + r.weight, 0)
      const pick = Math.floor(random() * (total + 1))
      let sum = 0
      let i = 0
      for (; i < pool.length - 1; i++) {
        sum += pool[i]!.weight
        if (sum >= pick) break
      }
      out.push(pool.splice(i, 1)[0]!)
    }
  }
  return out
}

/** RFC 3263 §4.1 NAPTR service field per transport (SIPS over TCP for TLS). */
const NAPTR_SERVICE: Record<Transport, string> = { UDP: 'SIP+D2U', TCP: 'SIP+D2T', TLS: 'SIPS+D2T' }

/** Options of {@link createDnsResolver}. */
export interface DnsResolverOptions {
  /** DNS servers (`ip`, `ip:port`, `[ipv6]:port`); the system's when absent. */
  servers?: string[]
  /** Per-query timeout, ms. Default 2000. */
  timeoutMs?: number
  random?: () => number
  /** Upper bound of how long an answer is reused, seconds. Default 300. */
  maxTtlSeconds?: number
  /** Clock for the cache (tests). */
  now?: () => number
}

/** Environment variable naming the DNS servers of the call-time resolver, comma-separated. */
export const DNS_SERVERS_ENV = 'KUBE_SBC_DNS_SERVERS'

/** {@link DnsResolverOptions} from the environment: `KUBE_SBC_DNS_SERVERS=127.0.0.1:5353,10.0.0.10`. */
export function dnsOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): DnsResolverOptions {
  const v = env[DNS_SERVERS_ENV]?.trim()
  if (!v) return {}
  return {
    servers: v
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
  }
}

/**
 * A {@link Resolve} on `node:dns`: A then AAAA (RFC 3263 §4.2); for SRV, NAPTR first (§4.1, the
 * record for the proxy's transport names the SRV owner), then SRV ordered by {@link orderSrv} with
 * each target resolved; a domain without SRV records (NXDOMAIN or no data) is looked up A/AAAA
 * itself, at the transport's default port (§4.2). Answers are cached by their TTL (RFC 1035 §3.2.1), capped at
 * `maxTtlSeconds`. node:dns gives no TTL for SRV answers, so an SRV answer lives as long as the
 * shortest TTL of the addresses it led to. Failures are not cached: the next call asks again.
 */
export function createDnsResolver(options: DnsResolverOptions = {}): Resolve {
  const dns = new DnsResolver({ timeout: options.timeoutMs ?? 2000, tries: 2 })
  if (options.servers !== undefined) dns.setServers(options.servers)
  const now = options.now ?? Date.now
  const maxTtl = (options.maxTtlSeconds ?? 300) * 1000
  const cache = new Map<string, { until: number; value: unknown }>()
  // The value and until when it may be reused (0: not cached, a failure or an answer without TTL).
  const cached = async <T>(
    key: string,
    load: () => Promise<{ value: T; ttlMs: number }>,
  ): Promise<{ value: T; until: number }> => {
    const hit = cache.get(key)
    if (hit && hit.until > now()) return { value: hit.value as T, until: hit.until }
    const { value, ttlMs } = await load()
    if (ttlMs <= 0) return { value, until: 0 }
    const until = now() + Math.min(ttlMs, maxTtl)
    cache.set(key, { until, value })
    return { value, until }
  }
  const addressesOf = (host: string) =>
    cached(`A ${host}`, async () => {
      let recs = await dns.resolve4(host, { ttl: true }).catch(() => [])
      if (recs.length === 0) recs = await dns.resolve6(host, { ttl: true }).catch(() => [])
      const ttlMs = recs.length === 0 ? 0 : Math.min(...recs.map((r) => r.ttl * 1000))
      return { value: recs.map((r) => r.address), ttlMs }
    })
  const ttlSeconds = (until: number) => (until > 0 ? { ttlSeconds: Math.max(0, (until - now()) / 1000) } : {})
  // RFC 3263 §4.1: NAPTR first; a record whose service is the proxy's transport ("s" flag) names
  // the SRV owner. None (or no DNS answer) → the constructed `_sip._udp.` / `_sips._tcp.` name.
  const srvOwner = async (host: string, transport: Transport): Promise<string> => {
    const records = await dns.resolveNaptr(host).catch(() => [])
    const pick = records
      .filter((r) => r.flags.toLowerCase() === 's' && r.service.toUpperCase() === NAPTR_SERVICE[transport])
      .sort((x, y) => x.order - y.order || x.preference - y.preference)[0]
    return pick && pick.replacement !== '' ? pick.replacement : srvName(host, transport)
  }
  return async (host, kind, transport) => {
    if (kind === 'A') {
      const a = await addressesOf(host)
      return a.value.map((address) => ({ address, port: 0, transport, ...ttlSeconds(a.until) }))
    }
    const records = await cached(`SRV ${transport} ${host}`, async () => {
      const value = await dns.resolveSrv(await srvOwner(host, transport)).catch((err: unknown) => {
        // RFC 3263 §4.2: no SRV records (NXDOMAIN or no data, not a failure to get an answer) → the
        // domain's own A/AAAA addresses at the transport's default port, as one target.
        const code = (err as { code?: unknown } | null)?.code
        if (code === 'ENOTFOUND' || code === 'ENODATA')
          return [{ name: host, port: defaultPort(transport), priority: 0, weight: 0 }]
        throw err
      })
      let until = Number.POSITIVE_INFINITY
      for (const r of value) until = Math.min(until, (await addressesOf(r.name)).until)
      return { value, ttlMs: Number.isFinite(until) ? until - now() : 0 }
    })
    // The weighted draw is made per call (RFC 2782: load spread over the targets), not per answer.
    const out: ResolvedAddress[] = []
    for (const r of orderSrv(records.value, options.random)) {
      const a = await addressesOf(r.name)
      const until = records.until > 0 && a.until > 0 ? Math.min(records.until, a.until) : 0
      for (const address of a.value) out.push({ address, port: r.port, transport, ...ttlSeconds(until) })
    }
    return out
  }
}

/** An A/SRV proxy to resolve (a {@link RouteProxy}, or a config proxy, whose SRV port is null). */
export interface DnsProxy {
  address: string
  port: number | null
  transport: Transport
  resolution: 'A' | 'SRV'
}

/**
 * The addresses of one A/SRV proxy, in order: A with the configured (or default) port, SRV as its
 * records say. Throws when the lookup fails.
 */
export async function resolveProxy(p: DnsProxy, resolve: Resolve): Promise<ResolvedAddress[]> {
  const found = await resolve(p.address, p.resolution, p.transport)
  return found.map((a) => ({
    ...a,
    port: p.resolution === 'A' || a.port === 0 ? (p.port ?? defaultPort(p.transport)) : a.port,
    domain: p.address,
    resolution: p.resolution,
  }))
}

/**
 * The addresses to try for a route target, in order: Static proxies as configured, A proxies with
 * the configured (or default) port, SRV proxies as their records say. A proxy whose lookup fails
 * contributes nothing (the next one is tried).
 */
export async function resolveTarget(target: RouteTarget, resolve: Resolve): Promise<ResolvedAddress[]> {
  const out: ResolvedAddress[] = []
  for (const p of target.proxies) {
    if (p.resolution === 'Static') {
      out.push({ address: p.address, port: p.port, transport: p.transport })
      continue
    }
    try {
      out.push(...(await resolveProxy({ ...p, resolution: p.resolution }, resolve)))
    } catch {
      // Unresolvable: skip to the next proxy.
    }
  }
  return out
}

/** Whether any proxy of `targets` is named by DNS (A or SRV) and not yet resolved. */
export function needsResolution(targets: readonly RouteTarget[]): boolean {
  return targets.some((t) => t.proxies.some((p) => p.resolution !== 'Static' && p.domain === undefined))
}

/**
 * The targets with every A/SRV proxy replaced by the addresses it resolves to now, in order (RFC
 * 3263 §4.3: the client tries them one after the other on timeout, transport error or 503). A
 * resolved proxy keeps its domain (Request-URI, TLS) and resolution; its address is an IP. A target left without proxies is
 * kept (the caller answers 503 or fails over).
 */
export async function resolveRouteTargets(
  targets: readonly RouteTarget[],
  resolve: Resolve,
): Promise<RouteTarget[]> {
  return Promise.all(
    targets.map(async (t) => {
      if (!needsResolution([t])) return t
      const resolved = await resolveTarget(t, resolve)
      return {
        ...t,
        proxies: resolved.map((a, i) => ({
          address: a.address,
          port: a.port,
          transport: a.transport,
          // The original resolution stays (the Request-URI of an SRV name carries no port); `domain`
          // marks the entry as resolved.
          resolution: a.resolution ?? ('Static' as const),
          priority: i,
          weight: 0,
          ...(a.domain !== undefined ? { domain: a.domain } : {}),
        })),
      }
    }),
  )
}

import { Resolver as DnsResolver } from 'node:dns/promises'
import type { RouteTarget, Transport } from './types.ts'

/** One address to try, in order. */
export interface ResolvedAddress {
  address: string
  port: number
  transport: Transport
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

/** Options of {@link createDnsResolver}. */
export interface DnsResolverOptions {
  /** DNS servers (`ip` or `ip:port`); the system's when absent. */
  servers?: string[]
  /** Per-query timeout, ms. Default 2000. */
  timeoutMs?: number
  random?: () => number
}

/** A {@link Resolve} on `node:dns` (A then AAAA; SRV ordered by {@link orderSrv}, targets resolved). */
export function createDnsResolver(options: DnsResolverOptions = {}): Resolve {
  const dns = new DnsResolver({ timeout: options.timeoutMs ?? 2000, tries: 2 })
  if (options.servers !== undefined) dns.setServers(options.servers)
  const addressesOf = async (host: string): Promise<string[]> => {
    const v4 = await dns.resolve4(host).catch(() => [] as string[])
    if (v4.length > 0) return v4
    return dns.resolve6(host).catch(() => [] as string[])
  }
  return async (host, kind, transport) => {
    if (kind === 'A') return (await addressesOf(host)).map((address) => ({ address, port: 0, transport }))
    const records = orderSrv(await dns.resolveSrv(srvName(host, transport)), options.random)
    const out: ResolvedAddress[] = []
    for (const r of records) {
      for (const address of await addressesOf(r.name)) out.push({ address, port: r.port, transport })
    }
    return out
  }
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
      const found = await resolve(p.address, p.resolution, p.transport)
      for (const a of found) out.push({ ...a, port: p.resolution === 'A' || a.port === 0 ? p.port : a.port })
    } catch {
      // Unresolvable: skip to the next proxy.
    }
  }
  return out
}

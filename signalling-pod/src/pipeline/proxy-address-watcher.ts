import type { Logger } from '../../../lib/observability/logger.ts'
import { proxyKey } from './classify.ts'
import type { CompiledPipeline } from './compiled.ts'
import { type Resolve, resolveProxy } from './resolver.ts'
import type { Transport } from './types.ts'

/** Options of a {@link ProxyAddressWatcher}. */
export interface ProxyAddressWatcherOptions {
  resolve: Resolve
  logger: Logger
  /** Floor of the refresh interval, seconds (default 30): also the retry after a failed lookup. */
  minRefreshSeconds?: number
  /** Ceiling of the refresh interval, seconds (default 3600). */
  maxRefreshSeconds?: number
  /** Told the outcome of every lookup (metrics). */
  onLookup?: (group: string, proxy: string, result: 'ok' | 'failed') => void
}

/** An address a proxy resolved to, as classification keeps it. */
interface Learned {
  address: string
  port: number | null
  transport: Transport
}

/**
 * Keeps the addresses of A/SRV proxies of groups with `classification.fromProxySet` in the pipeline
 * in force, so a peer named by DNS (Webex's `_sips._tcp` SRV set) is classified by its proxy set
 * before any call was routed to it. Each generation gets the last known addresses of its proxies
 * at once ({@link watch}, called before the swap), then every proxy is resolved in the background
 * and again when its answer's TTL runs out (bounded by the floor and ceiling); a failed or empty
 * lookup keeps the last known addresses, is logged and retried after the floor. Never on the
 * request path.
 */
export class ProxyAddressWatcher {
  readonly #o: ProxyAddressWatcherOptions
  readonly #min: number
  readonly #max: number
  /** Last known addresses by proxyKey, across generations. */
  #known = new Map<string, Learned[]>()
  #pipeline: CompiledPipeline | undefined
  readonly #timers = new Set<NodeJS.Timeout>()
  /** Lookups in flight (tests and close wait for them). */
  readonly #inflight = new Set<Promise<void>>()

  constructor(options: ProxyAddressWatcherOptions) {
    this.#o = options
    this.#min = (options.minRefreshSeconds ?? 30) * 1000
    this.#max = (options.maxRefreshSeconds ?? 3600) * 1000
  }

  /**
   * Takes over `pipeline`: its proxies get their last known addresses now (synchronously), and are
   * resolved from now on; the previous generation's refreshes stop.
   */
  watch(pipeline: CompiledPipeline): void {
    this.#stopTimers()
    this.#pipeline = pipeline
    const known = new Map<string, Learned[]>()
    for (const g of pipeline.config.groups) {
      if (!g.classification.fromProxySet) continue
      for (const p of g.proxies) {
        if (p.resolution === 'Static') continue
        const key = proxyKey(g.name, p)
        const last = this.#known.get(key)
        if (last !== undefined) {
          known.set(key, last)
          pipeline.setProxyAddresses(g.name, key, last)
        }
        this.#lookup(pipeline, g.name, key, { ...p, resolution: p.resolution })
      }
    }
    this.#known = known
  }

  /** Resolves once the lookups in flight are done. */
  async settled(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.all([...this.#inflight])
  }

  /** Stops every refresh; lookups in flight are discarded. */
  close(): void {
    this.#stopTimers()
    this.#pipeline = undefined
  }

  #stopTimers(): void {
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
  }

  #lookup(
    pipeline: CompiledPipeline,
    group: string,
    key: string,
    proxy: { address: string; port: number | null; transport: Transport; resolution: 'A' | 'SRV' },
  ): void {
    const run = (async () => {
      let next = this.#min
      let found: Learned[] | undefined
      let error: unknown
      try {
        const resolved = await resolveProxy(proxy, this.#o.resolve)
        if (resolved.length > 0) {
          // A TCP/TLS peer connects from an ephemeral port: only the address counts.
          found = resolved.map((a) => ({
            address: a.address,
            port: a.transport === 'UDP' ? a.port : null,
            transport: a.transport,
          }))
          const ttls = resolved.map((a) => a.ttlSeconds ?? Number.POSITIVE_INFINITY)
          next = Math.min(this.#max, Math.max(this.#min, Math.min(...ttls) * 1000))
        }
      } catch (err) {
        error = err
      }
      // A newer generation (or close) took over: its own lookups run.
      if (this.#pipeline !== pipeline) return
      const log = { ipGroup: group, proxy: proxy.address, resolution: proxy.resolution }
      if (found === undefined) {
        this.#o.onLookup?.(group, proxy.address, 'failed')
        const last = this.#known.get(key)
        this.#o.logger.warn(
          { ...log, err: error, keeping: last?.map((a) => a.address) ?? [] },
          'Proxy set lookup for classification failed; keeping the last known addresses',
        )
      } else {
        this.#o.onLookup?.(group, proxy.address, 'ok')
        const before = JSON.stringify(this.#known.get(key))
        this.#known.set(key, found)
        pipeline.setProxyAddresses(group, key, found)
        if (JSON.stringify(found) !== before)
          this.#o.logger.info(
            { ...log, addresses: found.map((a) => a.address), refreshSeconds: next / 1000 },
            'Proxy set addresses for classification',
          )
      }
      const t = setTimeout(() => {
        this.#timers.delete(t)
        this.#lookup(pipeline, group, key, proxy)
      }, next)
      t.unref()
      this.#timers.add(t)
    })()
    this.#inflight.add(run)
    void run.finally(() => this.#inflight.delete(run))
  }
}

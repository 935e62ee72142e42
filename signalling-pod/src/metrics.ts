import {
  Counter,
  Gauge,
  Histogram,
  type MetricObjectWithValues,
  type MetricValueWithName,
  type Registry,
} from 'prom-client'
import type { CommandObservation } from '../../lib/state/redis-store.ts'
import type { Decision } from './pipeline/types.ts'

/** One label set's count, kept as a plain number between scrapes. */
interface TallyRow {
  readonly labels: Record<string, string>
  n: number
  /** What the Prometheus metric already holds of `n`. */
  pushed: number
}

/**
 * Label sets of a per-call metric, found by nested maps on the label values. prom-client's
 * `inc({labels})` (and its `labels(...)` children, which call the same) builds a string key from the
 * label object and validates it on every call: about 0.2–0.4 µs each, a dozen times per call. A row
 * is found here without building a key or an object, and `flush` hands the changes to prom-client
 * before a scrape (bench/signalling-hotpath.bench.ts).
 */
class Tally {
  readonly #names: readonly string[]
  readonly #root = new Map<string | number, unknown>()
  readonly #rows: TallyRow[] = []

  /** `names`: one to three label names, in the order `row` takes their values. */
  constructor(names: readonly string[]) {
    this.#names = names
  }

  /**
   * The row of these label values, as many as the label names (a number is printed as the label).
   * Fixed parameters rather than a rest array: no allocation on the hot path.
   */
  row(a: string | number, b: string | number = '', c: string | number = ''): TallyRow {
    const depth = this.#names.length
    let map = this.#root
    if (depth > 1) map = Tally.#child(map, a)
    if (depth > 2) map = Tally.#child(map, b)
    const key = depth === 1 ? a : depth === 2 ? b : c
    let row = map.get(key) as TallyRow | undefined
    if (row === undefined) {
      const values = [a, b, c]
      const labels: Record<string, string> = {}
      for (let i = 0; i < depth; i++) labels[this.#names[i] as string] = String(values[i])
      row = { labels, n: 0, pushed: 0 }
      map.set(key, row)
      this.#rows.push(row)
    }
    return row
  }

  static #child(map: Map<string | number, unknown>, key: string | number): Map<string | number, unknown> {
    let next = map.get(key) as Map<string | number, unknown> | undefined
    if (next === undefined) {
      next = new Map()
      map.set(key, next)
    }
    return next
  }

  /**
   * Adds each row's change since the last flush to the metric (a counter's rows only grow; a
   * gauge's delta keeps whatever else set it, as with its own `inc`/`dec`).
   */
  flush(metric: { inc(labels: Record<string, string>, value: number): void }): void {
    for (const r of this.#rows) {
      if (r.n !== r.pushed) {
        metric.inc(r.labels, r.n - r.pushed)
        r.pushed = r.n
      }
    }
  }
}

/** One command's observations: per-bucket counts (not cumulative; the last is above every bound). */
interface LatencyRow {
  readonly command: string
  readonly counts: number[]
  count: number
  sum: number
}

/**
 * `sbc_redis_command_duration_seconds`: a prom-client Histogram whose observations are plain tallies
 * per command, turned into the histogram's series only when scraped. prom-client's `observe` builds
 * and validates a label key and an object per call, ~1 % of a call's CPU at four round trips per call
 * (docs/benchmarks/signalling.md); {@link record} is a map lookup and three additions. The exposition
 * is the one Histogram writes (same series, labels in the same order).
 */
class TalliedHistogram extends Histogram<'command'> {
  readonly #bounds: readonly number[]
  readonly #rows = new Map<string, LatencyRow>()
  readonly #name: string
  readonly #help: string

  constructor(name: string, help: string, bounds: number[], registers: Registry[]) {
    super({ name, help, labelNames: ['command'], buckets: bounds, registers })
    this.#name = name
    this.#help = help
    this.#bounds = bounds
  }

  /** One round trip of `command` that took `seconds`. */
  record(command: string, seconds: number): void {
    let row = this.#rows.get(command)
    if (row === undefined) {
      row = { command, counts: new Array<number>(this.#bounds.length + 1).fill(0), count: 0, sum: 0 }
      this.#rows.set(command, row)
    }
    const b = this.#bounds
    let i = 0
    while (i < b.length && seconds > (b[i] as number)) i++
    ;(row.counts[i] as number)++
    row.count++
    row.sum += seconds
  }

  override async get(): Promise<MetricObjectWithValues<MetricValueWithName<'command'>>> {
    const values: MetricValueWithName<string>[] = []
    const bucket = `${this.#name}_bucket`
    for (const r of this.#rows.values()) {
      let acc = 0
      for (const [i, le] of this.#bounds.entries()) {
        acc += r.counts[i] as number
        values.push({ labels: { le, command: r.command }, value: acc, metricName: bucket })
      }
      values.push({ labels: { le: '+Inf', command: r.command }, value: r.count, metricName: bucket })
      values.push({ labels: { command: r.command }, value: r.sum, metricName: `${this.#name}_sum` })
      values.push({ labels: { command: r.command }, value: r.count, metricName: `${this.#name}_count` })
    }
    // What Histogram.get returns at run time (prom-client's typings declare `type` as an enum).
    const metric = { name: this.#name, help: this.#help, type: 'histogram', values, aggregator: 'sum' }
    return metric as unknown as MetricObjectWithValues<MetricValueWithName<'command'>>
  }

  /** The registry writes the exposition from this when a metric has it: the same values as get(). */
  getForPromString(): Promise<MetricObjectWithValues<MetricValueWithName<'command'>>> {
    return this.get()
  }

  override reset(): void {
    // Also called by prom-client's constructor, before this class's fields exist.
    if (#rows in this) this.#rows.clear()
  }
}

/** Which side of the SBC a call leg faces: received from the group, or sent to it. */
export type CallDirection = 'inbound' | 'outbound'

/**
 * The signalling pod's Prometheus metrics (docs/pipeline.md lists them; the Helm chart's
 * PrometheusRule and dashboard use `sbc_calls_*`, `sbc_redis_up` and `sbc_sip_proxy_up`). Names
 * carry the `sbc_` prefix, base units and `_total` on counters.
 */
export class SignallingMetrics {
  readonly callsAttempted: Counter<'ip_group' | 'direction'>
  readonly callsAnswered: Counter<'ip_group' | 'direction'>
  readonly callsFailed: Counter<'ip_group' | 'direction' | 'code'>
  readonly callsActive: Gauge<'ip_group'>
  readonly transactions: Counter<'kind' | 'method'>
  readonly retransmissions: Counter<'method'>
  readonly parseErrors: Counter<'reason'>
  readonly scannersBlocked: Counter<'signature' | 'action'>
  readonly rateLimited: Counter<'sip_interface' | 'reason'>
  readonly unclassified: Counter<'action'>
  readonly admissionRejections: Counter<'ip_group' | 'cause'>
  readonly routingDecisions: Counter<'type' | 'rule'>
  readonly redisDuration: TalliedHistogram
  readonly redisErrors: Counter<'command' | 'code'>
  readonly redisUp: Gauge
  readonly proxyUp: Gauge<'ip_group' | 'proxy'>
  readonly proxyLookups: Counter<'ip_group' | 'result'>
  readonly configGeneration: Gauge
  readonly draining: Gauge
  readonly tlsReloads: Counter<'sip_interface' | 'result'>
  readonly tlsStale: Gauge<'sip_interface' | 'code'>
  readonly mediaPodLostCalls: Counter<'outcome'>
  readonly #beforeScrape: (() => void)[] = []
  // Per-call counts (see Tally), handed to the metrics above by their `collect` on scrape.
  readonly #attempted = new Tally(['ip_group', 'direction'])
  readonly #answered = new Tally(['ip_group', 'direction'])
  readonly #failed = new Tally(['ip_group', 'direction', 'code'])
  readonly #active = new Tally(['ip_group'])
  readonly #transactions = new Tally(['kind', 'method'])
  readonly #routing = new Tally(['type', 'rule'])

  constructor(registry: Registry) {
    const registers = [registry]
    const hooks = this.#beforeScrape
    // Counters fed from plain counters (transaction layer, endpoint) are brought up to date on
    // scrape; each hook adds only what changed since the last one, so running twice is harmless.
    const collect = () => {
      for (const h of hooks) h()
    }
    this.callsAttempted = new Counter({
      name: 'sbc_calls_attempted_total',
      help: 'Initial INVITEs received from (inbound) or routed to (outbound) an IP group.',
      labelNames: ['ip_group', 'direction'],
      registers,
      collect: () => this.#attempted.flush(this.callsAttempted),
    })
    this.callsAnswered = new Counter({
      name: 'sbc_calls_answered_total',
      help: 'Attempted calls that got a 2xx.',
      labelNames: ['ip_group', 'direction'],
      registers,
      collect: () => this.#answered.flush(this.callsAnswered),
    })
    this.callsFailed = new Counter({
      name: 'sbc_calls_failed_total',
      help: 'Attempted calls that ended with a final non-2xx, by SIP status code.',
      labelNames: ['ip_group', 'direction', 'code'],
      registers,
      collect: () => this.#failed.flush(this.callsFailed),
    })
    this.mediaPodLostCalls = new Counter({
      name: 'sbc_media_pod_lost_calls_total',
      help: 'Calls of a media pod that left the registry, by what this process did: moved (re-INVITEs to a new pod), ended (BYE), left (pod draining, no other pod), skipped (handled by another process, or no longer on that pod).',
      labelNames: ['outcome'],
      registers,
    })
    this.callsActive = new Gauge({
      name: 'sbc_calls_active',
      help: 'Established calls on this pod, per IP group.',
      labelNames: ['ip_group'],
      registers,
      collect: () => this.#active.flush(this.callsActive),
    })
    this.transactions = new Counter({
      name: 'sbc_sip_transactions_total',
      help: 'SIP transactions created, by kind (client/server) and method.',
      labelNames: ['kind', 'method'],
      registers,
      collect: () => this.#transactions.flush(this.transactions),
    })
    this.retransmissions = new Counter({
      name: 'sbc_sip_retransmissions_total',
      help: 'SIP retransmissions sent or absorbed, by method.',
      labelNames: ['method'],
      registers,
      collect,
    })
    this.parseErrors = new Counter({
      name: 'sbc_sip_parse_errors_total',
      help: 'Messages that failed to parse, by SipParseReason.',
      labelNames: ['reason'],
      registers,
      collect,
    })
    this.rateLimited = new Counter({
      name: 'sbc_requests_rate_limited_total',
      help: 'Requests dropped by the per-source rate limit, by SipInterface and reason (rate: bucket empty, ban: source banned).',
      labelNames: ['sip_interface', 'reason'],
      registers,
    })
    this.scannersBlocked = new Counter({
      name: 'sbc_scanners_blocked_total',
      help: 'Requests matching a malicious signature, by signature and action (drop/reject).',
      labelNames: ['signature', 'action'],
      registers,
    })
    this.unclassified = new Counter({
      name: 'sbc_unclassified_requests_total',
      help: 'Requests no IP group classified, by what the policy did (drop/reject/allow).',
      labelNames: ['action'],
      registers,
    })
    this.admissionRejections = new Counter({
      name: 'sbc_admission_rejections_total',
      help: 'New calls refused with 503 by admission, by IP group and cause.',
      labelNames: ['ip_group', 'cause'],
      registers,
    })
    this.routingDecisions = new Counter({
      name: 'sbc_routing_decisions_total',
      help: 'Out-of-dialog requests decided by a routing rule (type route/reply; rule "" for 404).',
      labelNames: ['type', 'rule'],
      registers,
      collect: () => this.#routing.flush(this.routingDecisions),
    })
    this.redisDuration = new TalliedHistogram(
      'sbc_redis_command_duration_seconds',
      'Redis round trips, by command or script.',
      [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
      registers,
    )
    this.redisErrors = new Counter({
      name: 'sbc_redis_errors_total',
      help: 'Failed Redis round trips, by command and error code.',
      labelNames: ['command', 'code'],
      registers,
    })
    this.redisUp = new Gauge({
      name: 'sbc_redis_up',
      help: '1 while the Redis connection works, else 0.',
      registers,
    })
    this.proxyUp = new Gauge({
      name: 'sbc_sip_proxy_up',
      help: '1 while the proxy answers OPTIONS keep-alives, 0 when marked down.',
      labelNames: ['ip_group', 'proxy'],
      registers,
    })
    this.proxyLookups = new Counter({
      name: 'sbc_proxy_set_lookups_total',
      help: 'DNS lookups of A/SRV proxies for classification by proxy set, by result (ok, failed: the last known addresses stay).',
      labelNames: ['ip_group', 'result'],
      registers,
    })
    this.configGeneration = new Gauge({
      name: 'sbc_signalling_config_generation',
      help: 'Configuration generation this pod applied.',
      registers,
    })
    this.draining = new Gauge({
      name: 'sbc_signalling_draining',
      help: '1 while the pod drains (SIGTERM received), else 0.',
      registers,
    })
    this.tlsReloads = new Counter({
      name: 'sbc_sip_interface_tls_reloads_total',
      help: 'Changed TLS Secret material of a running SipInterface: applied, or refused (the old material keeps serving).',
      labelNames: ['sip_interface', 'result'],
      registers,
    })
    this.tlsStale = new Gauge({
      name: 'sbc_sip_interface_tls_stale',
      help: '1 while the Secret holds TLS material the interface refused and it serves its previous certificate; code says why.',
      labelNames: ['sip_interface', 'code'],
      registers,
    })
  }

  /** Runs `hook` before every scrape (used to copy plain counters into Prometheus counters). */
  beforeScrape(hook: () => void): void {
    this.#beforeScrape.push(hook)
  }

  /** The `observer` for `RedisStore` options: latency of every round trip, errors by code. */
  readonly redisObserver = (o: CommandObservation): void => {
    this.redisDuration.record(o.command, o.durationMs / 1000)
    if (!o.ok) this.redisErrors.inc({ command: o.command, code: o.error ?? 'unknown' })
  }

  /** Counts what the pipeline decided (scanner, unclassified, routing). */
  recordDecision(d: Decision): void {
    if (d.type === 'drop') {
      if (d.reason === 'scanner') this.scannersBlocked.inc({ signature: d.signature ?? '', action: 'drop' })
      else if (d.reason === 'unclassified') this.unclassified.inc({ action: 'drop' })
      return
    }
    if (d.type === 'reply' && d.signature !== undefined) {
      this.scannersBlocked.inc({ signature: d.signature, action: 'reject' })
      return
    }
    if (d.sourceGroup === null && d.type === 'reply' && d.rule === undefined && d.code === 403) {
      this.unclassified.inc({ action: 'reject' })
      return
    }
    if (d.sourceGroup === null) this.unclassified.inc({ action: 'allow' })
    this.#routing.row(d.type, d.rule ?? '').n++
  }

  /** A call's final response toward or from `group`: answered on 2xx, else failed with the code. */
  recordFinal(group: string, direction: CallDirection, code: number): void {
    if (code >= 200 && code < 300) this.#answered.row(group, direction).n++
    else this.#failed.row(group, direction, code).n++
  }

  /** An initial INVITE received from (inbound) or routed to (outbound) `group`. */
  recordAttempt(group: string, direction: CallDirection): void {
    this.#attempted.row(group, direction).n++
  }

  /** A call of `group` established (+1) or ended (-1), for `sbc_calls_active`. */
  callActive(group: string, delta: 1 | -1): void {
    this.#active.row(group).n += delta
  }

  /** A client or server transaction created for `method`. */
  recordTransaction(kind: 'client' | 'server', method: string): void {
    this.#transactions.row(kind, method).n++
  }
}

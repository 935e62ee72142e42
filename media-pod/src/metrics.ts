import { Counter, Gauge, type Registry } from 'prom-client'
import type { NgServerCounters } from '../../lib/media/control/ng-server-transport.ts'
import type { NativeWorkerStats } from '../native/native-relay.ts'
import type { MediaNgHandler, RealmRuntime } from './ng-handler.ts'
import type { EndpointStats } from './relay/relay.ts'

/** Per-realm sums of counters: closed sessions plus live ones, so the `_total`s never go down. */
export type RealmTotals = Pick<
  EndpointStats,
  | 'packetsIn'
  | 'bytesIn'
  | 'packetsOut'
  | 'bytesOut'
  | 'authFailures'
  | 'replayDrops'
  | 'lost'
  | 'iceFailures'
> & { timedOut: number }

/**
 * The media pod's metrics (`sbc_media_*`, `sbc_srtp_*`; names the chart's alerts use are in
 * docs/helm.md). Values are collected at scrape time from the handler, the allocators and the NG
 * transport, so the packet path never touches prom-client.
 */
export function registerMediaMetrics(
  registry: Registry,
  realms: ReadonlyMap<string, RealmRuntime>,
  handler: MediaNgHandler,
  ng: () => NgServerCounters | undefined,
  workers?: { stats(): NativeWorkerStats[]; readonly activeWorkers: number } | null,
): void {
  /**
   * Realms are read at scrape time: `realms` is the pod's live map, which a later config generation
   * changes (new realms appear at once). A removed realm keeps its series while it still has calls
   * or counted packets, so its `_total`s do not vanish.
   */
  const realmNames = (live: Map<string, unknown>): string[] => {
    const names = new Set(realms.keys())
    for (const r of live.keys()) names.add(r)
    for (const r of handler.closedTotals.keys()) names.add(r)
    return [...names]
  }
  const perRealm = (
    name: string,
    help: string,
    value: (realm: string, live: Map<string, EndpointStats & { timedOut: number }>) => number,
    kind: 'gauge' | 'counter' = 'counter',
  ) => {
    const Ctor = kind === 'gauge' ? Gauge : Counter
    new Ctor({
      name,
      help,
      labelNames: ['realm'],
      registers: [registry],
      collect(this: Gauge | Counter) {
        const live = handler.statsByRealm()
        this.reset()
        for (const r of realmNames(live)) {
          const v = value(r, live)
          if (this instanceof Gauge) this.set({ realm: r }, v)
          else if (v > 0) this.inc({ realm: r }, v)
          else this.inc({ realm: r }, 0)
        }
      },
    })
  }
  const total = (r: string, live: Map<string, EndpointStats & { timedOut: number }>, k: keyof RealmTotals) =>
    (handler.closedTotals.get(r)?.[k] ?? 0) + ((live.get(r)?.[k] as number | undefined) ?? 0)

  perRealm(
    'sbc_media_sessions',
    'Calls with media on this pod, per realm',
    (r) => handler.sessionsByRealm().get(r) ?? 0,
    'gauge',
  )
  perRealm(
    'sbc_media_ports_in_use',
    'RTP/RTCP ports allocated on this media pod',
    (r) => realms.get(r)?.allocator.counts().inUse ?? 0,
    'gauge',
  )
  perRealm(
    'sbc_media_ports_capacity',
    "Ports in the realm's range available to this pod",
    (r) => realms.get(r)?.allocator.counts().total ?? 0,
    'gauge',
  )
  perRealm(
    'sbc_media_ports_free',
    'Ports free to allocate (not in use, not quarantined)',
    (r) => realms.get(r)?.allocator.counts().free ?? 0,
    'gauge',
  )
  perRealm('sbc_media_packets_in_total', 'Packets received from parties', (r, l) => total(r, l, 'packetsIn'))
  perRealm('sbc_media_packets_out_total', 'Packets sent to parties', (r, l) => total(r, l, 'packetsOut'))
  perRealm('sbc_media_bytes_in_total', 'Octets received from parties', (r, l) => total(r, l, 'bytesIn'))
  perRealm('sbc_media_bytes_out_total', 'Octets sent to parties', (r, l) => total(r, l, 'bytesOut'))
  perRealm('sbc_srtp_replay_drops_total', 'SRTP packets dropped as replays', (r, l) =>
    total(r, l, 'replayDrops'),
  )
  perRealm('sbc_media_packets_lost_total', 'RTP packets lost (RFC 3550 A.3, TypeScript relay only)', (r, l) =>
    total(r, l, 'lost'),
  )
  perRealm(
    'sbc_media_ice_failures_total',
    'STUN connectivity checks refused (bad USERNAME/MESSAGE-INTEGRITY) or dropped (bad FINGERPRINT, malformed) on ICE-lite ports',
    (r, l) => total(r, l, 'iceFailures'),
  )
  perRealm('sbc_media_timeouts_total', 'Streams that sent nothing for the media timeout', (r, l) =>
    total(r, l, 'timedOut'),
  )
  perRealm(
    'sbc_media_jitter_max',
    'Highest interarrival jitter of live streams, RTP timestamp units',
    (r, l) => l.get(r)?.jitter ?? 0,
    'gauge',
  )
  new Counter({
    name: 'sbc_srtp_auth_failures_total',
    help: 'Packets dropped because SRTP/SRTCP authentication failed',
    labelNames: ['realm', 'kind'],
    registers: [registry],
    collect() {
      const live = handler.statsByRealm()
      this.reset()
      for (const r of realmNames(live)) this.inc({ realm: r, kind: 'srtp' }, total(r, live, 'authFailures'))
    },
  })
  if (workers) registerWorkerMetrics(registry, workers)
  for (const [name, key, help] of [
    ['sbc_media_ng_requests_total', 'requests', 'NG requests executed'],
    ['sbc_media_ng_retransmissions_total', 'retransmissions', 'NG requests answered from the cookie cache'],
    ['sbc_media_ng_errors_total', 'errors', 'NG requests answered with an error'],
  ] as const) {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset()
        this.inc(ng()?.[key] ?? 0)
      },
    })
  }
}

/**
 * The native relay's packet threads: what each carried and spent, the legs it owns, and how many take
 * new calls (the load-following placement, docs/media-pod.md "Workers"). Read at scrape time.
 */
function registerWorkerMetrics(
  registry: Registry,
  workers: { stats(): NativeWorkerStats[]; readonly activeWorkers: number },
): void {
  // One reading per scrape for all four series (the addon locks every thread's table to read them):
  // prom-client runs the collect() of a scrape in one turn of the event loop, so the snapshot is
  // dropped at the next turn.
  let snapshot: NativeWorkerStats[] | undefined
  const read = (): NativeWorkerStats[] => {
    if (!snapshot) {
      snapshot = workers.stats()
      setImmediate(() => {
        snapshot = undefined
      })
    }
    return snapshot
  }
  const per = (
    name: string,
    help: string,
    value: (w: NativeWorkerStats) => number,
    kind: 'gauge' | 'counter',
  ) => {
    const Ctor = kind === 'gauge' ? Gauge : Counter
    new Ctor({
      name,
      help,
      labelNames: ['worker'],
      registers: [registry],
      collect(this: Gauge | Counter) {
        this.reset()
        for (const [i, w] of read().entries()) {
          if (this instanceof Gauge) this.set({ worker: String(i) }, value(w))
          else this.inc({ worker: String(i) }, value(w))
        }
      },
    })
  }
  per(
    'sbc_media_worker_packets_total',
    'Datagrams received by each native relay thread',
    (w) => w.packets,
    'counter',
  )
  per(
    'sbc_media_worker_wakeups_total',
    'Wake-ups of each native relay thread that found datagrams (packets per wake-up is its batching)',
    (w) => w.wakeups,
    'counter',
  )
  per(
    'sbc_media_worker_cpu_seconds_total',
    'CPU time of each native relay thread',
    (w) => w.cpuNs / 1e9,
    'counter',
  )
  per('sbc_media_worker_legs', 'Relay legs (sockets) each native relay thread owns', (w) => w.legs, 'gauge')
  new Gauge({
    name: 'sbc_media_workers_active',
    help: 'Native relay threads taking new calls (as many as the measured packet rate needs)',
    registers: [registry],
    collect() {
      this.set(workers.activeWorkers)
    },
  })
}

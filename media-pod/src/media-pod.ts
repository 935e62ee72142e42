import type { Registry } from 'prom-client'
import type { SbcConfig } from '../../lib/config/model.ts'
import {
  formatMediaTimeoutNotice,
  MEDIA_TIMEOUT_CHANNEL,
  type MediaTimeoutNotice,
} from '../../lib/media/control/media-timeout.ts'
import { NgServerTransport } from '../../lib/media/control/ng-server-transport.ts'
import { type ObservabilityServer, startObservabilityServer } from '../../lib/observability/http-server.ts'
import type { Logger } from '../../lib/observability/logger.ts'
import type { DialogStore } from '../../lib/state/dialog-store.ts'
import { RedisStore } from '../../lib/state/redis-store.ts'
import { planRealms } from './config-realms.ts'
import { MediaPodError, MediaPodErrorCode } from './errors.ts'
import { registerMediaMetrics } from './metrics.ts'
import {
  MediaNgHandler,
  type MediaTimeoutEvent,
  type NgHandlerOptions,
  type RealmRuntime,
} from './ng-handler.ts'
import { DgramRelayBackend } from './relay/dgram-relay.ts'
import { NativeRelayBackend } from './relay/native-backend.ts'
import type { RelayBackend } from './relay/relay.ts'

export interface MediaPodOptions {
  config: SbcConfig
  store: DialogStore
  logger: Logger
  registry: Registry
  /** This pod's id in the registry (POD_NAME). */
  podId: string
  /** The node's address: NG address registered, and the SDP address of realms without one. */
  nodeAddress: string
  ngHost: string
  ngPort: number
  httpPort: number
  /** Realms served; default all realms of the config. */
  realms?: readonly string[]
  /** Native relay worker threads; 0 forces the TypeScript fallback. Default 1. */
  workers?: number
  /**
   * SCHED_FIFO priority (1–99) of the native relay workers; 0 (default) = normal scheduling. Needs
   * CAP_SYS_NICE; without it the workers run normally and a warning is logged.
   */
  workerPriority?: number
  /**
   * Packets per second one native worker carries before new calls spill onto the next and pairs move
   * (load-following placement, docs/media-pod.md "Workers"); 0 = every worker takes calls in turn.
   * Default DEFAULT_SPILL_PPS (15,000).
   */
  workerSpillPps?: number
  mediaTimeoutMs?: number
  /** The media timeout of calls on hold (NgHandlerOptions.holdTimeoutMs), default 3,600,000; 0 = never. */
  holdTimeoutMs?: number
  /** Port quarantine after release (PortAllocator), default 5,000 ms. */
  quarantineMs?: number
  heartbeatMs?: number
  ngSecret?: string
  onMediaTimeout?: (e: MediaTimeoutEvent) => void
  /**
   * Called once per call whose media went silent (lib/media/control/media-timeout.ts). With a Redis
   * store the notice is also published on `kube-sbc:media-timeout` for signalling.
   */
  onTimeout?: (notice: MediaTimeoutNotice) => void
}

/**
 * Publishes a media timeout notice for signalling (cluster mode: the store is Redis). Fire and
 * forget: a lost notice is not fatal, signalling can still `query` (`media timeout: 1`).
 */
function publishTimeout(o: MediaPodOptions, n: MediaTimeoutNotice): void {
  if (!(o.store instanceof RedisStore)) return
  const store = o.store
  store.bounded('publish', store.client.publish(MEDIA_TIMEOUT_CHANNEL, formatMediaTimeoutNotice(n))).then(
    (receivers) => o.logger.info({ ...n, receivers }, 'Published media timeout'),
    (err: unknown) => o.logger.warn({ err, callId: n.callId }, 'Could not publish the media timeout'),
  )
}

/**
 * One media pod: realms with their port allocators, the relay backends, the NG handler on
 * `NgServerTransport`, the registry heartbeat and /metrics /healthz /readyz.
 */
export class MediaPod {
  readonly handler: MediaNgHandler
  readonly relay: 'native' | 'dgram'
  private readonly o: MediaPodOptions
  private readonly ng: NgServerTransport
  private readonly http: ObservabilityServer
  private readonly backends: RelayBackend[]
  private readonly heartbeat: NodeJS.Timeout
  private readonly realms: Map<string, RealmRuntime>
  /** The handler's options object: it reads `realms` and `defaultRealm` from it on every request. */
  private readonly handlerOptions: NgHandlerOptions
  private config: SbcConfig
  private draining = false
  /** Settles when every registry write started so far has its verdict (they never reject). */
  private registering: Promise<void> = Promise.resolve()

  private constructor(
    o: MediaPodOptions,
    parts: {
      handler: MediaNgHandler
      ng: NgServerTransport
      http: ObservabilityServer
      backends: RelayBackend[]
      realms: Map<string, RealmRuntime>
      handlerOptions: NgHandlerOptions
    },
  ) {
    this.o = o
    this.config = o.config
    this.handlerOptions = parts.handlerOptions
    this.handler = parts.handler
    this.ng = parts.ng
    this.http = parts.http
    this.backends = parts.backends
    this.realms = parts.realms
    this.relay = parts.backends.some((b) => b.name === 'native') ? 'native' : 'dgram'
    this.heartbeat = setInterval(() => void this.register(), o.heartbeatMs ?? 5_000)
    this.heartbeat.unref()
  }

  static async start(o: MediaPodOptions): Promise<MediaPod> {
    const plan = planRealms(o.config, new Map(), {
      nodeAddress: o.nodeAddress,
      quarantineMs: o.quarantineMs ?? 5_000,
      ...(o.realms ? { only: o.realms } : {}),
    })
    const realms = plan.realms
    const first = plan.defaultRealm
    if (first === undefined)
      throw new MediaPodError(MediaPodErrorCode.unknownRealm, 'the config has no media realm')
    const workers = o.workers ?? 1
    const priority = o.workerPriority ?? 0
    const native =
      workers > 0 ? NativeRelayBackend.create(workers, undefined, priority, o.workerSpillPps) : null
    if (native && priority > 0 && !native.realtime)
      o.logger.warn(
        { workerPriority: priority },
        'Relay workers run with normal scheduling: real-time priority not permitted (needs CAP_SYS_NICE)',
      )
    const fallback = new DgramRelayBackend()
    let pod: MediaPod | undefined
    const handlerOptions: NgHandlerOptions = {
      realms,
      defaultRealm: first,
      native,
      fallback,
      ...(o.mediaTimeoutMs !== undefined ? { mediaTimeoutMs: o.mediaTimeoutMs } : {}),
      ...(o.holdTimeoutMs !== undefined ? { holdTimeoutMs: o.holdTimeoutMs } : {}),
      logger: o.logger,
      accepting: () => !pod?.draining,
      instanceId: o.podId,
      onMediaTimeout: (e) => o.onMediaTimeout?.(e),
      onTimeout: (n) => {
        o.onTimeout?.(n)
        publishTimeout(o, n)
      },
    }
    const handler = new MediaNgHandler(handlerOptions)
    const ng = await NgServerTransport.listen({
      host: o.ngHost,
      port: o.ngPort,
      handler,
      logger: o.logger,
      ...(o.ngSecret !== undefined ? { secret: o.ngSecret } : {}),
    })
    registerMediaMetrics(o.registry, realms, handler, () => ng.counters, native)
    const http = await startObservabilityServer({
      port: o.httpPort,
      registry: o.registry,
      readiness: () =>
        pod?.draining
          ? { ok: false, reason: 'draining' }
          : { ok: o.store.health() === 'ready', reason: 'state store unavailable' },
    })
    pod = new MediaPod(o, {
      handler,
      ng,
      http,
      backends: [...(native ? [native] : []), fallback],
      realms,
      handlerOptions,
    })
    await pod.register()
    o.logger.info(
      {
        ng: ng.address(),
        http: http.port,
        relay: pod.relay,
        realms: [...realms.keys()],
        generation: o.config.generation,
      },
      'Media pod started',
    )
    return pod
  }

  /** The snapshot last applied. */
  get generation(): number {
    return this.config.generation
  }

  /** The realms new offers are served from. */
  get realmNames(): string[] {
    return [...this.realms.keys()]
  }

  /**
   * Applies a newer snapshot's media realms in one step (docs/media-pod.md, "Following the
   * cluster"): new realms open allocators; unchanged realms keep theirs, and their calls; a realm
   * whose port range changed gets a new allocator (new offers take ports from the new range, which
   * steers around ports running calls still hold) while running calls keep their ports until they
   * end; removed realms refuse new offers and their ports are freed as their calls end. Throws
   * without changing anything when the snapshot cannot be served (invalid range). Redis and the
   * NG address are read once at start; a change is logged and needs a restart.
   */
  applyConfig(config: SbcConfig): void {
    const plan = planRealms(config, this.realms, {
      nodeAddress: this.o.nodeAddress,
      quarantineMs: this.o.quarantineMs ?? 5_000,
      ...(this.o.realms ? { only: this.o.realms } : {}),
    })
    const sessions = this.handler.sessionsByRealm()
    // The swap: the handler reads this map and default realm on every offer.
    this.realms.clear()
    for (const [name, r] of plan.realms) this.realms.set(name, r)
    this.handlerOptions.defaultRealm = plan.defaultRealm ?? ''
    if (JSON.stringify(config.redis) !== JSON.stringify(this.config.redis))
      this.o.logger.warn({}, 'The Redis settings changed: they apply when the media pod restarts')
    this.config = config
    this.o.logger.info(
      {
        generation: config.generation,
        added: plan.added,
        changed: plan.changed,
        removed: plan.removed.map((name) => ({ name, sessions: sessions.get(name) ?? 0 })),
      },
      'Applied config snapshot',
    )
    void this.register()
  }

  /** The bound NG address. */
  get ngAddress(): { address: string; port: number } {
    return this.ng.address()
  }

  get httpPort(): number {
    return this.http.port
  }

  /** The registry record: the NG address signalling sends to, realms and free capacity. */
  private register(): Promise<void> {
    if (this.draining) return this.registering
    const write = this.writeEntry()
    this.registering = this.registering.then(() => write)
    return write
  }

  private async writeEntry(): Promise<void> {
    const capacity = [...this.realms.values()].reduce((n, r) => n + r.maxSessions, 0)
    const ng = this.ng.address()
    try {
      await this.o.store.registerMediaPod(
        {
          id: this.o.podId,
          address: `${ng.address === '0.0.0.0' ? this.o.nodeAddress : ng.address}:${ng.port}`,
          realms: [...this.realms.keys()],
          capacity,
          active: this.handler.sessionCount,
        },
        (this.o.heartbeatMs ?? 5_000) * 3,
      )
    } catch (err) {
      this.o.logger.warn({ err }, 'Media pod heartbeat failed')
    }
  }

  /**
   * SIGTERM: leave the registry and refuse new calls (readiness false), keep relaying existing calls
   * until they are deleted or `graceMs` passes.
   */
  async drain(graceMs: number): Promise<void> {
    this.draining = true
    // A write already sent may still land after a delete sent now: Redis without the script (a
    // restart, a failover) answers its EVALSHA NOSCRIPT and the store sends it again as EVAL. The
    // pod would then be listed, and picked for new calls it refuses, for three heartbeats.
    await this.registering
    try {
      await this.o.store.unregisterMediaPod(this.o.podId)
    } catch (err) {
      this.o.logger.warn({ err }, 'Could not unregister the media pod')
    }
    const until = Date.now() + graceMs
    this.o.logger.info({ sessions: this.handler.sessionCount, graceMs }, 'Draining media pod')
    while (this.handler.sessionCount > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 200))
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat)
    await this.ng.close()
    this.handler.close()
    for (const b of this.backends) await b.close()
    await this.http.close()
  }
}

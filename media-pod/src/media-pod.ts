import type { Registry } from 'prom-client'
import type { SbcConfig } from '../../lib/config/model.ts'
import { NgServerTransport } from '../../lib/media/control/ng-server-transport.ts'
import { PortAllocator } from '../../lib/media/relay/port-allocator.ts'
import { type ObservabilityServer, startObservabilityServer } from '../../lib/observability/http-server.ts'
import type { Logger } from '../../lib/observability/logger.ts'
import type { DialogStore } from '../../lib/state/dialog-store.ts'
import { MediaPodError, MediaPodErrorCode } from './errors.ts'
import { registerMediaMetrics } from './metrics.ts'
import { MediaNgHandler, type MediaTimeoutEvent, type RealmRuntime } from './ng-handler.ts'
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
  mediaTimeoutMs?: number
  /** Port quarantine after release (PortAllocator), default 5,000 ms. */
  quarantineMs?: number
  heartbeatMs?: number
  ngSecret?: string
  onMediaTimeout?: (e: MediaTimeoutEvent) => void
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
  private draining = false

  private constructor(
    o: MediaPodOptions,
    parts: {
      handler: MediaNgHandler
      ng: NgServerTransport
      http: ObservabilityServer
      backends: RelayBackend[]
      realms: Map<string, RealmRuntime>
    },
  ) {
    this.o = o
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
    const names = o.realms ?? o.config.realms.map((r) => r.name)
    const realms = new Map<string, RealmRuntime>()
    for (const name of names) {
      const r = o.config.realms.find((x) => x.name === name)
      if (!r) throw new MediaPodError(MediaPodErrorCode.unknownRealm, `realm '${name}' is not in the config`)
      realms.set(name, {
        name,
        bindAddress: r.bindAddress,
        advertisedAddress:
          r.advertisedAddress ?? (r.bindAddress === '0.0.0.0' ? o.nodeAddress : r.bindAddress),
        allocator: new PortAllocator(r.portRange, { quarantineMs: o.quarantineMs ?? 5_000 }),
        maxSessions: r.maxSessions,
      })
    }
    const first = names[0]
    if (first === undefined)
      throw new MediaPodError(MediaPodErrorCode.unknownRealm, 'the config has no media realm')
    const workers = o.workers ?? 1
    const native = workers > 0 ? NativeRelayBackend.create(workers) : null
    const fallback = new DgramRelayBackend()
    let pod: MediaPod | undefined
    const handler = new MediaNgHandler({
      realms,
      defaultRealm: first,
      native,
      fallback,
      ...(o.mediaTimeoutMs !== undefined ? { mediaTimeoutMs: o.mediaTimeoutMs } : {}),
      logger: o.logger,
      accepting: () => !pod?.draining,
      instanceId: o.podId,
      onMediaTimeout: (e) => o.onMediaTimeout?.(e),
    })
    const ng = await NgServerTransport.listen({
      host: o.ngHost,
      port: o.ngPort,
      handler,
      logger: o.logger,
      ...(o.ngSecret !== undefined ? { secret: o.ngSecret } : {}),
    })
    registerMediaMetrics(o.registry, realms, handler, () => ng.counters)
    const http = await startObservabilityServer({
      port: o.httpPort,
      registry: o.registry,
      readiness: () =>
        pod?.draining
          ? { ok: false, reason: 'draining' }
          : { ok: o.store.health() === 'ready', reason: 'state store unavailable' },
    })
    pod = new MediaPod(o, { handler, ng, http, backends: [...(native ? [native] : []), fallback], realms })
    await pod.register()
    o.logger.info({ ng: ng.address(), http: http.port, relay: pod.relay, realms: names }, 'Media pod started')
    return pod
  }

  /** The bound NG address. */
  get ngAddress(): { address: string; port: number } {
    return this.ng.address()
  }

  get httpPort(): number {
    return this.http.port
  }

  /** The registry record: the NG address signalling sends to, realms and free capacity. */
  private async register(): Promise<void> {
    if (this.draining) return
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

import type { Registry } from 'prom-client'
import { Gauge } from 'prom-client'
import type { SbcConfig } from '../../lib/config/model.ts'
import { type ObservabilityServer, startObservabilityServer } from '../../lib/observability/http-server.ts'
import type { Logger } from '../../lib/observability/logger.ts'
import type { DialogStore } from '../../lib/state/dialog-store.ts'
import { B2bua } from './b2bua/b2bua.ts'
import { SipInterfaceRuntime } from './b2bua/sip-interface-runtime.ts'
import { CompiledPipeline } from './pipeline/pipeline.ts'

/** Options of {@link SignallingServer.start}. */
export interface SignallingServerOptions {
  config: SbcConfig
  store: DialogStore
  logger: Logger
  registry: Registry
  /** HTTP port for /metrics /healthz /readyz; undefined: no HTTP server. */
  httpPort?: number
  httpHost?: string
  /** Name of this process (POD_NAME), owner of TCP connection hints in the state. */
  podName: string
  /** Address put in Via when an interface binds all addresses (POD_IP). */
  podAddress: string
}

/**
 * One signalling process: the SIP interfaces of the config, the B2BUA, and the HTTP port. `drain()`
 * implements SIGTERM: /readyz false, new INVITEs 503, in-dialog traffic served until the process's
 * own transactions are done or the grace period ends.
 */
export class SignallingServer {
  readonly b2bua: B2bua
  readonly interfaces: ReadonlyMap<string, SipInterfaceRuntime>
  readonly http: ObservabilityServer | undefined
  readonly #o: SignallingServerOptions

  private constructor(
    o: SignallingServerOptions,
    b2bua: B2bua,
    interfaces: Map<string, SipInterfaceRuntime>,
    http: ObservabilityServer | undefined,
  ) {
    this.#o = o
    this.b2bua = b2bua
    this.interfaces = interfaces
    this.http = http
  }

  static async start(o: SignallingServerOptions): Promise<SignallingServer> {
    const pipeline = CompiledPipeline.from(o.config)
    const interfaces = new Map<string, SipInterfaceRuntime>()
    const b2bua = new B2bua({
      store: o.store,
      pipeline: () => pipeline,
      interfaces: () => interfaces,
      logger: o.logger,
      podName: o.podName,
    })
    try {
      for (const ic of o.config.interfaces) {
        interfaces.set(
          ic.name,
          await SipInterfaceRuntime.start(
            ic,
            b2bua.delegate,
            o.logger.child({ sipInterface: ic.name }),
            o.podAddress,
          ),
        )
      }
    } catch (err) {
      await Promise.all([...interfaces.values()].map((i) => i.close()))
      throw err
    }
    const c = b2bua.counters
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers: [o.registry],
        collect() {
          this.set(read())
        },
      })
    gauge(
      'sbc_b2bua_invites_in_flight',
      'INVITEs this process is forwarding plus in-dialog requests awaiting an answer.',
      () => b2bua.busy,
    )
    gauge('sbc_b2bua_draining', '1 while the process drains after SIGTERM.', () => (b2bua.draining ? 1 : 0))
    gauge(
      'sbc_b2bua_calls_attempted',
      'Calls routed since start (until metrics.ts lands).',
      () => c.callsAttempted,
    )
    gauge(
      'sbc_b2bua_calls_answered',
      'Calls answered since start (until metrics.ts lands).',
      () => c.callsAnswered,
    )
    gauge(
      'sbc_b2bua_calls_refused_state_unavailable',
      'INVITEs refused with 503 because the state store was unreachable.',
      () => c.callsRejectedStateUnavailable,
    )
    const http =
      o.httpPort === undefined
        ? undefined
        : await startObservabilityServer({
            port: o.httpPort,
            ...(o.httpHost ? { host: o.httpHost } : {}),
            registry: o.registry,
            readiness: () => {
              if (b2bua.draining) return { ok: false, reason: 'draining' }
              if (o.store.health() !== 'ready') return { ok: false, reason: 'state store unavailable' }
              return true
            },
          })
    const server = new SignallingServer(o, b2bua, interfaces, http)
    o.logger.info(
      {
        generation: o.config.generation,
        interfaces: [...interfaces.values()].map((i) => ({
          name: i.name,
          listeners: i.endpoint.transports.map((t) => `${t.protocol}:${t.local.address}:${t.local.port}`),
        })),
        httpPort: http?.port,
      },
      'Started signalling',
    )
    return server
  }

  /**
   * Drains: resolves once nothing of this process is in flight, or after `graceMs`. With a shared
   * store the calls live on in Redis and other processes serve them, so only transactions count;
   * with the in-process store (`waitForCalls`) the calls themselves end with the process, so it
   * also waits for them to end.
   */
  async drain(graceMs: number, waitForCalls: boolean): Promise<void> {
    this.b2bua.drain()
    this.#o.logger.info({ graceMs, waitForCalls }, 'Draining signalling')
    const until = Date.now() + graceMs
    const busy = () => this.b2bua.busy + (waitForCalls ? this.b2bua.localCalls : 0)
    while (busy() > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 100))
    this.#o.logger.info({ busy: this.b2bua.busy }, 'Drained signalling')
  }

  async close(): Promise<void> {
    await Promise.all([...this.interfaces.values()].map((i) => i.close()))
    await this.http?.close()
  }
}

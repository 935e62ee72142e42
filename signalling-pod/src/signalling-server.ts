import { Gauge, type Registry } from 'prom-client'
import type { SbcConfig } from '../../lib/config/model.ts'
import type { Logger } from '../../lib/observability/logger.ts'
import type { DialogStore } from '../../lib/state/dialog-store.ts'
import { B2bua, type MediaHook } from './b2bua/b2bua.ts'
import { SipInterfaceRuntime } from './b2bua/sip-interface-runtime.ts'
import { CdrWriter } from './cdr.ts'
import { type ApplyResult, ConfigReconciler } from './config-reconciler.ts'
import { SignallingMetrics } from './metrics.ts'
import { fileSecretResolver, type SecretResolver } from './secrets/secret-resolver.ts'

/** Options of {@link SignallingServer.start}. */
export interface SignallingServerOptions {
  /** The first generation for {@link SignallingServer.start}; more come through `applyConfig`. */
  config?: SbcConfig
  store: DialogStore
  logger: Logger
  registry: Registry
  /** Name of this process (POD_NAME), owner of TCP connection hints in the state. */
  podName: string
  /** Address put in Via when an interface binds all addresses (POD_IP). */
  podAddress: string
  /** The process's metrics (made on `registry` when absent; main.ts makes them first for the store's observer). */
  metrics?: SignallingMetrics
  /** Where CDR lines go (one JSON line per call); stdout when absent. */
  cdr?: CdrWriter
  /**
   * The media step (`MediaAnchor`, signalling-pod/src/media/); SDP passes through unchanged when
   * absent. main.ts builds it once the store exists.
   */
  media?: MediaHook
  /** Upper bound of the drain of an interface a new generation removes (default 32 s). */
  interfaceDrainMs?: number
  /**
   * Where TLS interfaces read their Secret material: the YAML Secrets for `kube-sbc run`, else the
   * mounted files under `KUBE_SBC_SECRETS_DIR` (default /etc/kube-sbc/secrets).
   */
  secrets?: SecretResolver
}

/**
 * One signalling process: the SIP interfaces of the config, the B2BUA, and its metrics. The config
 * moves between generations through a {@link ConfigReconciler}; the B2BUA reads the pipeline and
 * the interfaces through it, so a swap takes effect for the next request. `drain()` implements
 * SIGTERM: /readyz false, new INVITEs 503, in-dialog traffic served until the process's own
 * transactions are done or the grace period ends.
 */
export class SignallingServer {
  readonly b2bua: B2bua
  readonly metrics: SignallingMetrics
  readonly #reconciler: ConfigReconciler
  readonly #o: SignallingServerOptions

  private constructor(o: SignallingServerOptions) {
    this.#o = o
    this.metrics = o.metrics ?? new SignallingMetrics(o.registry)
    let reconciler: ConfigReconciler | undefined
    this.b2bua = new B2bua({
      store: o.store,
      pipeline: () => (reconciler as ConfigReconciler).pipeline,
      interfaces: () => (reconciler as ConfigReconciler).interfaces,
      logger: o.logger,
      podName: o.podName,
      metrics: this.metrics,
      cdr: o.cdr ?? new CdrWriter(process.stdout, { pod: o.podName }),
      ...(o.media ? { media: o.media } : {}),
    })
    const secrets = o.secrets ?? fileSecretResolver()
    const interfaceUp = interfaceUpGauge(o.registry)
    const failures = new Map<string, string>()
    reconciler = new ConfigReconciler({
      delegate: this.b2bua.delegate,
      logger: o.logger,
      podAddress: o.podAddress,
      // TLS listeners need the Secret material; an interface whose material is bad starts without
      // listeners (logged with its SBC_ERR_SECRET_* code) and the rest of the generation applies.
      openInterface: async (ic) => {
        const rt = await SipInterfaceRuntime.start(
          ic,
          this.b2bua.delegate,
          o.logger.child({ sipInterface: ic.name }),
          o.podAddress,
          { secrets },
        )
        const before = failures.get(ic.name)
        if (before !== undefined) interfaceUp.remove({ sip_interface: ic.name, code: before })
        failures.delete(ic.name)
        interfaceUp.set({ sip_interface: ic.name, code: '' }, rt.failure ? 0 : 1)
        if (rt.failure) {
          failures.set(ic.name, rt.failure.code)
          interfaceUp.set({ sip_interface: ic.name, code: rt.failure.code }, 1)
        }
        return rt
      },
      ...(o.interfaceDrainMs !== undefined ? { drainMs: o.interfaceDrainMs } : {}),
    })
    this.#reconciler = reconciler
  }

  /** A server with `o.config` applied (throws when it cannot be). */
  static async start(o: SignallingServerOptions): Promise<SignallingServer> {
    const server = SignallingServer.create(o)
    if (o.config) await server.applyConfig(o.config)
    o.logger.info({ generation: server.generation }, 'Started signalling')
    return server
  }

  /** A server with no config yet: no interfaces, not ready; `applyConfig` brings it up. */
  static create(o: SignallingServerOptions): SignallingServer {
    const server = new SignallingServer(o)
    return server
  }

  /** The interfaces of the config in force. */
  get interfaces(): ReadonlyMap<string, SipInterfaceRuntime> {
    return this.#reconciler.interfaces
  }

  /** Whether a generation has been applied. */
  get applied(): boolean {
    return this.#reconciler.applied
  }

  /** The config in force. */
  get config(): SbcConfig {
    return this.#reconciler.config
  }

  /** The generation in force (also `sbc_signalling_config_generation`). */
  get generation(): number {
    return this.#reconciler.config.generation
  }

  /**
   * Moves to `config` (validate, diff, open, swap, drain; rolls back and throws on error). The
   * store is not reconnected: a changed `redis` section is logged and needs a restart.
   */
  async applyConfig(config: SbcConfig): Promise<ApplyResult> {
    const before = this.#reconciler.applied ? this.#reconciler.config : undefined
    const result = await this.#reconciler.apply(config)
    this.metrics.configGeneration.set(result.generation)
    if (before && JSON.stringify(before.redis) !== JSON.stringify(config.redis))
      this.#o.logger.warn(
        { generation: config.generation },
        'The redis section changed; the process keeps its store until it restarts',
      )
    return result
  }

  /** For /readyz. */
  readiness(): true | { ok: false; reason: string } {
    if (!this.#reconciler.applied) return { ok: false, reason: 'no config applied' }
    if (this.b2bua.draining) return { ok: false, reason: 'draining' }
    if (this.#o.store.health() !== 'ready') return { ok: false, reason: 'state store unavailable' }
    return true
  }

  /**
   * Drains: resolves once nothing of this process is in flight, or after `graceMs`. With a shared
   * store the calls live on in Redis and other processes serve them, so only transactions count;
   * with the in-process store (`waitForCalls`) the calls themselves end with the process, so it
   * also waits for them to end.
   */
  async drain(graceMs: number, waitForCalls: boolean): Promise<void> {
    this.b2bua.drain()
    this.metrics.draining.set(1)
    this.#o.logger.info({ graceMs, waitForCalls }, 'Draining signalling')
    const until = Date.now() + graceMs
    const busy = () => this.b2bua.busy + (waitForCalls ? this.b2bua.localCalls : 0)
    while (busy() > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 100))
    this.#o.logger.info({ busy: this.b2bua.busy }, 'Drained signalling')
  }

  async close(): Promise<void> {
    await this.#reconciler.close()
  }
}

/**
 * `sbc_sip_interface_up{sip_interface,code=""}`: 1 when the interface's listeners are open, 0 when
 * it could not start; `{code="SBC_ERR_…"}` 1 names why. One gauge per registry (tests make several
 * servers on one).
 */
function interfaceUpGauge(registry: Registry): Gauge<'sip_interface' | 'code'> {
  const name = 'sbc_sip_interface_up'
  const existing = registry.getSingleMetric(name)
  if (existing) return existing as Gauge<'sip_interface' | 'code'>
  return new Gauge({
    name,
    help: 'Whether a SipInterface has its listeners open (code="" series); a code series names why not',
    labelNames: ['sip_interface', 'code'],
    registers: [registry],
  })
}

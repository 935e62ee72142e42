import { X509Certificate } from 'node:crypto'
import { Gauge, type Registry } from 'prom-client'
import type { InterfaceConfig, SbcConfig } from '../../lib/config/model.ts'
import type { Logger } from '../../lib/observability/logger.ts'
import type { DialogStore } from '../../lib/state/dialog-store.ts'
import { B2bua, type MediaHook } from './b2bua/b2bua.ts'
import { SipInterfaceRuntime } from './b2bua/sip-interface-runtime.ts'
import { CdrWriter } from './cdr.ts'
import { type ApplyResult, ConfigReconciler } from './config-reconciler.ts'
import { SignallingMetrics } from './metrics.ts'
import { ProxyAddressWatcher } from './pipeline/proxy-address-watcher.ts'
import { createDnsResolver, dnsOptionsFromEnv, type Resolve } from './pipeline/resolver.ts'
import { interfaceTlsSettings } from './secrets/interface-tls.ts'
import {
  fileSecretResolver,
  SecretError,
  SecretErrorCode,
  type SecretResolver,
} from './secrets/secret-resolver.ts'

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
  /**
   * DNS for A/SRV proxies, at call time and for classification by proxy set; `node:dns` on
   * `KUBE_SBC_DNS_SERVERS` when absent.
   */
  resolve?: Resolve
  /** The B2BUA's Timer C (`B2buaOptions.ringingLimitMs`, default 180 s); tests shorten it. */
  ringingLimitMs?: number
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
  readonly #secrets: SecretResolver
  readonly #proxyAddresses: ProxyAddressWatcher

  private constructor(o: SignallingServerOptions) {
    this.#o = o
    this.metrics = o.metrics ?? new SignallingMetrics(o.registry)
    const resolve = o.resolve ?? createDnsResolver(dnsOptionsFromEnv())
    const lookups = this.metrics.proxyLookups
    this.#proxyAddresses = new ProxyAddressWatcher({
      resolve,
      logger: o.logger,
      onLookup: (group, _proxy, result) => lookups.inc({ ip_group: group, result }),
    })
    let reconciler: ConfigReconciler | undefined
    this.b2bua = new B2bua({
      store: o.store,
      resolve,
      pipeline: () => (reconciler as ConfigReconciler).pipeline,
      interfaces: () => (reconciler as ConfigReconciler).interfaces,
      logger: o.logger,
      podName: o.podName,
      metrics: this.metrics,
      cdr: o.cdr ?? new CdrWriter(process.stdout, { pod: o.podName }),
      ...(o.media ? { media: o.media } : {}),
      ...(o.ringingLimitMs !== undefined ? { ringingLimitMs: o.ringingLimitMs } : {}),
    })
    const secrets = o.secrets ?? fileSecretResolver()
    this.#secrets = secrets
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
      beforeSwap: (pipeline) => this.#proxyAddresses.watch(pipeline),
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
    // Interfaces the generation kept read their Secrets again: with `kube-sbc run --watch` a
    // changed v1/Secret in the input changes no interface config, only the material.
    await this.reloadTls()
    if (before && JSON.stringify(before.redis) !== JSON.stringify(config.redis))
      this.#o.logger.warn(
        { generation: config.generation },
        'The redis section changed; the process keeps its store until it restarts',
      )
    return result
  }

  /**
   * Reads the TLS Secret material of every interface again (docs/b2bua.md, "Certificate
   * renewal"): a running interface whose certificate, key or CA changed serves the new material to
   * new connections, established connections keep theirs; unusable material is refused (logged
   * with its SBC_ERR_SECRET_* code, `sbc_sip_interface_tls_reloads_total{result="refused"}`,
   * `sbc_sip_interface_tls_stale` 1) and the interface keeps serving what it had. An interface
   * that could not start for its Secret is opened again once the Secret is usable. Called on a
   * change of the mounted Secret files (SecretWatcher) and after every generation.
   */
  async reloadTls(): Promise<void> {
    const log = this.#o.logger
    const m = this.metrics
    const reopen: string[] = []
    for (const rt of this.#reconciler.interfaces.values()) {
      if (rt.failure) {
        if (rt.failure instanceof SecretError && usable(rt.config, this.#secrets)) reopen.push(rt.name)
        continue
      }
      const r = rt.reloadTls(this.#secrets)
      if (r.result === 'none') continue
      // One stale series per interface at most: the code of the material refused now, or none.
      for (const code of Object.values(SecretErrorCode)) m.tlsStale.remove({ sip_interface: rt.name, code })
      if (r.result === 'refused') {
        m.tlsStale.set({ sip_interface: rt.name, code: r.error.code }, 1)
        if (r.repeated) continue
        m.tlsReloads.inc({ sip_interface: rt.name, result: 'refused' })
        log.error(
          { sipInterface: rt.name, code: r.error.code, err: r.error.message },
          'Refused new TLS material; the interface keeps serving its previous certificate',
        )
      } else if (r.result === 'applied') {
        m.tlsReloads.inc({ sip_interface: rt.name, result: 'applied' })
        log.info(
          { sipInterface: rt.name, ...certificateSummary(r.certificate) },
          'Serving renewed TLS material to new connections',
        )
      }
    }
    if (reopen.length === 0) return
    log.info({ sipInterfaces: reopen }, 'Opening interfaces whose TLS Secret became usable')
    try {
      await this.#reconciler.reopen(reopen)
    } catch (err) {
      log.error({ err, sipInterfaces: reopen }, 'Could not open interfaces after their Secret changed')
    }
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
    this.#proxyAddresses.close()
    await this.#reconciler.close()
  }
}

/** Whether the interface's TLS Secret material would now be accepted. */
function usable(config: InterfaceConfig, secrets: SecretResolver): boolean {
  try {
    interfaceTlsSettings(config, secrets)
    return true
  } catch {
    return false
  }
}

/** Serial, subject and expiry of the first certificate of a PEM chain, for the log. */
function certificateSummary(pem: Buffer): Record<string, string> {
  try {
    const c = new X509Certificate(pem)
    return { serialNumber: c.serialNumber, subject: c.subject.replaceAll('\n', ', '), validTo: c.validTo }
  } catch {
    return {}
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

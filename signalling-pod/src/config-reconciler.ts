/**
 * The pod-side config reconciler (STYLE §5.5, docs/signalling-config.md): takes a new `SbcConfig`
 * generation and applies it to the running process in ordered phases.
 *
 * 1. **validate**: `validateConfig` and `CompiledPipeline.from` — nothing is touched if either throws;
 * 2. **diff** the SIP interfaces ({@link planInterfaces}): unchanged ones keep their runtime (their
 *    sockets are never closed and reopened);
 * 3. **open** new and changed interfaces (a changed interface whose bind collides with the one it
 *    replaces is closed first: the only case where a listener goes away before its successor);
 * 4. **swap** interfaces, pipeline and config in one synchronous step: new out-of-dialog requests
 *    see the new routing, calls in progress keep their state (it lives in the DialogStore);
 * 5. **drain** the runtimes that left: closed once their transaction layer is empty, or after
 *    `drainMs`, in the background.
 *
 * An error in phase 3 rolls back: what was opened is closed, what was closed early is reopened
 * from the old config, and the old config keeps running. `apply` then throws.
 */
import type { InterfaceConfig, SbcConfig } from '../../lib/config/model.ts'
import { validateConfig } from '../../lib/config/validate.ts'
import type { Logger } from '../../lib/observability/logger.ts'
import { type InterfaceDelegate, SipInterfaceRuntime } from './b2bua/sip-interface-runtime.ts'
import { CompiledPipeline } from './pipeline/pipeline.ts'

/** What one generation does to the SIP interfaces, by name. */
export interface InterfacePlan {
  /** Identical configuration: the runtime stays. */
  keep: string[]
  /** New names. */
  open: string[]
  /** Changed: a new runtime replaces the old one. */
  replace: string[]
  /** Gone from the config. */
  remove: string[]
}

/** A socket an interface holds: protocol, address, port. */
interface Bind {
  protocol: 'udp' | 'tcp'
  address: string
  port: number
}

/** The sockets of an interface (TLS listens on TCP). Port 0 is ephemeral and collides with nothing. */
export function bindsOf(ic: InterfaceConfig): Bind[] {
  return ic.listeners
    .filter((l) => l.port !== 0)
    .map((l) => ({ protocol: l.transport === 'UDP' ? 'udp' : 'tcp', address: ic.bindAddress, port: l.port }))
}

const wildcard = (a: string) => a === '0.0.0.0' || a === '::'

/** Whether two sets of sockets cannot be bound at the same time. */
export function bindsCollide(a: readonly Bind[], b: readonly Bind[]): boolean {
  return a.some((x) =>
    b.some(
      (y) =>
        x.protocol === y.protocol &&
        x.port === y.port &&
        (x.address === y.address || wildcard(x.address) || wildcard(y.address)),
    ),
  )
}

/** The diff of the interfaces of two configs (pure). */
export function planInterfaces(
  current: readonly InterfaceConfig[],
  next: readonly InterfaceConfig[],
): InterfacePlan {
  const old = new Map(current.map((i) => [i.name, i]))
  const plan: InterfacePlan = { keep: [], open: [], replace: [], remove: [] }
  for (const ic of next) {
    const before = old.get(ic.name)
    if (before === undefined) plan.open.push(ic.name)
    else if (JSON.stringify(before) === JSON.stringify(ic)) plan.keep.push(ic.name)
    else plan.replace.push(ic.name)
  }
  const names = new Set(next.map((i) => i.name))
  plan.remove = current.filter((i) => !names.has(i.name)).map((i) => i.name)
  return plan
}

/** A config with nothing in it: what a process serves before its first generation. */
export function emptyConfig(): SbcConfig {
  return {
    schemaVersion: 1,
    generation: 0,
    namespace: '',
    controller: null,
    redis: { mode: 'memory', url: null, sentinel: null, password: null },
    nat: null,
    security: { maliciousSignatures: [], rateLimit: null, unclassified: 'Reject' },
    realms: [],
    interfaces: [],
    profiles: [],
    groups: [],
    routes: [],
  }
}

/** Options of a {@link ConfigReconciler}. */
export interface ConfigReconcilerOptions {
  /** The B2BUA's delegate, given to every interface runtime. */
  delegate: InterfaceDelegate
  logger: Logger
  /** Address put in Via when an interface binds all addresses (POD_IP). */
  podAddress: string
  /** Upper bound of the drain of a removed interface (default 32 s, Timer F/H/J: 64·T1). */
  drainMs?: number
  /** Opens an interface; default `SipInterfaceRuntime.start` (tests inject failures here). */
  openInterface?: (ic: InterfaceConfig) => Promise<SipInterfaceRuntime>
  /**
   * Called with the new pipeline in the swap, just before it takes effect (the proxy addresses
   * learned from DNS are carried over to it there, so no request sees it without them).
   */
  beforeSwap?: (pipeline: CompiledPipeline) => void
}

/** The result of {@link ConfigReconciler.apply}. */
export interface ApplyResult {
  generation: number
  plan: InterfacePlan
  /** Resolves when the interfaces that left are closed. */
  drained: Promise<void>
}

/**
 * Holds the running config, its compiled pipeline and its interface runtimes, and moves them to a
 * new generation (see the module comment). Calls to {@link apply} are serialised.
 */
export class ConfigReconciler {
  readonly #o: ConfigReconcilerOptions
  #config: SbcConfig = emptyConfig()
  #pipeline: CompiledPipeline = CompiledPipeline.from(emptyConfig())
  #interfaces: ReadonlyMap<string, SipInterfaceRuntime> = new Map()
  /** Runtimes that left the config and wait for their transactions to end. */
  readonly #draining = new Map<SipInterfaceRuntime, Promise<void>>()
  readonly #cancelDrain = new Set<SipInterfaceRuntime>()
  #applying: Promise<unknown> = Promise.resolve()
  #applied = false

  constructor(options: ConfigReconcilerOptions) {
    this.#o = options
  }

  /** The config in force. */
  get config(): SbcConfig {
    return this.#config
  }

  get pipeline(): CompiledPipeline {
    return this.#pipeline
  }

  get interfaces(): ReadonlyMap<string, SipInterfaceRuntime> {
    return this.#interfaces
  }

  /** Whether a generation has been applied. */
  get applied(): boolean {
    return this.#applied
  }

  /** Applies `next` (see the module comment); throws after rolling back. */
  apply(next: SbcConfig): Promise<ApplyResult> {
    const run = this.#applying.then(() => this.#apply(next))
    this.#applying = run.catch(() => undefined)
    return run
  }

  /**
   * Opens the named interfaces of the config in force again, through the same phases as a new
   * generation (they are "replace"d): an interface that could not start because its TLS Secret
   * was unusable starts once the Secret is fixed, without a new generation.
   */
  reopen(names: readonly string[]): Promise<ApplyResult> {
    const run = this.#applying.then(() => this.#apply(this.#config, new Set(names)))
    this.#applying = run.catch(() => undefined)
    return run
  }

  async #apply(input: SbcConfig, reopen?: ReadonlySet<string>): Promise<ApplyResult> {
    const log = this.#o.logger
    // Phase 1: validate. Nothing has been touched yet.
    const next = validateConfig(input)
    const pipeline = CompiledPipeline.from(next)
    // Phase 2: diff.
    const plan = planInterfaces(this.#config.interfaces, next.interfaces)
    if (reopen) {
      plan.replace.push(...plan.keep.filter((n) => reopen.has(n)))
      plan.keep = plan.keep.filter((n) => !reopen.has(n))
    }
    const nextByName = new Map(next.interfaces.map((i) => [i.name, i]))
    const toOpen = [...plan.open, ...plan.replace].map((n) => nextByName.get(n) as InterfaceConfig)
    const leaving = [...plan.replace, ...plan.remove].map(
      (n) => this.#interfaces.get(n) as SipInterfaceRuntime,
    )
    // Phase 3: open. Sockets that collide with a leaving or draining runtime are freed first.
    const newBinds = toOpen.flatMap(bindsOf)
    const closedEarly: SipInterfaceRuntime[] = []
    for (const rt of [...leaving, ...this.#draining.keys()]) {
      if (!bindsCollide(bindsOf(rt.config), newBinds)) continue
      log.warn(
        { sipInterface: rt.name, generation: next.generation },
        'Closing listeners before their successor (same address and port)',
      )
      if (this.#draining.has(rt)) {
        this.#cancelDrain.add(rt)
        await this.#draining.get(rt)
      } else {
        await rt.close()
        closedEarly.push(rt)
      }
    }
    const opened = new Map<string, SipInterfaceRuntime>()
    try {
      for (const ic of toOpen) opened.set(ic.name, await this.#open(ic))
    } catch (err) {
      await this.#rollback(opened, closedEarly)
      log.error(
        { err, generation: next.generation, running: this.#config.generation },
        'Rolled back SbcConfig generation',
      )
      throw err
    }
    // Phase 4: swap, synchronously.
    const interfaces = new Map<string, SipInterfaceRuntime>()
    for (const ic of next.interfaces)
      interfaces.set(ic.name, opened.get(ic.name) ?? (this.#interfaces.get(ic.name) as SipInterfaceRuntime))
    this.#interfaces = interfaces
    this.#o.beforeSwap?.(pipeline)
    this.#pipeline = pipeline
    this.#config = next
    this.#applied = true
    log.info(
      {
        generation: next.generation,
        interfaces: [...interfaces.values()].map((i) => ({
          name: i.name,
          listeners: i.endpoint.transports.map((t) => `${t.protocol}:${t.local.address}:${t.local.port}`),
        })),
        ...plan,
      },
      `Applied SbcConfig generation ${next.generation}`,
    )
    // Phase 5: drain what left, in the background.
    const drains = leaving.filter((rt) => !closedEarly.includes(rt)).map((rt) => this.#drain(rt))
    return { generation: next.generation, plan, drained: Promise.all(drains).then(() => undefined) }
  }

  #open(ic: InterfaceConfig): Promise<SipInterfaceRuntime> {
    return this.#o.openInterface
      ? this.#o.openInterface(ic)
      : SipInterfaceRuntime.start(
          ic,
          this.#o.delegate,
          this.#o.logger.child({ sipInterface: ic.name }),
          this.#o.podAddress,
        )
  }

  async #rollback(
    opened: Map<string, SipInterfaceRuntime>,
    closedEarly: SipInterfaceRuntime[],
  ): Promise<void> {
    await Promise.all([...opened.values()].map((rt) => rt.close()))
    if (closedEarly.length === 0) return
    const interfaces = new Map(this.#interfaces)
    for (const rt of closedEarly) {
      try {
        interfaces.set(rt.name, await this.#open(rt.config))
      } catch (err) {
        interfaces.delete(rt.name)
        this.#o.logger.error({ err, sipInterface: rt.name }, 'Could not reopen interface after rollback')
      }
    }
    this.#interfaces = interfaces
  }

  #drain(rt: SipInterfaceRuntime): Promise<void> {
    const until = Date.now() + (this.#o.drainMs ?? 32_000)
    const p = (async () => {
      while (
        rt.layer.serverCount + rt.layer.clientCount > 0 &&
        Date.now() < until &&
        !this.#cancelDrain.has(rt)
      )
        await new Promise((r) => setTimeout(r, 100))
      await rt.close()
      this.#draining.delete(rt)
      this.#cancelDrain.delete(rt)
      this.#o.logger.info({ sipInterface: rt.name }, 'Closed drained interface')
    })()
    this.#draining.set(rt, p)
    return p
  }

  /** Closes every runtime, draining ones included. */
  async close(): Promise<void> {
    await this.#applying
    for (const rt of this.#draining.keys()) this.#cancelDrain.add(rt)
    await Promise.all([...this.#draining.values(), ...[...this.#interfaces.values()].map((i) => i.close())])
    this.#interfaces = new Map()
  }
}

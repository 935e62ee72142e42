import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import { type Logger, nullLogger } from '../observability/logger.ts'
import { type Clock, systemClock } from './clock.ts'
import { KubeApiError } from './errors.ts'
import type { KubeClient, ObjectRef } from './kube-client.ts'

/** The fields of a coordination.k8s.io/v1 Lease we read and write (plain JSON, MicroTime strings). */
interface LeaseSpec {
  holderIdentity?: string
  leaseDurationSeconds?: number
  acquireTime?: string
  renewTime?: string
  leaseTransitions?: number
}
interface Lease {
  apiVersion: 'coordination.k8s.io/v1'
  kind: 'Lease'
  metadata: { name: string; namespace: string; resourceVersion?: string }
  spec?: LeaseSpec
}

/** Options of a {@link LeaderElector}; durations as client-go's defaults (15 s / 10 s / 2 s). */
export interface LeaderElectorOptions {
  client: KubeClient
  /** Namespace and name of the Lease (e.g. the operator's namespace and `kube-sbc-operator`). */
  namespace: string
  name: string
  /** Unique per process; default `<hostname>_<uuid>` (a pod name alone repeats across restarts). */
  identity?: string
  /** How long a lease holds without renewal before others may take it. Whole seconds in the API. */
  leaseDurationMs?: number
  /** A leader that cannot renew for this long steps down (must be < leaseDurationMs). */
  renewDeadlineMs?: number
  /** How often to try to acquire or renew. */
  retryPeriodMs?: number
  clock?: Clock
  logger?: Logger
  onStartedLeading?: () => void
  onStoppedLeading?: () => void
  /** Called when the observed holder changes (including to us); `''` when the lease is released. */
  onNewLeader?: (identity: string) => void
}

/**
 * Leader election on a Lease, following client-go's `leaderelection` package: the holder renews
 * `renewTime` every retry period; a candidate takes the lease when its record has not changed for
 * `leaseDurationSeconds` *as observed on the candidate's own clock* (so clock skew between
 * machines does not matter), or at once when the holder released it on shutdown. Writes are
 * optimistic (resourceVersion), so two candidates can never both win the same round.
 */
export class LeaderElector {
  readonly identity: string
  readonly #o: Required<Omit<LeaderElectorOptions, 'onStartedLeading' | 'onStoppedLeading' | 'onNewLeader'>> &
    LeaderElectorOptions
  readonly #clock: Clock
  readonly #logger: Logger
  #leading = false
  #leader = ''
  #observedRecord = ''
  #observedAt = 0
  #lastRenewAt = 0
  #stopped = true
  #loop: Promise<void> | undefined
  #wake: (() => void) | undefined

  constructor(options: LeaderElectorOptions) {
    const leaseDurationMs = options.leaseDurationMs ?? 15_000
    // Explicit `??` per field (not a spread over defaults): an option passed as `undefined` must
    // still get its default.
    this.#o = {
      ...options,
      identity: options.identity ?? `${hostname()}_${randomUUID()}`,
      leaseDurationMs,
      renewDeadlineMs: options.renewDeadlineMs ?? Math.floor((leaseDurationMs * 2) / 3),
      retryPeriodMs: options.retryPeriodMs ?? Math.max(1, Math.floor(leaseDurationMs / 7.5)),
      clock: options.clock ?? systemClock,
      logger: options.logger ?? nullLogger,
    }
    if (this.#o.renewDeadlineMs >= leaseDurationMs)
      throw new RangeError('renewDeadlineMs must be < leaseDurationMs')
    this.identity = this.#o.identity
    this.#clock = this.#o.clock
    this.#logger = this.#o.logger.child({
      lease: `${options.namespace}/${options.name}`,
      identity: this.identity,
    })
  }

  /** True while this process holds the lease. */
  get isLeader(): boolean {
    return this.#leading
  }

  /** The last observed holder (`''` if none). */
  get leader(): string {
    return this.#leader
  }

  /** Starts campaigning (idempotent). */
  start(): void {
    if (!this.#stopped) return
    this.#stopped = false
    this.#loop = this.#run()
  }

  /**
   * Stops campaigning. With `release` (default) a leader empties the holder so a successor takes
   * over at once instead of waiting out the lease; `release: false` behaves like a crash.
   */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    this.#wake?.()
    await this.#loop
    if (this.#leading && options.release !== false) {
      await this.#release().catch((err: unknown) => this.#logger.warn({ err }, 'could not release the lease'))
    }
    this.#setLeading(false)
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      let ok = false
      try {
        ok = await this.#tryAcquireOrRenew()
      } catch (err) {
        this.#logger.warn({ err }, 'lease acquire/renew failed')
      }
      if (this.#stopped) break
      if (ok) {
        this.#lastRenewAt = this.#clock.now()
        this.#setLeading(true)
      } else if (this.#leading && this.#clock.now() - this.#lastRenewAt >= this.#o.renewDeadlineMs) {
        this.#logger.warn({}, 'could not renew the lease within the renew deadline; stepping down')
        this.#setLeading(false)
      }
      await new Promise<void>((resolve) => {
        const cancel = this.#clock.setTimer(this.#o.retryPeriodMs, resolve)
        this.#wake = () => {
          cancel()
          resolve()
        }
      })
      this.#wake = undefined
    }
  }

  get #ref(): ObjectRef {
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      namespace: this.#o.namespace,
      name: this.#o.name,
    }
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const now = this.#clock.now()
    const leaseSeconds = Math.max(1, Math.ceil(this.#o.leaseDurationMs / 1000))
    const current = await this.#o.client.get<Lease & { metadata: { name: string } }>(this.#ref)
    if (!current) {
      const lease: Lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.#o.name, namespace: this.#o.namespace },
        spec: {
          holderIdentity: this.identity,
          leaseDurationSeconds: leaseSeconds,
          acquireTime: microTime(now),
          renewTime: microTime(now),
          leaseTransitions: 0,
        },
      }
      return this.#write(() => this.#o.client.create(lease), now)
    }
    const spec = current.spec ?? {}
    this.#observe(spec, now)
    const holder = spec.holderIdentity ?? ''
    const heldMs = (spec.leaseDurationSeconds ?? leaseSeconds) * 1000
    if (holder !== '' && holder !== this.identity && this.#observedAt + heldMs > now) return false
    const ours = holder === this.identity
    const next: Lease = {
      ...current,
      spec: {
        holderIdentity: this.identity,
        leaseDurationSeconds: leaseSeconds,
        acquireTime: ours && spec.acquireTime ? spec.acquireTime : microTime(now),
        renewTime: microTime(now),
        leaseTransitions: ours
          ? (spec.leaseTransitions ?? 0)
          : (spec.leaseTransitions ?? 0) + (holder === '' ? 0 : 1),
      },
    }
    return this.#write(() => this.#o.client.replace(next), now)
  }

  /** Runs a conditional write; a 409 means another candidate won this round. */
  async #write(write: () => Promise<Lease>, now: number): Promise<boolean> {
    try {
      const stored = await write()
      this.#observe(stored.spec ?? {}, now)
      return true
    } catch (err) {
      if (err instanceof KubeApiError && err.statusCode === 409) return false
      throw err
    }
  }

  #observe(spec: LeaseSpec, now: number): void {
    const record = JSON.stringify([
      spec.holderIdentity ?? '',
      spec.renewTime ?? '',
      spec.leaseTransitions ?? 0,
    ])
    if (record !== this.#observedRecord) {
      this.#observedRecord = record
      this.#observedAt = now
    }
    const holder = spec.holderIdentity ?? ''
    if (holder !== this.#leader) {
      this.#leader = holder
      this.#o.onNewLeader?.(holder)
    }
  }

  async #release(): Promise<void> {
    const current = await this.#o.client.get<Lease & { metadata: { name: string } }>(this.#ref)
    if (!current || current.spec?.holderIdentity !== this.identity) return
    const now = this.#clock.now()
    // As client-go: empty holder, 1 s duration, so candidates need not wait out the old lease.
    const { holderIdentity: _dropped, ...rest } = current.spec
    await this.#o.client.replace({
      ...current,
      spec: { ...rest, leaseDurationSeconds: 1, renewTime: microTime(now), acquireTime: microTime(now) },
    })
  }

  #setLeading(leading: boolean): void {
    if (leading === this.#leading) return
    this.#leading = leading
    this.#logger.info({ leading }, leading ? 'became leader' : 'stopped leading')
    if (leading) this.#o.onStartedLeading?.()
    else this.#o.onStoppedLeading?.()
  }
}

/** metav1.MicroTime wire format: RFC 3339 with exactly six fractional digits, UTC. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z')
}

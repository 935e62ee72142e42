/**
 * Media realms from a config snapshot, and how a new generation replaces them (docs/media-pod.md,
 * "Following the cluster"). Pure: no sockets; the NG handler binds what the allocators hand out.
 */
import type { RealmConfig, SbcConfig } from '../../lib/config/model.ts'
import { type PortAllocation, PortAllocator, type PortRange } from '../../lib/media/relay/port-allocator.ts'
import { MediaPodError, MediaPodErrorCode } from './errors.ts'
import type { RealmRuntime } from './ng-handler.ts'

/**
 * A port allocator that replaces another one for the same realm and bind address (a changed port
 * range): ports its predecessors still hold for running calls are never handed out, so a new call
 * cannot collide with an old call's socket where the ranges overlap. Predecessors with nothing in use
 * are forgotten.
 */
export class SuccessorPortAllocator extends PortAllocator {
  private predecessors: PortAllocator[]

  constructor(range: PortRange, predecessors: readonly PortAllocator[], quarantineMs: number) {
    super(range, { quarantineMs })
    this.predecessors = predecessors.filter((p) => overlaps(p.range, range))
  }

  override allocate(options: { mux?: boolean } = {}): PortAllocation {
    this.predecessors = this.predecessors.filter((p) => p.counts().inUse > 0)
    if (this.predecessors.length === 0) return super.allocate(options)
    const held: PortAllocation[] = []
    try {
      // Bounded: every round takes ports out of circulation; exhaustion throws.
      for (;;) {
        const a = super.allocate(options)
        const busy = [a.rtp, a.rtcp].some(
          (port) => port !== undefined && this.predecessors.some((p) => p.isAllocated(port)),
        )
        if (!busy) return a
        held.push(a)
      }
    } finally {
      // Back through the quarantine: by the time they come round again the old call may be gone.
      for (const a of held) this.release(a)
    }
  }

  /** The allocators this one still steers around (their calls are not over yet). */
  get pending(): readonly PortAllocator[] {
    return this.predecessors.filter((p) => p.counts().inUse > 0)
  }
}

function overlaps(a: PortRange, b: PortRange): boolean {
  return a.min <= b.max && b.min <= a.max
}

export interface RealmPlan {
  /** The realms new offers use, by name (the handler's map after the swap). */
  realms: Map<string, RealmRuntime>
  /** Realm for requests that name none: the first realm of the snapshot served. */
  defaultRealm: string | undefined
  added: string[]
  /** Same runtime object kept (nothing relevant changed). */
  kept: string[]
  /** New runtime; `ports` when a new allocator was opened (range or bind address changed). */
  changed: { name: string; ports: boolean }[]
  /** Gone from the snapshot: new offers refused; running calls keep their ports until they end. */
  removed: string[]
}

/**
 * Builds the realm set for `config` (optionally only `only`), reusing what `current` has: an
 * unchanged realm keeps its runtime (and allocator), a realm whose range or bind address changed
 * gets a new allocator (a {@link SuccessorPortAllocator} of the old one), a realm whose advertised
 * address or limit changed keeps its allocator. Throws (nothing applied) on an invalid range.
 */
export function planRealms(
  config: SbcConfig,
  current: ReadonlyMap<string, RealmRuntime>,
  o: { nodeAddress: string; quarantineMs: number; only?: readonly string[] },
): RealmPlan {
  const wanted = o.only ?? config.realms.map((r) => r.name)
  const plan: RealmPlan = {
    realms: new Map(),
    defaultRealm: wanted[0],
    added: [],
    kept: [],
    changed: [],
    removed: [],
  }
  for (const name of wanted) {
    const r = config.realms.find((x) => x.name === name)
    if (!r) throw new MediaPodError(MediaPodErrorCode.unknownRealm, `realm '${name}' is not in the config`)
    const old = current.get(name)
    const advertisedAddress = advertised(r, o.nodeAddress)
    if (!old) {
      plan.realms.set(
        name,
        runtime(r, advertisedAddress, new PortAllocator(r.portRange, { quarantineMs: o.quarantineMs })),
      )
      plan.added.push(name)
      continue
    }
    const sameRange =
      old.allocator.range.min === r.portRange.min && old.allocator.range.max === r.portRange.max
    const samePorts = sameRange && old.bindAddress === r.bindAddress
    if (samePorts && old.advertisedAddress === advertisedAddress && old.maxSessions === r.maxSessions) {
      plan.realms.set(name, old)
      plan.kept.push(name)
      continue
    }
    let allocator = old.allocator
    if (!samePorts) {
      const before =
        old.allocator instanceof SuccessorPortAllocator
          ? [old.allocator, ...old.allocator.pending]
          : [old.allocator]
      // Another bind address: the old sockets cannot collide with the new ones.
      allocator =
        old.bindAddress === r.bindAddress
          ? new SuccessorPortAllocator(r.portRange, before, o.quarantineMs)
          : new PortAllocator(r.portRange, { quarantineMs: o.quarantineMs })
    }
    plan.realms.set(name, runtime(r, advertisedAddress, allocator))
    plan.changed.push({ name, ports: !samePorts })
  }
  for (const name of current.keys()) if (!plan.realms.has(name)) plan.removed.push(name)
  return plan
}

function advertised(r: RealmConfig, nodeAddress: string): string {
  return r.advertisedAddress ?? (r.bindAddress === '0.0.0.0' ? nodeAddress : r.bindAddress)
}

function runtime(r: RealmConfig, advertisedAddress: string, allocator: PortAllocator): RealmRuntime {
  return {
    name: r.name,
    bindAddress: r.bindAddress,
    advertisedAddress,
    allocator,
    maxSessions: r.maxSessions,
  }
}

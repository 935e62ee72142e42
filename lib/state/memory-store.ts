import type { DialogState } from '../sip/dialog/dialog-state.ts'
import {
  checkId,
  checkName,
  checkPositive,
  checkSameIdentity,
  checkState,
  indexId,
  legIndexes,
} from './check-call.ts'
import type {
  AcquireResult,
  DialogStore,
  EndedCall,
  FoundCall,
  InviteKey,
  Lease,
  LeaseResult,
  LegKey,
  MediaPodInfo,
  ProxyHealth,
  RateResult,
  StoreHealth,
} from './dialog-store.ts'
import {
  CallCancelledError,
  CallExistsError,
  CallNotFoundError,
  InvalidStateError,
  VersionConflictError,
} from './errors.ts'
import { callTtlMs, defaultTtlPolicy, type TtlPolicy } from './ttl-policy.ts'

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /** Clock in ms since epoch; injected so tests move time instead of sleeping. */
  now?: () => number
  ttl?: TtlPolicy
}

interface Expiring<T> {
  value: T
  expiresAt: number
}

/**
 * The in-process {@link DialogStore} for standalone mode (`kube-sbc run` without `--redis`). Same
 * semantics as `RedisStore`, TTLs included (checked lazily against the injected clock). Values are
 * stored as JSON strings so a caller can never mutate stored state through a reference it holds.
 */
export class MemoryStore implements DialogStore {
  readonly #now: () => number
  readonly #ttl: TtlPolicy

  get ttl(): TtlPolicy {
    return this.#ttl
  }
  readonly #calls = new Map<string, Expiring<string>>()
  readonly #index = new Map<string, Expiring<string>>()
  /** Leg A index id → the INVITE a CANCEL named before the call was stored (`cancelUnstored`). */
  readonly #cancels = new Map<string, Expiring<InviteKey>>()
  readonly #holds = new Map<string, Map<string, number>>()
  readonly #buckets = new Map<string, Expiring<{ tokens: number; at: number }>>()
  readonly #pods = new Map<string, Expiring<string>>()
  readonly #leases = new Map<string, Lease>()
  readonly #proxies = new Map<string, ProxyHealth>()
  #writes = 0

  constructor(options: MemoryStoreOptions = {}) {
    this.#now = options.now ?? Date.now
    this.#ttl = options.ttl ?? defaultTtlPolicy
  }

  #live<T>(map: Map<string, Expiring<T>>, key: string): T | undefined {
    const e = map.get(key)
    if (!e) return undefined
    if (e.expiresAt <= this.#now()) {
      map.delete(key)
      return undefined
    }
    return e.value
  }

  async createCall(state: DialogState, invite?: InviteKey): Promise<DialogState> {
    checkState(state)
    if (state.version !== 0) throw new VersionConflictError(state.id, 0, state.version)
    if (this.#live(this.#calls, state.id) !== undefined) throw new CallExistsError(`call ${state.id} exists`)
    const idx = legIndexes(state)
    for (const i of idx)
      if (this.#live(this.#index, i) !== undefined)
        throw new CallExistsError(`call ${state.id}: leg already indexed`)
    const mark = invite && this.#live(this.#cancels, idx[0])
    if (mark && mark.branch === invite.branch && mark.cseq === invite.cseq) {
      this.#cancels.delete(idx[0])
      throw new CallCancelledError(state.id)
    }
    const stored = { ...state, version: 1 }
    this.#write(stored)
    this.#holdToTtl(stored)
    return structuredClone(stored)
  }

  /**
   * The live admission holds `state` lists expire with it (the call's TTL from now), as Redis's
   * HOLD_TO_TTL does: an expired or released hold is not taken back.
   */
  #holdToTtl(state: DialogState): void {
    const now = this.#now()
    const until = now + callTtlMs(state, this.#ttl)
    for (const g of state.admission.counters) {
      const holds = this.#holds.get(g)
      const held = holds?.get(state.id)
      if (holds && held !== undefined && held > now) holds.set(state.id, until)
    }
  }

  /**
   * Expired entries are dropped lazily when read; entries never read again (the indexes of a call
   * that expired, a group that went quiet) would pile up in a long-running standalone process. So
   * every 1,024 writes sweep everything: amortised O(1) per write, like Redis's active expiry.
   */
  #sweepSometimes(): void {
    if (++this.#writes % 1024 !== 0) return
    const now = this.#now()
    for (const map of [this.#calls, this.#index, this.#cancels, this.#buckets, this.#pods] as Array<
      Map<string, Expiring<unknown>>
    >)
      for (const [k, e] of map) if (e.expiresAt <= now) map.delete(k)
    for (const [group, holds] of this.#holds) {
      for (const [id, exp] of holds) if (exp <= now) holds.delete(id)
      if (holds.size === 0) this.#holds.delete(group)
    }
    for (const map of [this.#leases, this.#proxies] as Array<Map<string, { expiresAt: number }>>)
      for (const [k, e] of map) if (e.expiresAt <= now) map.delete(k)
  }

  /** Entries held, expired or not (for tests and a memory gauge). */
  entryCount(): number {
    let holds = 0
    for (const h of this.#holds.values()) holds += h.size
    return (
      this.#calls.size +
      this.#index.size +
      this.#cancels.size +
      this.#buckets.size +
      this.#pods.size +
      holds +
      this.#leases.size +
      this.#proxies.size
    )
  }

  /** Stores the call and its indexes for `ttlMs`, by default the TTL its state calls for. */
  #write(state: DialogState, ttlMs = callTtlMs(state, this.#ttl)): void {
    this.#sweepSometimes()
    const expiresAt = this.#now() + ttlMs
    this.#calls.set(state.id, { value: JSON.stringify(state), expiresAt })
    for (const i of legIndexes(state)) this.#index.set(i, { value: state.id, expiresAt })
  }

  async getCall(id: string): Promise<DialogState | undefined> {
    return this.#get(id)
  }

  async cancelUnstored(
    leg: { callId: string; remoteTag: string },
    invite: InviteKey,
    ttlMs: number,
  ): Promise<DialogState | undefined> {
    checkPositive('ttlMs', ttlMs)
    const key = indexId(leg.callId, 'r', leg.remoteTag)
    const call = this.#byIndex(key)
    if (call) return call
    this.#sweepSometimes()
    this.#cancels.set(key, {
      value: { branch: invite.branch, cseq: invite.cseq },
      expiresAt: this.#now() + ttlMs,
    })
    return undefined
  }

  async forgetUnstored(
    leg: { callId: string; remoteTag: string },
    invite: InviteKey,
  ): Promise<DialogState | undefined> {
    const key = indexId(leg.callId, 'r', leg.remoteTag)
    const call = this.#byIndex(key)
    if (call) return call
    const mark = this.#live(this.#cancels, key)
    if (mark && mark.branch === invite.branch && mark.cseq === invite.cseq) this.#cancels.delete(key)
    return undefined
  }

  /**
   * Synchronous read. Read-modify-write operations use it so that no `await` separates the read from
   * the write: that is what makes them atomic in one event loop, as Lua makes them in Redis.
   */
  #get(id: string): DialogState | undefined {
    checkId(id)
    const json = this.#live(this.#calls, id)
    return json === undefined ? undefined : (JSON.parse(json) as DialogState)
  }

  /** The live call a leg index key names, if any. */
  #byIndex(key: string): DialogState | undefined {
    const id = this.#live(this.#index, key)
    return id === undefined ? undefined : this.#get(id)
  }

  async callsOnMediaPod(pod: string): Promise<string[]> {
    const out: string[] = []
    for (const id of [...this.#calls.keys()]) if (this.#get(id)?.media?.pod === pod) out.push(id)
    return out
  }

  async findByLeg(key: LegKey): Promise<FoundCall | undefined> {
    return this.#findByLeg(key)
  }

  #findByLeg(key: LegKey): FoundCall | undefined {
    const candidates: Array<['l' | 'r', string | undefined]> = [
      ['l', key.localTag],
      ['r', key.remoteTag],
    ]
    for (const [role, tag] of candidates) {
      if (!tag) continue
      const call = this.#byIndex(indexId(key.callId, role, tag))
      if (!call) continue
      // The index says which leg: leg B is indexed by our tag, leg A by the caller's.
      return { leg: role === 'l' ? 'b' : 'a', call }
    }
    return undefined
  }

  async endByLeg(key: LegKey, cseq: number): Promise<EndedCall | undefined> {
    if (!Number.isInteger(cseq) || cseq < 0) throw new InvalidStateError(`bad CSeq number ${cseq}`)
    // No await from the look-up to the last delete: atomic, as the Lua script is in Redis.
    const found = this.#findByLeg(key)
    if (!found) return undefined
    const { call } = found
    if (cseq <= call[found.leg].remoteCSeq) return { ...found, ended: false }
    this.#remove(call)
    for (const g of call.admission.counters) this.#prunedHolds(g).delete(call.id)
    return { ...found, ended: true }
  }

  async restoreCall(state: DialogState): Promise<DialogState> {
    checkState(state)
    if (this.#live(this.#calls, state.id) !== undefined) throw new CallExistsError(`call ${state.id} exists`)
    for (const i of legIndexes(state))
      if (this.#live(this.#index, i) !== undefined)
        throw new CallExistsError(`call ${state.id}: leg already indexed`)
    const stored = { ...state, version: state.version + 1 }
    this.#write(stored, this.#ttl.terminatedMs)
    return structuredClone(stored)
  }

  async updateCall(state: DialogState): Promise<DialogState> {
    checkState(state)
    const current = this.#get(state.id)
    if (!current) throw new CallNotFoundError(state.id)
    if (current.version !== state.version)
      throw new VersionConflictError(state.id, state.version, current.version)
    checkSameIdentity(current, state)
    const stored = { ...state, version: state.version + 1 }
    this.#write(stored)
    this.#holdToTtl(stored)
    return structuredClone(stored)
  }

  async deleteCall(id: string): Promise<boolean> {
    const current = this.#get(id)
    if (!current) return false
    this.#remove(current)
    return true
  }

  /** Deletes the call and each of its leg indexes that still names it. */
  #remove(call: DialogState): void {
    this.#calls.delete(call.id)
    for (const i of legIndexes(call)) if (this.#index.get(i)?.value === call.id) this.#index.delete(i)
  }

  async refreshCall(id: string): Promise<boolean> {
    const current = this.#get(id)
    if (!current) return false
    this.#write(current)
    return true
  }

  #prunedHolds(group: string): Map<string, number> {
    let holds = this.#holds.get(group)
    if (!holds) {
      holds = new Map()
      this.#holds.set(group, holds)
    }
    const now = this.#now()
    for (const [id, exp] of holds) if (exp <= now) holds.delete(id)
    return holds
  }

  async tryAcquireCall(group: string, callId: string, limit: number, holdMs: number): Promise<AcquireResult> {
    checkName('group', group)
    checkId(callId)
    checkPositive('holdMs', holdMs)
    this.#sweepSometimes()
    const holds = this.#prunedHolds(group)
    if (holds.has(callId) || holds.size < limit) {
      holds.set(callId, this.#now() + holdMs)
      return { granted: true, active: holds.size }
    }
    return { granted: false, active: holds.size }
  }

  async releaseCall(group: string, callId: string): Promise<boolean> {
    checkName('group', group)
    return this.#prunedHolds(group).delete(callId)
  }

  async activeCalls(group: string): Promise<number> {
    checkName('group', group)
    return this.#prunedHolds(group).size
  }

  async tryRate(group: string, ratePerSec: number, burst: number): Promise<RateResult> {
    checkName('group', group)
    checkPositive('ratePerSec', ratePerSec)
    checkPositive('burst', burst)
    this.#sweepSometimes()
    const now = this.#now()
    const b = this.#live(this.#buckets, group) ?? { tokens: burst, at: now }
    const r = takeToken(b.tokens, b.at, now, ratePerSec, burst)
    this.#buckets.set(group, {
      value: { tokens: r.tokens, at: now },
      expiresAt: now + bucketTtlMs(ratePerSec, burst),
    })
    return { allowed: r.allowed, retryAfterMs: r.retryAfterMs }
  }

  async registerMediaPod(pod: MediaPodInfo, ttlMs: number): Promise<void> {
    checkName('media pod', pod.id)
    checkPositive('ttlMs', ttlMs)
    this.#sweepSometimes()
    this.#pods.set(pod.id, { value: JSON.stringify(pod), expiresAt: this.#now() + ttlMs })
  }

  async unregisterMediaPod(id: string): Promise<void> {
    this.#pods.delete(id)
  }

  async listMediaPods(): Promise<MediaPodInfo[]> {
    const out: MediaPodInfo[] = []
    for (const id of [...this.#pods.keys()].sort()) {
      const json = this.#live(this.#pods, id)
      if (json !== undefined) out.push(JSON.parse(json) as MediaPodInfo)
    }
    return out
  }

  async pickMediaPod(realm: string): Promise<MediaPodInfo | undefined> {
    return pickByFreeCapacity(await this.listMediaPods(), realm)
  }

  #liveLease(name: string): Lease | undefined {
    const l = this.#leases.get(name)
    if (l && l.expiresAt <= this.#now()) {
      this.#leases.delete(name)
      return undefined
    }
    return l
  }

  async acquireLease(name: string, owner: string, ttlMs: number): Promise<LeaseResult> {
    checkName('lease', name)
    checkName('owner', owner)
    checkPositive('ttlMs', ttlMs)
    const held = this.#liveLease(name)
    if (held && held.owner !== owner) return { acquired: false, lease: { ...held } }
    const lease = { name, owner, expiresAt: this.#now() + ttlMs }
    this.#leases.set(name, lease)
    return { acquired: true, lease: { ...lease } }
  }

  async renewLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    checkPositive('ttlMs', ttlMs)
    const held = this.#liveLease(name)
    if (!held || held.owner !== owner) return false
    held.expiresAt = this.#now() + ttlMs
    return true
  }

  async releaseLease(name: string, owner: string): Promise<boolean> {
    const held = this.#liveLease(name)
    if (!held || held.owner !== owner) return false
    this.#leases.delete(name)
    return true
  }

  async getLease(name: string): Promise<Lease | undefined> {
    const l = this.#liveLease(name)
    return l ? { ...l } : undefined
  }

  async setProxyHealth(address: string, up: boolean, ttlMs: number): Promise<void> {
    checkName('proxy address', address)
    checkPositive('ttlMs', ttlMs)
    this.#sweepSometimes()
    this.#proxies.set(address, { address, up, expiresAt: this.#now() + ttlMs })
  }

  async listProxyHealth(): Promise<ProxyHealth[]> {
    const now = this.#now()
    const out: ProxyHealth[] = []
    for (const address of [...this.#proxies.keys()].sort()) {
      const p = this.#proxies.get(address)!
      if (p.expiresAt <= now) this.#proxies.delete(address)
      else out.push({ ...p })
    }
    return out
  }

  health(): StoreHealth {
    return 'ready'
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {}
}

/**
 * One token-bucket step, shared by both stores' semantics (the Redis Lua script mirrors it):
 * refill by elapsed time, cap at `burst`, take one token if there is one.
 */
export function takeToken(
  tokens: number,
  at: number,
  now: number,
  ratePerSec: number,
  burst: number,
): { allowed: boolean; tokens: number; retryAfterMs: number } {
  const filled = Math.min(burst, tokens + (Math.max(0, now - at) * ratePerSec) / 1000)
  if (filled >= 1) return { allowed: true, tokens: filled - 1, retryAfterMs: 0 }
  return { allowed: false, tokens: filled, retryAfterMs: Math.ceil(((1 - filled) * 1000) / ratePerSec) }
}

/** A bucket left alone refills completely in burst/rate seconds; after that it can be forgotten. */
export function bucketTtlMs(ratePerSec: number, burst: number): number {
  return Math.ceil((burst / ratePerSec) * 1000) + 1000
}

/** The pod serving `realm` with most free capacity; ties broken by lowest id. */
export function pickByFreeCapacity(pods: readonly MediaPodInfo[], realm: string): MediaPodInfo | undefined {
  let best: MediaPodInfo | undefined
  for (const p of pods) {
    if (!p.realms.includes(realm) || p.capacity - p.active <= 0) continue
    if (
      !best ||
      p.capacity - p.active > best.capacity - best.active ||
      (p.capacity - p.active === best.capacity - best.active && p.id < best.id)
    )
      best = p
  }
  return best
}

import type { DialogState, LegName } from '../sip/dialog/dialog-state.ts'
import type { TtlPolicy } from './ttl-policy.ts'

/**
 * How an incoming message names its dialog. For a received request the remote tag is the From tag
 * and the local tag the To tag; for a received response it is the other way round. Either tag may be
 * missing (an initial request or a CANCEL has no To tag).
 */
export interface LegKey {
  callId: string
  localTag?: string | undefined
  remoteTag?: string | undefined
}

/** A call found by one of its legs. */
export interface FoundCall {
  /** Which leg the message belongs to. */
  leg: LegName
  call: DialogState
}

/** Outcome of {@link DialogStore.endByLeg}: the call as it was stored. */
export interface EndedCall extends FoundCall {
  /**
   * True: the call was removed. False: the BYE's CSeq was not above the leg's `remoteCSeq` (RFC 3261
   * §12.2.2, the BYE gets 500) and nothing changed.
   */
  ended: boolean
}

/**
 * The INVITE server transaction a CANCEL names (RFC 3261 §9.2 matches it by the top Via branch;
 * §9.1 makes the CSeq number equal): what {@link DialogStore.cancelUnstored} records and
 * {@link DialogStore.createCall} checks.
 */
export interface InviteKey {
  branch: string
  cseq: number
}

/** Outcome of {@link DialogStore.tryAcquireCall}. */
export interface AcquireResult {
  granted: boolean
  /** Calls held in the group after this attempt. */
  active: number
}

/** Outcome of {@link DialogStore.tryRate}. */
export interface RateResult {
  allowed: boolean
  /** When denied, how long until a token is available (for Retry-After); 0 when allowed. */
  retryAfterMs: number
}

/** A media pod as it registers itself. */
export interface MediaPodInfo {
  id: string
  /** Address signalling sends NG commands to (host:port). */
  address: string
  /** Media realms the pod serves. */
  realms: string[]
  /** Maximum concurrent sessions. */
  capacity: number
  /** Sessions in use at the last heartbeat. */
  active: number
}

/** An ownership lease (e.g. who registers an IP group upstream). */
export interface Lease {
  name: string
  owner: string
  /** Expiry, ms since epoch (store clock). */
  expiresAt: number
}

/** Outcome of {@link DialogStore.acquireLease}. */
export interface LeaseResult {
  acquired: boolean
  /** The current holder (the caller when acquired). */
  lease: Lease
}

/** Health of one proxy address, shared between pods. */
export interface ProxyHealth {
  address: string
  up: boolean
  /** Expiry of this verdict, ms since epoch (store clock). */
  expiresAt: number
}

/** Readiness of the store: `ready` when the last contact with the backend succeeded. */
export type StoreHealth = 'ready' | 'unavailable'

/**
 * Everything a stateless B2BUA keeps outside its process: dialogs, admission counters, rate limits,
 * the media-pod registry, leases and proxy health. Implementations: `MemoryStore` (standalone) and
 * `RedisStore`; both pass `dialog-store.contract.ts`. Key schema and TTLs: docs/state.md.
 *
 * Every operation may reject with `StateUnavailableError` (`SBC_ERR_STATE_UNAVAILABLE`) when the
 * backend cannot be reached; never hangs.
 */
export interface DialogStore {
  /**
   * How long this store keeps a call after each write (`callTtlMs`): what a holder of an early call
   * reads to keep it stored while it rings.
   */
  readonly ttl: TtlPolicy
  /**
   * Stores a new call and indexes both legs, atomically. `state.version` must be 0; the stored (and
   * returned) state has version 1. Rejects with `CallExistsError` if the id or a leg index exists.
   * With `invite` (the caller's INVITE), rejects with `CallCancelledError` instead of storing
   * anything when {@link cancelUnstored} recorded a CANCEL of that INVITE, and consumes the record.
   */
  createCall(state: DialogState, invite?: InviteKey): Promise<DialogState>
  /**
   * A CANCEL for leg A (the caller's Call-ID and From tag) received by a process that holds no
   * INVITE transaction for it. Atomically: the call when leg A is stored; otherwise records that the
   * INVITE `invite` was cancelled, for `ttlMs`, and resolves undefined — a `createCall` of that leg
   * with the same `invite` then refuses. Together the two make the CANCEL/createCall race one way or
   * the other, never lost (docs/b2bua.md, "Multi-process").
   */
  cancelUnstored(
    leg: { callId: string; remoteTag: string },
    invite: InviteKey,
    ttlMs: number,
  ): Promise<DialogState | undefined>
  /**
   * An INVITE refused before it was stored (admission, no target, a CANCEL handled while it was
   * routed): the call when leg A (the caller's Call-ID and From tag) is stored — the INVITE was a
   * copy of one another process made a call of — else deletes the mark {@link cancelUnstored}
   * recorded for `invite`, which no `createCall` will consume now, and resolves undefined. One
   * round trip: the look-up of leg A those refusals make anyway (docs/b2bua.md, "Multi-process").
   */
  forgetUnstored(
    leg: { callId: string; remoteTag: string },
    invite: InviteKey,
  ): Promise<DialogState | undefined>
  /** The call with this id, or undefined. */
  getCall(id: string): Promise<DialogState | undefined>
  /** Finds a call from an in-dialog message's Call-ID and tags; undefined if none. */
  findByLeg(key: LegKey): Promise<FoundCall | undefined>
  /**
   * A BYE received (RFC 3261 §15): finds the call as {@link findByLeg} does and, when `cseq` is above
   * the matched leg's `remoteCSeq`, atomically deletes it with its leg indexes and releases its
   * admission holds in the groups `admission.counters` lists — the BYE's one round trip. Resolves the
   * state as it was stored, `ended: false` (nothing changed) for a CSeq that is not above, undefined
   * when there is no call. A later update of the call fails with `CallNotFoundError`: nothing
   * written after the end brings it back, except {@link restoreCall}. A rejection leaves the call
   * stored (a store whose round trip can outlive its deadline puts back, with `restoreCall`, a call
   * its late script ended): the BYE is answered 503 and may come again.
   */
  endByLeg(key: LegKey, cseq: number): Promise<EndedCall | undefined>
  /**
   * Stores back a call {@link endByLeg} removed, when its BYE was challenged (401/407) and the
   * caller will send it again with credentials: `state` with its leg indexes, at version + 1 (so a
   * holder of an older version cannot overwrite it), for the terminated call's TTL (64·T1): the
   * session ended with the BYE (RFC 3261 §15), the record only waits for that BYE, and a caller
   * that never sends it leaves nothing for long. No admission hold is taken: the holds were rightly
   * released. Rejects with `CallExistsError` if the id or a leg is taken meanwhile.
   */
  restoreCall(state: DialogState): Promise<DialogState>
  /**
   * Compare-and-set: writes `state` if the stored version equals `state.version`, stores and returns
   * it with version + 1, and re-derives the TTL. Rejects with `VersionConflictError` or
   * `CallNotFoundError`; `InvalidStateError` if a leg's indexed identity changed.
   */
  updateCall(state: DialogState): Promise<DialogState>
  /**
   * Deletes the call and its leg indexes; true if it existed. `known`, a state of this call the
   * caller already holds, saves the store reading it back to find the index keys (a call's leg
   * identity never changes, so any version names the same keys).
   */
  deleteCall(id: string, known?: DialogState): Promise<boolean>
  /** Re-applies the call's TTL (derived from its state) to all its keys; false if it does not exist. */
  refreshCall(id: string): Promise<boolean>
  /**
   * The ids of the stored calls whose media is anchored on media pod `pod` (`DialogState.media.pod`),
   * any state. A scan of every call, not an index: it runs only when a media pod is lost, and an
   * index would cost every call a write (docs/b2bua.md, "A media pod disappears").
   */
  callsOnMediaPod(pod: string): Promise<string[]>

  /**
   * Takes one of `limit` slots of `group` for `callId`, atomically across all pods. Holding again
   * refreshes the hold. The hold expires after `holdMs` unless refreshed, so a dead pod's calls
   * free their slots by themselves.
   */
  tryAcquireCall(group: string, callId: string, limit: number, holdMs: number): Promise<AcquireResult>
  /** Releases the slot of `callId` in `group`; true if it was held. */
  releaseCall(group: string, callId: string): Promise<boolean>
  /** Live holds in `group`. */
  activeCalls(group: string): Promise<number>

  /** Token bucket per group: `ratePerSec` refill, `burst` capacity. Takes one token if available. */
  tryRate(group: string, ratePerSec: number, burst: number): Promise<RateResult>

  /** Registers or heartbeats a media pod; it disappears `ttlMs` after its last heartbeat. */
  registerMediaPod(pod: MediaPodInfo, ttlMs: number): Promise<void>
  /** Removes a media pod (clean shutdown). */
  unregisterMediaPod(id: string): Promise<void>
  /** Live media pods, sorted by id. */
  listMediaPods(): Promise<MediaPodInfo[]>
  /** The live pod serving `realm` with the most free capacity (ties: lowest id), or undefined. */
  pickMediaPod(realm: string): Promise<MediaPodInfo | undefined>

  /** Takes the lease if free, expired, or already ours (then renews it). */
  acquireLease(name: string, owner: string, ttlMs: number): Promise<LeaseResult>
  /** Extends the lease if `owner` holds it; false otherwise. */
  renewLease(name: string, owner: string, ttlMs: number): Promise<boolean>
  /** Gives the lease up if `owner` holds it; false otherwise. */
  releaseLease(name: string, owner: string): Promise<boolean>
  /** The current holder, or undefined. */
  getLease(name: string): Promise<Lease | undefined>

  /** Records a proxy address as up or down; the verdict is forgotten after `ttlMs`. */
  setProxyHealth(address: string, up: boolean, ttlMs: number): Promise<void>
  /** All live verdicts, sorted by address. */
  listProxyHealth(): Promise<ProxyHealth[]>

  /** Readiness signal for /readyz; cheap, no I/O. */
  health(): StoreHealth
  /** Round trip to the backend; rejects with `StateUnavailableError` when unreachable. */
  ping(): Promise<void>
  /** Releases connections and timers. */
  close(): Promise<void>
}

import { createHash } from 'node:crypto'
import { Command, Redis, type RedisOptions, ReplyError } from 'ioredis'
import { type Logger, nullLogger } from '../observability/logger.ts'
import type { DialogState } from '../sip/dialog/dialog-state.ts'
import { checkId, checkName, checkPositive, checkState, parseStored } from './check-call.ts'
import { encodeDialogState } from './compact-codec.ts'
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
  CorruptStateError,
  InvalidStateError,
  StateUnavailableError,
  VersionConflictError,
} from './errors.ts'
import { bucketTtlMs, pickByFreeCapacity } from './memory-store.ts'
import { RedisKeys } from './redis-keys.ts'
import { type ScriptName, scripts } from './redis-scripts.ts'
import { redisOptionsFromUrl } from './redis-url.ts'
import { EvalshaCommand } from './script-command.ts'
import { callTtlMs, defaultTtlPolicy, type TtlPolicy } from './ttl-policy.ts'

/** One Redis round trip, reported to {@link RedisStoreOptions.observer}. */
export interface CommandObservation {
  /** Script or command name (`sbcCreateCall`, `hget`, `mget`, `ping`). */
  command: string
  durationMs: number
  ok: boolean
  /** Error code when not ok (`SBC_ERR_STATE_UNAVAILABLE`, ...). */
  error?: string
}

/** The value of a cancel mark: what identifies the INVITE (docs/state.md). */
export function cancelMark(invite: InviteKey): string {
  return `${invite.cseq} ${invite.branch}`
}

/**
 * Error replies that say Redis cannot serve now, not that the data is bad: a replica refusing writes
 * (a master demoted by a Sentinel failover), a dataset still loading, a script running too long, no
 * master or replicas. They are `StateUnavailableError` (503 with Retry-After), like a refused
 * connection, rather than `CorruptStateError` (500).
 */
const UNAVAILABLE_REPLY = /^(READONLY|LOADING|BUSY|MASTERDOWN|NOREPLICAS|TRYAGAIN|CLUSTERDOWN)\b/

/** Options of {@link RedisStore}. Give `url` or `redis` (ioredis options: host/port or sentinels/name). */
export interface RedisStoreOptions {
  /** `redis://`, `rediss://` or `redis-sentinel://` URL (see `redisOptionsFromUrl`). */
  url?: string
  /** ioredis options, merged over those from `url`; the fail-fast settings below win. */
  redis?: RedisOptions
  /** Key prefix; default `sbc`. */
  keyPrefix?: string
  ttl?: TtlPolicy
  /**
   * A command without a reply after this long fails with `SBC_ERR_STATE_UNAVAILABLE`. Default 80 ms:
   * issue 4 wants a new INVITE refused within 100 ms when Redis is in trouble, and timers fire late on
   * a loaded node (measured: a 100 ms timeout rejected after up to 122 ms, docs/benchmarks/state.md).
   * Enforced by {@link RedisStore.bounded} like `withDeadline` (a reply already read after an
   * event-loop stall still counts); ioredis's own `commandTimeout` is off.
   */
  commandTimeoutMs?: number
  /** Called after every round trip; metrics hook (no prom-client in lib/state). */
  observer?: (o: CommandObservation) => void
  /** Called when {@link RedisStore.health} changes. */
  onHealth?: (h: StoreHealth) => void
  logger?: Logger
}

/** SHA1 of each script's text, as EVALSHA names it. */
const SHAS = Object.fromEntries(
  Object.entries(scripts).map(([name, s]) => [name, createHash('sha1').update(s.lua).digest('hex')]),
) as Record<ScriptName, string>

/** Replies as strings, as ioredis's named commands return them. */
const UTF8 = { replyEncoding: 'utf8' } as const

/** A command of {@link RedisStore.bounded} without its verdict yet, in the order it was sent. */
interface InFlight {
  /** `performance.now()` after which it is refused. */
  readonly deadline: number
  readonly command: string
  readonly reject: (err: Error) => void
  /** Settled: by its reply, or by the deadline. */
  done: boolean
}

/**
 * The {@link DialogStore} on Redis (standalone or Sentinel). Atomic changes are Lua scripts
 * (`redis-scripts.ts`); key schema and TTLs in docs/state.md.
 *
 * Failure behaviour (issue 4, Deliver 5): the offline queue is off, so while Redis is unreachable
 * every call rejects at once with `StateUnavailableError`; a command in flight when Redis stalls is
 * rejected after `commandTimeoutMs` and not retried (a retried INVITE write would be worse than a
 * 503); the client keeps reconnecting forever with capped backoff, so the same instance works again
 * when Redis returns.
 */
export class RedisStore implements DialogStore {
  /**
   * The connection. A command sent on it directly must go through {@link RedisStore.bounded}: the
   * connection has no timeout of its own (a stalled Redis would leave the command pending).
   */
  readonly client: Redis
  readonly keys: RedisKeys
  /** The store's command deadline ({@link RedisStoreOptions.commandTimeoutMs}). */
  readonly commandTimeoutMs: number
  readonly #ttl: TtlPolicy

  get ttl(): TtlPolicy {
    return this.#ttl
  }
  readonly #observer: ((o: CommandObservation) => void) | undefined
  readonly #onHealth: ((h: StoreHealth) => void) | undefined
  readonly #log: Logger
  #health: StoreHealth = 'unavailable'
  /** The call key around an id: `keys.call(id)` is `parts[0] + id + parts[1]` (sbcFindByLeg). */
  readonly #callKeyParts: [string, string]
  /**
   * sbcEndByLeg's key parts: the leg index around a Call-ID and tag (head, middle before a remote
   * tag, middle before a local tag) and the holds key around a group name.
   */
  readonly #endKeyParts: string[]
  /** Commands of {@link bounded} in the order they were sent, from `#head` on (see `bounded`). */
  #inFlight: InFlight[] = []
  #head = 0
  /** Armed while a command may still be in flight; fires at the deadline of the oldest one. */
  #deadlineTimer: ReturnType<typeof setTimeout> | undefined

  constructor(options: RedisStoreOptions) {
    const fromUrl = options.url ? redisOptionsFromUrl(options.url) : {}
    this.keys = new RedisKeys(options.keyPrefix)
    // '@' stands for the id, Call-ID or group: the last '@' of each template (the prefix may have one).
    const around = (t: string): [string, string] => [
      t.slice(0, t.lastIndexOf('@')),
      t.slice(t.lastIndexOf('@') + 1),
    ]
    this.#callKeyParts = around(this.keys.call('@'))
    const [legHead, remoteMid] = around(this.keys.leg('@', 'r', ''))
    this.#endKeyParts = [
      legHead,
      remoteMid,
      around(this.keys.leg('@', 'l', ''))[1],
      ...around(this.keys.holds('@')),
    ]
    this.#ttl = options.ttl ?? defaultTtlPolicy
    this.#observer = options.observer
    this.#onHealth = options.onHealth
    this.#log = (options.logger ?? nullLogger).child({ module: 'redis-store' })
    const retry = (times: number) => Math.min(50 * times, 1000)
    this.commandTimeoutMs = options.commandTimeoutMs ?? 80
    this.client = new Redis({
      ...fromUrl,
      ...options.redis,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      // No commandTimeout: every command on this connection is bounded by bounded() (a timer per
      // command in ioredis as well was measurable CPU per call, and a command ioredis rejects loses
      // its reply even when that reply was already read).
      commandTimeout: undefined,
      connectTimeout: options.redis?.connectTimeout ?? 2000,
      retryStrategy: retry,
      sentinelRetryStrategy: retry,
      lazyConnect: false,
      // Not auto-pipelining: ioredis runs one auto-pipeline at a time, so a command issued while a
      // batch is in flight to a stalled Redis waits for that batch's timeout before its own starts,
      // and the "503 within 100 ms" of issue 4 would no longer hold. Round trips are cut instead
      // (sbcFindByLeg, deleteCall with a held state, releases issued together).
      enableAutoPipelining: false,
    })
    this.client.on('ready', () => this.#setHealth('ready'))
    this.client.on('close', () => this.#setHealth('unavailable'))
    // Without a listener ioredis errors would be thrown as unhandled 'error' events.
    this.client.on('error', (err: Error) => this.#log.debug({ err: err.message }, 'Redis connection error'))
  }

  /** A store from a URL with the other options defaulted. */
  static fromUrl(url: string, options: Omit<RedisStoreOptions, 'url'> = {}): RedisStore {
    return new RedisStore({ ...options, url })
  }

  #setHealth(h: StoreHealth): void {
    if (h === this.#health) return
    this.#health = h
    this.#log.info({ health: h }, h === 'ready' ? 'Connected to Redis' : 'Lost Redis')
    this.#onHealth?.(h)
  }

  /**
   * `reply` (a command sent on {@link client}) within the store's command deadline, else rejected with
   * `StateUnavailableError` (as `withDeadline` does). Every command on the connection must go through
   * this: the connection itself has no timeout.
   */
  bounded<T>(command: string, reply: Promise<T>): Promise<T> {
    return this.#bounded(command, reply, undefined, undefined)
  }

  /**
   * {@link bounded}; with `start` (when the round trip began) it is also {@link #run}'s verdict:
   * reported to the observer and failures typed, in the same promise, so a round trip costs one
   * promise and one reaction here rather than an async wrapper's as well. `retry` may answer a
   * failed reply with a second command, once, within the same deadline (EVAL after NOSCRIPT);
   * undefined to let the failure stand.
   */
  #bounded<T>(
    command: string,
    reply: Promise<T>,
    start: number | undefined,
    retry: ((err: unknown) => Promise<T> | undefined) | undefined,
  ): Promise<T> {
    // The semantics of withDeadline (a timer, then the verdict after one poll phase, so a reply
    // already read wins), with one timer for the whole connection instead of one per command: all
    // commands share one timeout, so the oldest one in flight always expires first. That saves the
    // timer list work of a setTimeout/clearTimeout pair per round trip.
    return new Promise<T>((resolve, reject) => {
      const fail = start === undefined ? reject : (err: unknown) => reject(this.#failed(command, start, err))
      const entry: InFlight = {
        deadline: performance.now() + this.commandTimeoutMs,
        command,
        reject: fail,
        done: false,
      }
      this.#inFlight.push(entry)
      if (this.#deadlineTimer === undefined) this.#armDeadline(this.commandTimeoutMs)
      const answered = (v: T) => {
        if (entry.done) return
        entry.done = true
        if (start !== undefined) {
          // As the async wrapper did: an observer that throws fails the round trip, typed.
          try {
            this.#observer?.({ command, durationMs: performance.now() - start, ok: true })
          } catch (err) {
            reject(this.#failed(command, start, err))
            return
          }
        }
        resolve(v)
      }
      const failed = (err: unknown) => {
        if (entry.done) return
        entry.done = true
        fail(err)
      }
      reply.then(
        answered,
        retry === undefined
          ? failed
          : (err: unknown) => {
              if (entry.done) return
              let again: Promise<T> | undefined
              try {
                again = retry(err)
              } catch (thrown) {
                failed(thrown)
                return
              }
              if (again === undefined) failed(err)
              else again.then(answered, failed)
            },
      )
    })
  }

  #armDeadline(ms: number): void {
    this.#deadlineTimer = setTimeout(() => {
      // Only commands already late when the timer fired are judged, after this turn's poll phase.
      const due = performance.now()
      setImmediate(() => this.#expire(due))
    }, ms)
  }

  /** Refuses the commands whose deadline is at or before `due` and still unanswered; re-arms. */
  #expire(due: number): void {
    this.#deadlineTimer = undefined
    const q = this.#inFlight
    let h = this.#head
    for (; h < q.length; h++) {
      const e = q[h] as InFlight
      if (e.done) continue
      if (e.deadline > due) break
      e.done = true
      e.reject(
        new StateUnavailableError(
          `state store unavailable (${e.command}): no reply within ${this.commandTimeoutMs} ms`,
        ),
      )
    }
    // Settled entries behind the first open one are dropped once the queue drains past them.
    if (h === q.length) {
      this.#inFlight = []
      this.#head = 0
      return
    }
    this.#head = h
    if (h > 1024) {
      this.#inFlight = q.slice(h)
      this.#head = 0
    }
    const first = this.#inFlight[this.#head] as InFlight
    this.#armDeadline(Math.max(0, first.deadline - performance.now()))
  }

  /** Runs one round trip: bounds it, times it, reports it, and turns failures into typed errors. */
  #run<T>(
    command: string,
    fn: () => Promise<T>,
    retry?: (err: unknown) => Promise<T> | undefined,
  ): Promise<T> {
    const start = performance.now()
    let reply: Promise<T>
    try {
      reply = fn()
    } catch (err) {
      return Promise.reject(this.#failed(command, start, err))
    }
    return this.#bounded(command, reply, start, retry)
  }

  /** A failed round trip as the store's typed error, reported to the observer. */
  #failed(command: string, start: number, err: unknown): Error {
    const typed =
      err instanceof ReplyError && !UNAVAILABLE_REPLY.test((err as Error).message)
        ? new CorruptStateError(`Redis refused ${command}: ${(err as Error).message}`)
        : err instanceof StateUnavailableError
          ? err
          : new StateUnavailableError(`Redis unavailable (${command}): ${(err as Error).message}`, {
              cause: err,
            })
    try {
      this.#observer?.({ command, durationMs: performance.now() - start, ok: false, error: typed.code })
    } catch {
      // The round trip failed already and its typed error is what the caller hears. A throw here
      // would escape from a reply handler or the deadline's timer (a crash) and leave the round
      // trip's promise unsettled.
    }
    return typed
  }

  /**
   * EVALSHA as one ioredis `Command` whose frame is written straight into a Buffer
   * (`EvalshaCommand`), and EVAL with the script's text when Redis does not know it (a restarted or
   * new server: NOSCRIPT), in the same round trip's deadline. ioredis's `defineCommand` does the same
   * with a command subclass, a wrapped reject and two more promises per call; sending the command
   * directly saves ~7 µs of CPU per round trip (docs/benchmarks/signalling.md). The NOSCRIPT check
   * is the round trip's retry rather than a `.catch` on every reply: one promise less per script call.
   */
  #script(name: ScriptName, ...args: Array<string | number>): Promise<unknown> {
    return this.#run(
      name,
      () => this.#sendScript(name, args),
      (err) => this.#scriptAgain(name, args, err),
    )
  }

  /** The EVALSHA of one script call. */
  #sendScript(name: ScriptName, args: Array<string | number>): Promise<unknown> {
    return this.client.sendCommand(
      new EvalshaCommand(SHAS[name], scripts[name].numberOfKeys, args),
    ) as Promise<unknown>
  }

  /** The EVAL with the script's text when the EVALSHA's reply was NOSCRIPT; undefined otherwise. */
  #scriptAgain(name: ScriptName, args: Array<string | number>, err: unknown): Promise<unknown> | undefined {
    if (!(err instanceof ReplyError) || !(err as Error).message.startsWith('NOSCRIPT')) return undefined
    const s = scripts[name]
    return this.client.sendCommand(
      new Command('eval', [s.lua, s.numberOfKeys, ...args], UTF8),
    ) as Promise<unknown>
  }

  #callKeys(s: DialogState): [string, string, string] {
    return [
      this.keys.call(s.id),
      this.keys.leg(s.a.callId, 'r', s.a.remoteTag),
      this.keys.leg(s.b.callId, 'l', s.b.localTag),
    ]
  }

  async createCall(state: DialogState, invite?: InviteKey): Promise<DialogState> {
    checkState(state)
    if (state.version !== 0) throw new VersionConflictError(state.id, 0, state.version)
    const stored = { ...state, version: 1 }
    const r = await this.#script(
      'sbcCreateCall',
      ...this.#callKeys(stored),
      this.keys.cancel(state.a.callId, state.a.remoteTag),
      encodeDialogState(stored),
      callTtlMs(stored, this.#ttl),
      stored.id,
      invite ? cancelMark(invite) : '',
      1,
      ...stored.admission.counters.map((g) => this.keys.holds(g)),
    )
    if (r === 0) throw new CallExistsError(`call ${state.id} exists`)
    if (r === -1) throw new CallExistsError(`call ${state.id}: leg already indexed`)
    if (r === -2) throw new CallCancelledError(state.id)
    return stored
  }

  async restoreCall(state: DialogState): Promise<DialogState> {
    checkState(state)
    const stored = { ...state, version: state.version + 1 }
    // sbcCreateCall without a cancel mark to check, at the call's next version.
    const r = await this.#script(
      'sbcCreateCall',
      ...this.#callKeys(stored),
      this.keys.cancel(state.a.callId, state.a.remoteTag),
      encodeDialogState(stored),
      this.#ttl.terminatedMs,
      stored.id,
      '',
      stored.version,
    )
    if (r === 0) throw new CallExistsError(`call ${state.id} exists`)
    if (r !== 1) throw new CallExistsError(`call ${state.id}: leg already indexed`)
    return stored
  }

  async cancelUnstored(
    leg: { callId: string; remoteTag: string },
    invite: InviteKey,
    ttlMs: number,
  ): Promise<DialogState | undefined> {
    checkPositive('ttlMs', ttlMs)
    return this.#unstoredScript('sbcCancelUnstored', leg, invite, Math.ceil(ttlMs))
  }

  async forgetUnstored(
    leg: { callId: string; remoteTag: string },
    invite: InviteKey,
  ): Promise<DialogState | undefined> {
    return this.#unstoredScript('sbcForgetUnstored', leg, invite)
  }

  /**
   * The two cancel-mark scripts: same keys (leg A's index, its cancel mark, the call key around the
   * id) and the same reply, leg A's call ({id, json}) or {} after the script acted on the mark.
   */
  async #unstoredScript(
    name: 'sbcCancelUnstored' | 'sbcForgetUnstored',
    leg: { callId: string; remoteTag: string },
    invite: InviteKey,
    ...extra: number[]
  ): Promise<DialogState | undefined> {
    const found = (await this.#script(
      name,
      this.keys.leg(leg.callId, 'r', leg.remoteTag),
      this.keys.cancel(leg.callId, leg.remoteTag),
      ...this.#callKeyParts,
      cancelMark(invite),
      ...extra,
    )) as [] | [string, string]
    if (found.length === 0) return undefined
    checkId(found[0])
    return parseStored(found[0], found[1])
  }

  async getCall(id: string): Promise<DialogState | undefined> {
    checkId(id)
    const json = await this.#run('hget', () => this.client.hget(this.keys.call(id), 's'))
    return json === null ? undefined : parseStored(id, json)
  }

  async findByLeg(key: LegKey): Promise<FoundCall | undefined> {
    if (!key.callId) return undefined
    const l = key.localTag ? this.keys.leg(key.callId, 'l', key.localTag) : undefined
    const r = key.remoteTag ? this.keys.leg(key.callId, 'r', key.remoteTag) : undefined
    const first = l ?? r
    if (first === undefined) return undefined
    // One round trip (sbcFindByLeg): the index, then the call it names. With one tag the same key
    // is passed twice.
    const found = (await this.#script('sbcFindByLeg', first, r ?? first, ...this.#callKeyParts)) as
      | []
      | [number, string, string]
    if (found.length === 0) return undefined
    const [i, id, json] = found
    checkId(id)
    return { leg: i === 1 && l !== undefined ? 'b' : 'a', call: parseStored(id, json) }
  }

  async endByLeg(key: LegKey, cseq: number): Promise<EndedCall | undefined> {
    if (!key.callId) return undefined
    if (!Number.isInteger(cseq) || cseq < 0) throw new InvalidStateError(`bad CSeq number ${cseq}`)
    const l = key.localTag ? this.keys.leg(key.callId, 'l', key.localTag) : undefined
    const r = key.remoteTag ? this.keys.leg(key.callId, 'r', key.remoteTag) : undefined
    const first = l ?? r
    if (first === undefined) return undefined
    // As findByLeg: with one tag the same key is passed twice; a local tag names leg B.
    const args = [
      first,
      r ?? first,
      ...this.#callKeyParts,
      ...this.#endKeyParts,
      cseq,
      l !== undefined ? 'b' : 'a',
      'a',
    ]
    let sent: Promise<unknown> | undefined
    let found: [] | [number, string, string, number]
    try {
      // `sent`: the command whose reply may still come late (the EVAL when Redis said NOSCRIPT).
      found = (await this.#run(
        'sbcEndByLeg',
        () => {
          sent = this.#sendScript('sbcEndByLeg', args)
          return sent
        },
        (err) => {
          const again = this.#scriptAgain('sbcEndByLeg', args, err)
          if (again) sent = again
          return again
        },
      )) as typeof found
    } catch (err) {
      // Failed past its deadline, the script may still run once Redis reads it (a stalled server
      // keeps the connection): the caller answered the BYE 503 and may send it again, so a call the
      // late script ended is put back (restoreCall, no holds) rather than gone without a relayed
      // BYE, a CDR or a media release.
      sent?.then(
        (late) => {
          const r = late as [] | [number, string, string, number]
          if (r.length === 0 || r[3] !== 1) return
          const [, lateId, lateJson] = r
          let call: DialogState
          try {
            call = parseStored(lateId, lateJson)
          } catch {
            return
          }
          this.restoreCall({ ...call, admission: { ...call.admission, counters: [] } }).catch((e: unknown) =>
            this.#log.warn(
              { err: (e as Error).message, dialogId: lateId },
              'Could not put back a late-ended call',
            ),
          )
        },
        () => {},
      )
      throw err
    }
    if (found.length === 0) return undefined
    const [i, id, json, ended] = found
    checkId(id)
    return { leg: i === 1 && l !== undefined ? 'b' : 'a', call: parseStored(id, json), ended: ended === 1 }
  }

  async updateCall(state: DialogState): Promise<DialogState> {
    checkState(state)
    const stored = { ...state, version: state.version + 1 }
    const r = (await this.#script(
      'sbcUpdateCall',
      ...this.#callKeys(state),
      String(state.version),
      encodeDialogState(stored),
      callTtlMs(stored, this.#ttl),
      state.id,
      ...stored.admission.counters.map((g) => this.keys.holds(g)),
    )) as number[]
    switch (r[0]) {
      case 1:
        return stored
      case 0:
        throw new VersionConflictError(state.id, state.version, r[1] ?? -1)
      case -1:
        throw new CallNotFoundError(state.id)
      default:
        throw new InvalidStateError(`call ${state.id}: leg identity may not change`)
    }
  }

  async deleteCall(id: string, known?: DialogState): Promise<boolean> {
    if (known !== undefined && known.id === id) {
      checkId(id)
      return (await this.#script('sbcDeleteCall', ...this.#callKeys(known), id)) === 1
    }
    let current: DialogState | undefined
    try {
      current = await this.getCall(id)
    } catch (err) {
      if (!(err instanceof CorruptStateError)) throw err
      // A record we cannot read must still be removable; its indexes expire with their TTL and
      // findByLeg ignores an index whose call is gone.
      return (await this.#run('del', () => this.client.del(this.keys.call(id)))) === 1
    }
    if (!current) return false
    // The indexes of a call never change, so the keys read here are still its keys.
    return (await this.#script('sbcDeleteCall', ...this.#callKeys(current), id)) === 1
  }

  async refreshCall(id: string): Promise<boolean> {
    const current = await this.getCall(id)
    if (!current) return false
    const r = await this.#script(
      'sbcRefreshCall',
      ...this.#callKeys(current),
      callTtlMs(current, this.#ttl),
      String(current.version),
    )
    // 0: changed since we read it; the writer has just set a fresh TTL itself.
    return r === 1 || (await this.getCall(id)) !== undefined
  }

  async callsOnMediaPod(pod: string): Promise<string[]> {
    checkName('media pod', pod)
    // Call hashes are `<prefix>:{c:<id>}` (ids have no glob characters); the prefix is escaped.
    const [head, tail] = this.#callKeyParts
    const match = `${head.replace(/[*?[\]\\]/g, '\\$&')}*${tail}`
    // Only a record holding the pod id as a JSON string can name it: the rest is not decoded.
    const needle = JSON.stringify(pod)
    const out: string[] = []
    let cursor = '0'
    do {
      const [next, keys] = await this.#run('scan', () =>
        this.client.scan(cursor, 'MATCH', match, 'COUNT', 500),
      )
      cursor = next
      if (keys.length === 0) continue
      const pipe = this.client.pipeline()
      for (const k of keys) pipe.hget(k, 's')
      const replies = (await this.#run('hget', () => pipe.exec())) ?? []
      for (const [i, k] of keys.entries()) {
        const text = replies[i]?.[1]
        // Gone since the scan saw it, or not a call (a foreign key under the prefix): skipped.
        if (typeof text !== 'string' || !text.includes(needle)) continue
        const id = k.slice(head.length, k.length - tail.length)
        try {
          if (parseStored(id, text).media?.pod === pod) out.push(id)
        } catch {
          // A corrupt record cannot be re-anchored; its own reader reports it.
        }
      }
    } while (cursor !== '0')
    return out
  }

  async tryAcquireCall(group: string, callId: string, limit: number, holdMs: number): Promise<AcquireResult> {
    checkName('group', group)
    checkId(callId)
    checkPositive('holdMs', holdMs)
    const r = (await this.#script(
      'sbcAcquire',
      this.keys.holds(group),
      callId,
      limit,
      Math.ceil(holdMs),
    )) as number[]
    return { granted: r[0] === 1, active: r[1] ?? 0 }
  }

  async releaseCall(group: string, callId: string): Promise<boolean> {
    checkName('group', group)
    return (await this.#script('sbcRelease', this.keys.holds(group), callId)) === 1
  }

  async activeCalls(group: string): Promise<number> {
    checkName('group', group)
    return (await this.#script('sbcActive', this.keys.holds(group))) as number
  }

  async tryRate(group: string, ratePerSec: number, burst: number): Promise<RateResult> {
    checkName('group', group)
    checkPositive('ratePerSec', ratePerSec)
    checkPositive('burst', burst)
    const r = (await this.#script(
      'sbcRate',
      this.keys.rate(group),
      ratePerSec,
      burst,
      bucketTtlMs(ratePerSec, burst),
    )) as number[]
    return { allowed: r[0] === 1, retryAfterMs: r[1] ?? 0 }
  }

  async registerMediaPod(pod: MediaPodInfo, ttlMs: number): Promise<void> {
    checkName('media pod', pod.id)
    checkPositive('ttlMs', ttlMs)
    const info: MediaPodInfo = {
      id: pod.id,
      address: pod.address,
      realms: pod.realms,
      capacity: pod.capacity,
      active: pod.active,
    }
    await this.#script(
      'sbcExpiringSet',
      ...this.keys.mediaPods(),
      pod.id,
      JSON.stringify(info),
      Math.ceil(ttlMs),
    )
  }

  async unregisterMediaPod(id: string): Promise<void> {
    await this.#script('sbcExpiringDel', ...this.keys.mediaPods(), id)
  }

  async listMediaPods(): Promise<MediaPodInfo[]> {
    const flat = (await this.#script('sbcExpiringList', ...this.keys.mediaPods())) as string[]
    const out: MediaPodInfo[] = []
    for (let i = 0; i + 2 < flat.length; i += 3) out.push(JSON.parse(flat[i + 2]!) as MediaPodInfo)
    return out.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))
  }

  async pickMediaPod(realm: string): Promise<MediaPodInfo | undefined> {
    return pickByFreeCapacity(await this.listMediaPods(), realm)
  }

  async acquireLease(name: string, owner: string, ttlMs: number): Promise<LeaseResult> {
    checkName('lease', name)
    checkName('owner', owner)
    checkPositive('ttlMs', ttlMs)
    const r = (await this.#script('sbcLeaseAcquire', this.keys.lease(name), owner, Math.ceil(ttlMs))) as [
      number,
      string,
      number,
    ]
    return { acquired: r[0] === 1, lease: { name, owner: r[1], expiresAt: r[2] } }
  }

  async renewLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    checkName('lease', name)
    checkPositive('ttlMs', ttlMs)
    return (await this.#script('sbcLeaseRenew', this.keys.lease(name), owner, Math.ceil(ttlMs))) === 1
  }

  async releaseLease(name: string, owner: string): Promise<boolean> {
    checkName('lease', name)
    return (await this.#script('sbcLeaseRelease', this.keys.lease(name), owner)) === 1
  }

  async getLease(name: string): Promise<Lease | undefined> {
    checkName('lease', name)
    const r = (await this.#script('sbcLeaseGet', this.keys.lease(name))) as [] | [string, number]
    return r.length === 2 ? { name, owner: r[0], expiresAt: r[1] } : undefined
  }

  async setProxyHealth(address: string, up: boolean, ttlMs: number): Promise<void> {
    checkName('proxy address', address)
    checkPositive('ttlMs', ttlMs)
    await this.#script('sbcExpiringSet', ...this.keys.proxies(), address, up ? '1' : '0', Math.ceil(ttlMs))
  }

  async listProxyHealth(): Promise<ProxyHealth[]> {
    const flat = (await this.#script('sbcExpiringList', ...this.keys.proxies())) as string[]
    const out: ProxyHealth[] = []
    for (let i = 0; i + 2 < flat.length; i += 3)
      out.push({ address: flat[i]!, expiresAt: Number(flat[i + 1]), up: flat[i + 2] === '1' })
    return out.sort((x, y) => (x.address < y.address ? -1 : x.address > y.address ? 1 : 0))
  }

  health(): StoreHealth {
    return this.#health
  }

  /**
   * Resolves once connected (at startup: with the offline queue off, commands sent before the first
   * connection are refused). Rejects with `StateUnavailableError` after `timeoutMs`.
   */
  async connected(timeoutMs = 5000): Promise<void> {
    if (this.client.status === 'ready') return
    await new Promise<void>((resolve, reject) => {
      const onReady = () => {
        clearTimeout(timer)
        resolve()
      }
      const timer = setTimeout(() => {
        this.client.off('ready', onReady)
        reject(new StateUnavailableError(`Redis not reachable within ${timeoutMs} ms`))
      }, timeoutMs)
      this.client.once('ready', onReady)
    })
  }

  async ping(): Promise<void> {
    await this.#run('ping', () => this.client.ping())
  }

  async close(): Promise<void> {
    // Commands still in flight are rejected by the disconnect; their deadline timer is not needed.
    clearTimeout(this.#deadlineTimer)
    this.#deadlineTimer = undefined
    this.client.disconnect(false)
  }
}

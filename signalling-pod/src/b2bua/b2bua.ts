import { type Logger, lazyChild } from '../../../lib/observability/logger.ts'
import type { DialogLeg, DialogState, LegName } from '../../../lib/sip/dialog/dialog-state.ts'
import { createResponse, generateTag } from '../../../lib/sip/message/create-response.ts'
import { getParam } from '../../../lib/sip/message/headers/params.ts'
import type { SipRequest, SipResponse } from '../../../lib/sip/message/message.ts'
import { serialize } from '../../../lib/sip/message/serialize.ts'
import { buildCancel } from '../../../lib/sip/transaction/build-cancel.ts'
import type { SipTransactionError } from '../../../lib/sip/transaction/errors.ts'
import type { InviteClientTransaction } from '../../../lib/sip/transaction/invite-client.ts'
import type { InviteServerTransaction } from '../../../lib/sip/transaction/invite-server.ts'
import type { NonInviteServerTransaction } from '../../../lib/sip/transaction/non-invite-server.ts'
import type {
  ServerTransaction,
  TransactionLayerDelegate,
} from '../../../lib/sip/transaction/transaction-layer.ts'
import type { Destination } from '../../../lib/sip/transport/transport.ts'
import { stringifyUri } from '../../../lib/sip/uri/uri.ts'
import type { DialogStore, FoundCall, InviteKey } from '../../../lib/state/dialog-store.ts'
import {
  CallCancelledError,
  CallExistsError,
  CallNotFoundError,
  isStateUnavailable,
  VersionConflictError,
} from '../../../lib/state/errors.ts'
import { RedisStore } from '../../../lib/state/redis-store.ts'
import { defaultTtlPolicy } from '../../../lib/state/ttl-policy.ts'
import type { CdrRecord, CdrWriter } from '../cdr.ts'
import { MediaAnchorError } from '../media/media-anchor.ts'
import { sdpVersionOf, versionToward, withSdpVersion } from '../media/sdp-version.ts'
import type { SignallingMetrics } from '../metrics.ts'
import {
  admit,
  applyIdentity,
  type CompiledPipeline,
  createDnsResolver,
  decide,
  dnsOptionsFromEnv,
  ManipulationError,
  manipulateInbound,
  manipulateOutbound,
  needsResolution,
  type Resolve,
  type RouteTarget,
  releaseAdmission,
  resolveRouteTargets,
  scanner,
} from '../pipeline/pipeline.ts'
import { type AckNotice, type CancelNotice, CancelRelay, type EarlyByeNotice } from './cancel-relay.ts'
import { inviteCSeqOfTag, inviteTag, isTagOfInvite } from './invite-tag.ts'
import {
  BRANCH_PREFIX,
  buildInDialogRequest,
  CONTACT_METHODS,
  copyEndToEnd,
  copyRecordRoute,
  legDestination,
  mirrorResponse,
  newCallId,
  newCallStateId,
  newTag,
} from './leg-messages.ts'
import { RedisSourceBans } from './redis-source-bans.ts'
import type { InterfaceDelegate, SipInterfaceRuntime } from './sip-interface-runtime.ts'
import { type RateVerdict, SourceRateLimiter } from './source-rate-limit.ts'

/**
 * Hook for media anchoring (the media issue): given the SDP of one leg, returns the SDP for the
 * other. The default passes SDP through unchanged.
 */
export interface MediaHook {
  offer(call: DialogState, from: LegName, sdp: Buffer): Promise<Buffer>
  answer(call: DialogState, from: LegName, sdp: Buffer): Promise<Buffer>
  release(call: DialogState): Promise<void>
  /**
   * The other leg refused the offer `from` sent (a non-2xx final response to its re-INVITE or
   * UPDATE): the media session goes back to the last agreed offer/answer (RFC 3264 §8). Resolves
   * when the refusal may be relayed: MediaAnchor's once the pod answered or the request was sent
   * again (a pod that does not answer holds the offerer up for one NG retransmission interval, not
   * the NG client's whole budget). Never throws.
   */
  withdrawOffer?(call: DialogState, from: LegName): Promise<void>
}

/** For sends whose failure changes nothing (a repeated ACK): the peer retransmits, or the call times out. */
const ignoreSendError = (): void => {}

const passThroughMedia: MediaHook = {
  offer: async (_c, _f, sdp) => sdp,
  answer: async (_c, _f, sdp) => sdp,
  release: async () => {},
}

/** Counters the process exports (read by metrics). */
export class B2buaCounters {
  callsAttempted = 0
  callsAnswered = 0
  callsFailed = 0
  callsRejectedStateUnavailable = 0
  callsRejectedDraining = 0
  scannersDropped = 0
}

export interface B2buaOptions {
  store: DialogStore
  pipeline: () => CompiledPipeline
  interfaces: () => ReadonlyMap<string, SipInterfaceRuntime>
  logger: Logger
  /** This process's name (POD_NAME): owner of TCP connection hints. */
  podName: string
  media?: MediaHook
  /** Prometheus metrics (docs/pipeline.md); none when absent (unit tests). */
  metrics?: SignallingMetrics
  /** One CDR JSON line per call (docs/b2bua.md); the server picks the sink (stdout or a file). */
  cdr?: CdrWriter
  /** Resolves A/SRV proxies at call time; default node:dns on `KUBE_SBC_DNS_SERVERS` or the system's. */
  resolve?: Resolve
  /**
   * Give up a target that sent no response at all (not even 100 Trying) after this long, when
   * another one is left (default {@link NO_RESPONSE_FAILOVER_MS}).
   */
  noResponseFailoverMs?: number
  /**
   * Give up an INVITE the callee leaves without a final response this long after it was sent or
   * after its last provisional response (Timer C; default {@link RINGING_LIMIT_MS}).
   */
  ringingLimitMs?: number
}

/**
 * RFC 3263 §4.3 moves to the next address on a timeout, but Timer B (64·T1, 32 s) is far too long
 * for a caller to wait over UDP. Like Kamailio's fr_timer against fr_inv_timer, an INVITE with no
 * response at all after this long counts as timed out when another target is left; any response
 * proves the target alive and the INVITE then runs its course.
 */
export const NO_RESPONSE_FAILOVER_MS = 4000

/**
 * Timer C (RFC 3261 §16.6 step 11, §16.7 step 2, §16.8): a callee that rang (or sent 100 Trying)
 * and then neither answers nor refuses would otherwise hold the INVITE, its stored call (written
 * again while it rings, #keepEarly), its admission slots and its media for good. Three minutes,
 * the RFC's lower bound, counted from the INVITE and again from each provisional response above
 * 100; then B's INVITE is CANCELled and the caller gets 408 (#ringingExpired).
 */
export const RINGING_LIMIT_MS = 180_000

/**
 * How long a CANCEL received before its call was stored is remembered in the store (64·T1, the
 * INVITE server transaction's own bound, RFC 3261 §17.2.1): the process routing that INVITE finds
 * it when it stores the call. An INVITE refused before it is stored leaves the mark to expire.
 */
export const CANCEL_MARK_MS = 32_000

/** How a call ended, for the CDR and the log. */
export interface Hangup {
  by: CdrRecord['hangup']['by']
  reason: string
  code: number
  detail?: string
}

/** An INVITE this process is forwarding (early call): the only call state kept in memory. */
interface PendingInvite {
  id: string
  state: DialogState
  aInvite: SipRequest
  aTx: InviteServerTransaction
  aIface: SipInterfaceRuntime
  bIface: SipInterfaceRuntime
  bInvite?: SipRequest
  bTx?: InviteClientTransaction
  targets: RouteTarget[]
  target: number
  proxy: number
  failover: { onStatusCodes: number[]; onTimeout: boolean }
  provisional: boolean
  answered: boolean
  /** The To tag of B's 2xx that answered the call: a 2xx with another one is another dialog. */
  answeredTag?: string
  finished: boolean
  cancelled: boolean
  /** The store no longer holds the call nor its admission holds (a BYE's endByLeg removed them). */
  removed?: boolean
  bAck?: SipRequest
  /** Drops the INVITE from this process 64·T1 after the 2xx if A's ACK never comes. */
  ackWait?: NodeJS.Timeout
  /** Keeps the early call stored while it rings (#keepEarly). */
  keepEarly?: NodeJS.Timeout
  /** Timer C of B's INVITE (#armRinging). */
  ringing?: NodeJS.Timeout
  /**
   * How the call ends when the SBC gave up the INVITE (#ringingExpired); unset, `cancelled` means
   * the caller's CANCEL (or early BYE).
   */
  giveUp?: Hangup
  log: Logger
}

/** 64·T1 with the default T1 of 500 ms: how long the owner of a 2xx waits for its ACK. */
const ACK_WAIT_MS = 32_000

/**
 * How long a call whose BYE was challenged (401/407) waits for that BYE again, with credentials,
 * before the SBC ends it (#endChallenged): far beyond the round trip a UA that has credentials takes
 * to send it again (RFC 3261 §22.2), and well inside the 64·T1 the put-back record lives.
 */
const CHALLENGED_BYE_WAIT_MS = 16_000

/**
 * A re-INVITE this process relays from leg X to leg Y: its CSeq number on Y, and once X's ACK of
 * the 2xx was relayed, that ACK as sent, for each 2xx Y sends again (RFC 3261 §13.2.2.4).
 */
interface RelayedReinvite {
  ySeq: number
  ack?: Buffer
}

const other = (leg: LegName): LegName => (leg === 'a' ? 'b' : 'a')

/** How an early call with `cancelled` set ends: the caller's CANCEL, or the SBC giving up the INVITE. */
const cancelHangup = (p: PendingInvite): Hangup => p.giveUp ?? { by: 'caller', reason: 'cancel', code: 487 }
const lower = (t: 'UDP' | 'TCP' | 'TLS') => t.toLowerCase() as 'udp' | 'tcp' | 'tls'

/** RFC 3262 §3: a provisional response sent reliably carries Require: 100rel and an RSeq. */
function isReliable(res: SipResponse): boolean {
  return (
    res.status > 100 &&
    res.header('rseq') !== undefined &&
    res.headerValues('require').some((v) => /(^|,)\s*100rel\s*(,|$)/i.test(v))
  )
}

/** What B's 2xx sets in leg B (RFC 3261 §12.1.2): its To tag and Contact, as received. */
interface BAnswer {
  remoteTag: string
  remoteTarget: string | undefined
  routeSet: string[]
}

function answerOf(res: SipResponse): BAnswer {
  const contact = res.contacts[0]
  return {
    remoteTag: res.toTag ?? '',
    remoteTarget: contact ? stringifyUri(contact.uri) : undefined,
    routeSet: routeSetOf(res),
  }
}

/** `{ sdpVersion }` when `v` is known, else nothing (the leg keeps what it has). */
function sdpVersionField(v: string | undefined): Partial<DialogLeg> {
  return v === undefined ? {} : { sdpVersion: v }
}

/** `s` with `patch` merged into its legs; undefined when that changes no field. */
function withLegs(
  s: DialogState,
  patch: Partial<Record<LegName, Partial<DialogLeg>>>,
): DialogState | undefined {
  let out: DialogState | undefined
  for (const leg of ['a', 'b'] as const) {
    const p = patch[leg]
    if (!p) continue
    const l = s[leg] as Record<string, unknown>
    if (Object.entries(p).every(([k, v]) => l[k] === v)) continue
    out = { ...(out ?? s), [leg]: { ...(out ?? s)[leg], ...p } }
  }
  return out
}

/** RFC 3261 §12.1.2: the UAC's route set is the Record-Route of the response, reversed. */
function routeSetOf(res: SipResponse): string[] {
  return res
    .headerValues('record-route')
    .flatMap((v) => v.split(/,(?=\s*<)/).map((s) => s.trim()))
    .reverse()
}

/**
 * A refused media step (`MediaAnchorError`: 488 for SDP/codec/SRTP policy, 503 when no media pod
 * can take the call) as the response to send; other errors are rethrown by the caller.
 */
function mediaRefusal(req: SipRequest, err: unknown, toTag?: string): SipResponse | undefined {
  if (!(err instanceof MediaAnchorError)) return undefined
  const r = createResponse(req, err.sipStatus, toTag ? { toTag } : {})
  // RFC 3261 §21.5.4: 503 MAY carry Retry-After; RFC 3261 §20.43 Warning 399 (miscellaneous) says why.
  if (err.sipStatus === 503) r.addHeader('Retry-After', '5')
  r.addHeader('Warning', `399 kube-sbc "${err.code}"`)
  return r
}

/** The INVITE transaction a request names (its own, or for a CANCEL the one cancelled): Via branch, CSeq. */
function inviteKeyOf(req: SipRequest): InviteKey | undefined {
  const branch = req.topVia ? getParam(req.topVia.params, 'branch') : undefined
  const cseq = req.cseq?.seq
  return typeof branch === 'string' && cseq !== undefined ? { branch, cseq } : undefined
}

/**
 * RFC 3261 §21.4.1 400 for a request carrying a header the group's manipulation rules cannot
 * rewrite without writing invalid SIP (`ManipulationError`); other errors are rethrown.
 */
function notManipulable(req: SipRequest, err: unknown, toTag?: string): SipResponse {
  if (!(err instanceof ManipulationError)) throw err
  return createResponse(req, 400, {
    reason: 'Bad Request - Header Not Manipulable',
    ...(toTag ? { toTag } : {}),
  })
}

/**
 * The stateless B2BUA: every call is two dialogs, each with its own Call-ID, tags, CSeq, Via and
 * Contact. The `DialogState` in the store is the only truth between messages: in-dialog requests
 * are matched through `store.findByLeg` on whichever process receives them, and per-leg CSeqs are
 * read from and written to the store before a request is sent. Only INVITE transactions in flight
 * live in memory (they belong to the process that owns the client transaction). See docs/b2bua.md.
 */
export class B2bua {
  readonly counters = new B2buaCounters()
  readonly #o: B2buaOptions
  readonly #media: MediaHook
  /**
   * False without a media hook (`--no-media`, unit tests): SDP passes through, so the call set-up
   * path skips the pass-through's promise and await instead of asking it.
   */
  readonly #anchorsMedia: boolean
  readonly #resolve: Resolve
  readonly #pending = new Map<string, PendingInvite>()
  readonly #pendingByTx = new WeakMap<InviteServerTransaction, PendingInvite>()
  /**
   * Answered calls whose caller's ACK is still due, by A's Call-ID and our To tag: the ACK is
   * relayed from the state this process just wrote, without reading it back from the store (the B
   * leg's target, route set and tags are fixed by the 2xx; docs/benchmarks/signalling.md).
   */
  readonly #awaitingAck = new Map<string, PendingInvite>()
  /**
   * Re-INVITEs relayed by this process, by call id, sender's leg and the sender's CSeq number, from
   * the request until 64·T1 after its 2xx: the ACK of the 2xx is relayed with the CSeq of that
   * re-INVITE on the other leg, and re-sent for every 2xx retransmission (Timer M keeps the client
   * transaction that long, RFC 6026 §7.2).
   */
  readonly #reinvites = new Map<string, RelayedReinvite>()
  /** What a CANCEL of a re-INVITE does (RFC 3261 §9.1), by the re-INVITE's server transaction. */
  readonly #reinviteCancels = new WeakMap<InviteServerTransaction, () => void>()
  /** CANCELs to and from other processes (shared store only; docs/b2bua.md, "Multi-process"). */
  readonly #relay: CancelRelay | undefined
  /** `security.rateLimit`: buckets per source address, bans shared through Redis when there is one. */
  readonly #rateLimiter: SourceRateLimiter
  #inflight = 0
  #draining = false
  #created = 0
  #ended = 0
  /** Layer/endpoint counter values already added to the Prometheus counters. */
  readonly #synced = new Map<string, number>()

  constructor(options: B2buaOptions) {
    this.#o = options
    this.#media = options.media ?? passThroughMedia
    this.#anchorsMedia = options.media !== undefined
    this.#resolve = options.resolve ?? createDnsResolver(dnsOptionsFromEnv())
    options.metrics?.beforeScrape(() => this.#syncMetrics())
    // With the in-process store there is one process: every CANCEL finds its INVITE here.
    this.#relay =
      options.store instanceof RedisStore
        ? new CancelRelay({
            client: options.store.client,
            commandTimeoutMs: options.store.commandTimeoutMs,
            podName: options.podName,
            logger: options.logger,
            onCancel: (n) => this.#onRelayedCancel(n),
            onAck: (n) => this.#onRelayedAck(n),
            onEarlyBye: (n) => this.#onRelayedEarlyBye(n),
          })
        : undefined
    this.#rateLimiter = new SourceRateLimiter({
      ...(options.store instanceof RedisStore ? { shared: new RedisSourceBans(options.store) } : {}),
      onError: (err) => options.logger.debug({ err }, 'Shared source ban not read or written'),
    })
  }

  /**
   * Adds what the transaction layers and endpoints counted since the last scrape: retransmissions
   * absorbed (requests and responses; the layer does not keep the method) and parse errors (a
   * malformed request answered with 4xx, or bytes dropped).
   */
  #syncMetrics(): void {
    const m = this.#o.metrics
    if (!m) return
    if (this.#o.store instanceof RedisStore) m.redisUp.set(this.#o.store.health() === 'ready' ? 1 : 0)
    const add = (key: string, value: number, inc: (n: number) => void) => {
      const d = value - (this.#synced.get(key) ?? 0)
      if (d > 0) inc(d)
      this.#synced.set(key, value)
    }
    for (const i of this.#o.interfaces().values()) {
      const l = i.layer.counters
      const e = i.endpoint.counters
      add(`${i.name}/rq`, l.requestRetransmissionsAbsorbed, (n) => m.retransmissions.inc({ method: '' }, n))
      add(`${i.name}/rs`, l.responseRetransmissionsAbsorbed, (n) => m.retransmissions.inc({ method: '' }, n))
      add(`${i.name}/pa`, e.malformedRequestsAnswered, (n) =>
        m.parseErrors.inc({ reason: 'malformed-request-answered' }, n),
      )
      add(`${i.name}/pd`, e.garbageDropped, (n) => m.parseErrors.inc({ reason: 'unparseable-dropped' }, n))
    }
  }

  /** The group's `direction` manipulation rules on `msg`; throws `ManipulationError`. */
  #applyRules(direction: 'Inbound' | 'Outbound', group: string, msg: SipRequest | SipResponse): void {
    if (direction === 'Inbound') manipulateInbound(this.#o.pipeline(), group, msg)
    else manipulateOutbound(this.#o.pipeline(), group, msg)
  }

  /**
   * The group's `direction` rules on a message that cannot be refused any more — a response, an
   * ACK, a request the SBC originates: a header the rules cannot rewrite is logged with its code and
   * the message goes on as the rules before the failing one left it (refusing would leave a
   * transaction on the other side hanging). Requests that can be refused use `notManipulable`.
   */
  #manipulate(
    direction: 'Inbound' | 'Outbound',
    group: string,
    msg: SipRequest | SipResponse,
    log: Logger,
    /** Fields for the warning when `log` does not carry them (no per-message child logger). */
    fields?: Record<string, unknown>,
  ): void {
    try {
      this.#applyRules(direction, group, msg)
    } catch (err) {
      if (!(err instanceof ManipulationError)) throw err
      log.warn(
        { ...fields, code: err.code, err: err.message, group, direction },
        'Relayed without a failed manipulation',
      )
    }
  }

  /**
   * The group's `direction` rules on `msg`, the received request `req` itself (Inbound) or what is
   * relayed for it (Outbound), while `req` can still be refused: false after answering it 400
   * (`notManipulable`). A BYE is never refused — its sender ended the session when it sent it
   * (RFC 3261 §15.1.1) — and goes on like a response (see `#manipulate`).
   */
  #manipulateRequest(
    direction: 'Inbound' | 'Outbound',
    group: string,
    msg: SipRequest,
    req: SipRequest,
    tx: ServerTransaction,
    log: Logger,
  ): boolean {
    if (req.method === 'BYE') {
      this.#manipulate(direction, group, msg, log)
      return true
    }
    try {
      this.#applyRules(direction, group, msg)
      return true
    } catch (err) {
      tx.respond(notManipulable(req, err))
      const code = (err as ManipulationError).code
      log.info(
        { code, err: (err as Error).message, group, direction },
        'Refused request: header not manipulable',
      )
      return false
    }
  }

  /** Sends a request on a new client transaction, counted in `sbc_sip_transactions_total`. */
  #sendRequest(
    iface: SipInterfaceRuntime,
    req: SipRequest,
    dest: Parameters<SipInterfaceRuntime['layer']['sendRequest']>[1],
    handlers: Parameters<SipInterfaceRuntime['layer']['sendRequest']>[2],
  ): ReturnType<SipInterfaceRuntime['layer']['sendRequest']> {
    this.#o.metrics?.recordTransaction('client', req.method)
    return iface.layer.sendRequest(req, dest, handlers)
  }

  /** INVITEs being forwarded plus in-dialog requests awaiting their answer. */
  get busy(): number {
    return this.#pending.size + this.#inflight
  }

  /**
   * Calls created minus calls ended by this process. Exact with the in-process store (one process
   * sees every call); only indicative with a shared store, where another process may end them.
   */
  get localCalls(): number {
    return Math.max(0, this.#created - this.#ended)
  }

  /** From now on new INVITEs get 503; in-dialog traffic keeps working. */
  drain(): void {
    this.#draining = true
  }

  get draining(): boolean {
    return this.#draining
  }

  /** The transaction-layer delegate of one interface. */
  readonly delegate: InterfaceDelegate = {
    layerDelegate: (iface): TransactionLayerDelegate => ({
      onRequest: (req, tx) => this.#onRequest(iface, req, tx),
      onAck: (ack) => {
        if (!this.#scanned(ack)) this.#guard(this.#onAck(iface, ack), ack)
      },
      onCancel: (c, tx, inv) => {
        if (!this.#scanned(c, tx)) this.#onCancel(iface, c, tx, inv)
      },
    }),
  }

  #guard(p: Promise<void>, req: SipRequest): void {
    p.catch((err: unknown) =>
      this.#o.logger.error({ err, callId: req.callId, method: req.method }, 'Failed to handle request'),
    )
  }

  /**
   * Pipeline step 1 on every request, in dialog or not, ACK and CANCEL included: a malicious
   * signature is dropped silently (or answered 403 when its action is Reject) before any other work
   * — no rate-limit or Redis look-up, no 483/481/503 that would tell a scanner a SIP server is here
   * (issue 4, Deliver 2). True when the request was handled so.
   */
  #scanned(req: SipRequest, tx?: ServerTransaction): boolean {
    const s = scanner(this.#o.pipeline().signatures, req)
    if (s.kind === 'pass') return false
    const d = s.decision
    this.#o.metrics?.recordDecision(d)
    if (d.type === 'reply' && tx) tx.respond(createResponse(req, d.code, { reason: d.reason }))
    else {
      this.counters.scannersDropped++
      tx?.dispose()
    }
    return true
  }

  #onRequest(iface: SipInterfaceRuntime, req: SipRequest, tx: ServerTransaction, gated = false): void {
    if (!gated) {
      if (this.#scanned(req, tx)) return
      // Per-source rate limit and bans first, before anything that costs (docs/b2bua.md).
      const gate = this.#sourceGate(iface, req, tx)
      if (gate === false) return
      if (gate !== true) {
        // A source seen for the first time: its shared ban was looked up first.
        gate.then(
          (pass) => pass && this.#onRequest(iface, req, tx, true),
          () => {},
        )
        return
      }
    }
    this.#o.metrics?.recordTransaction('server', req.method)
    const mf = req.maxForwards
    if (mf !== undefined && mf <= 0 && req.method !== 'ACK') {
      // RFC 3261 §16.3 step 3 (applied by the UAS core of a B2BUA): "If the request ... Max-Forwards
      // value is zero, the element MUST NOT forward the request ... 483 (Too many hops)".
      tx.respond(createResponse(req, 483))
      return
    }
    const p =
      req.toTag !== undefined
        ? this.#inDialog(iface, req, tx)
        : req.method === 'INVITE' && tx.kind === 'invite-server'
          ? this.#newInvite(iface, req, tx)
          : this.#outOfDialog(iface, req, tx)
    p.catch((err: unknown) => {
      this.#o.logger.error({ err, callId: req.callId, method: req.method }, 'Failed to handle request')
      tx.respond(createResponse(req, isStateUnavailable(err) ? 503 : 500))
    })
  }

  /**
   * `SbcConfig.security.rateLimit` (docs/b2bua.md, "Multi-process"): out-of-dialog requests take a
   * token from their source address's bucket; a banned source has every request dropped. Dropped
   * silently — an SBC does not answer a flood — and counted. Responses never come here, and
   * in-dialog requests are never rate limited. True to serve the request; a promise for a source
   * not seen before while its shared ban is looked up.
   */
  #sourceGate(
    iface: SipInterfaceRuntime,
    req: SipRequest,
    tx: ServerTransaction,
  ): boolean | Promise<boolean> {
    const rl = this.#o.pipeline().config.security.rateLimit
    if (!rl) return true
    const ctx = iface.contexts.get(req)
    if (!ctx) return true
    const settle = (v: RateVerdict): boolean => {
      if (v === 'pass') return true
      this.#o.metrics?.rateLimited.inc({ sip_interface: iface.name, reason: v === 'banned' ? 'ban' : 'rate' })
      tx.dispose()
      return false
    }
    const v = this.#rateLimiter.check(ctx.source.address, rl, req.toTag !== undefined)
    return typeof v === 'string' ? settle(v) : v.then(settle)
  }

  #source(iface: SipInterfaceRuntime, req: SipRequest) {
    const ctx = iface.contexts.get(req)
    return ctx
  }

  // ---------------------------------------------------------------- new calls

  async #newInvite(iface: SipInterfaceRuntime, req: SipRequest, tx: InviteServerTransaction): Promise<void> {
    // Built only if the call logs at an enabled level (a pino child per call was ~15 µs each).
    const log = lazyChild(this.#o.logger, { callId: req.callId })
    if (this.#draining) {
      this.counters.callsRejectedDraining++
      const r = createResponse(req, 503)
      r.addHeader('Retry-After', '5')
      tx.respond(r)
      return
    }
    // Loop: our own B-leg INVITE coming back to us (RFC 3261 §16.3 step 4 asks proxies for this;
    // a B2BUA sees it as one of its branches in the Via list). Max-Forwards catches longer loops.
    if (req.vias.some((v) => String(getParam(v.params, 'branch') ?? '').startsWith(BRANCH_PREFIX))) {
      tx.respond(createResponse(req, 482))
      return
    }
    const ctx = this.#source(iface, req)
    if (!ctx) return
    const pipeline = this.#o.pipeline()
    const decision = decide(pipeline, {
      request: req,
      source: {
        transport: ctx.source.transport.toUpperCase() as 'UDP' | 'TCP' | 'TLS',
        address: ctx.source.address,
        port: ctx.source.port,
      },
      interfaceName: iface.name,
      ...(ctx.tls ? { peerCertificateNames: ctx.tls.peerCertificateNames } : {}),
    })
    this.#o.metrics?.recordDecision(decision)
    if (decision.type === 'drop') {
      if (decision.reason === 'scanner') this.counters.scannersDropped++
      tx.dispose()
      return
    }
    if (decision.type === 'reply') {
      const r = createResponse(req, decision.code, { reason: decision.reason })
      for (const [k, v] of Object.entries(decision.headers ?? {})) r.addHeader(k, v)
      tx.respond(r)
      return
    }
    // RFC 3261 §17.2.1: the 100 Trying goes out now that the call is accepted for routing, like a
    // proxy's (Kamailio's t_relay) — not after a 200 ms timer: the B leg, Redis and failover can take
    // longer, and an INVITE unanswered for T1 is retransmitted by the caller. Scanners were dropped
    // above without any answer.
    tx.respond(createResponse(req, 100))
    // An unclassified caller (security.unclassified Allow) has no group of its own.
    const sourceGroup = decision.sourceGroup ?? ''
    const m = this.#o.metrics
    // Counted once the INVITE turned out to be a call — stored or refused — and not a copy of an
    // INVITE another process already made a call of (#answerCollision).
    const attempted = () => {
      this.counters.callsAttempted++
      if (sourceGroup !== '') m?.recordAttempt(sourceGroup, 'inbound')
    }
    // RFC 3263 §4: A/SRV proxies are resolved per call (answers cached by TTL) into addresses tried
    // in order; the addresses feed classification by proxy set, so the peers' requests classify.
    // (No await at all when every proxy is Static: the common case stays on the hot path.)
    const targets = needsResolution(decision.targets)
      ? await resolveRouteTargets(decision.targets, this.#resolve)
      : decision.targets
    // A CANCEL handled while the call was being routed (#onCancel answered the INVITE 487).
    const cancelledEarly = () => tx.state !== 'Proceeding'
    for (const [i, t] of targets.entries())
      if (t !== decision.targets[i])
        pipeline.learnProxyAddresses(
          t.group,
          t.proxies.map((x) => ({ ...x, port: x.transport === 'UDP' ? x.port : null })),
        )
    const first = Math.max(
      0,
      targets.findIndex((t) => t.proxies.length > 0),
    )
    const target = targets[first]
    const bIface = target && this.#o.interfaces().get(target.interfaceName)
    const id = newCallStateId()
    const startedAt = Date.now()
    const refused = (code: number, hangup: Omit<Hangup, 'code'>, destGroup: string | null) => {
      attempted()
      if (sourceGroup !== '') m?.recordFinal(sourceGroup, 'inbound', code)
      this.#writeCdr({
        id,
        aCallId: req.callId ?? '',
        bCallId: null,
        sourceGroup: decision.sourceGroup,
        destGroup,
        rule: decision.rule,
        from: req.from?.uri.kind === 'sip' ? (req.from.uri.user ?? null) : null,
        to: req.uri.kind === 'sip' ? (req.uri.user ?? null) : null,
        start: startedAt,
        answer: null,
        hangup: { ...hangup, code },
      })
    }
    // A CANCEL handled while the INVITE was routed or admitted: the caller got 487 (#onCancel), and
    // so does the CDR — unless the INVITE was a copy of another process's call (#cancelledCopy).
    const endCancelled = async (l: Logger, destGroup: string | null, why?: string, fields = {}) => {
      if (await this.#cancelledCopy(req, tx, l)) return
      if (why) l.info(fields, why)
      refused(487, { by: 'caller', reason: 'cancel' }, destGroup)
    }
    if (cancelledEarly()) {
      await endCancelled(log, target?.group ?? null, 'Cancelled call while it was routed')
      return
    }
    if (!target || !bIface || target.proxies.length === 0) {
      tx.respond(createResponse(req, 503))
      refused(503, { by: 'sbc', reason: 'no-target' }, target?.group ?? null)
      await this.#forgetCancelMark(req)
      return
    }
    const dlog = log.child({ dialogId: id })
    // The groups whose slot this call holds (admission.counters): only those are released at the end,
    // so a group without maxConcurrentCalls costs no store round trip at all.
    const counters: string[] = []
    try {
      for (const g of sourceGroup === '' || sourceGroup === target.group
        ? [target.group]
        : [sourceGroup, target.group]) {
        // A group without limits is admitted at once (no promise to wait for); a sync throw lands in
        // the catch below like a rejection.
        const admitted = admit(this.#o.store, pipeline, g, id, { holdMs: defaultTtlPolicy.maxCallMs })
        const a = admitted instanceof Promise ? await admitted : admitted
        if (!a.ok) {
          // The store did not answer in time (Redis down or stalled): every further round trip
          // before the 503 would add its own deadline to it (issue 4, Deliver 5: 503 within
          // 100 ms), so the release is not waited for and no look-up is made — it could only fail.
          const storeDown = a.cause === 'store-unavailable'
          if (storeDown) void this.#release(counters, id).catch(() => {})
          else await this.#release(counters, id)
          if (cancelledEarly()) {
            // The caller's CANCEL came while the store answered.
            await endCancelled(dlog, target.group, 'Cancelled call while it was admitted', {
              group: g,
              cause: a.cause,
            })
            return
          }
          // A copy of an INVITE another process made a call of holds a slot itself: at a group's
          // limit it is refused here, before createCall would have found it (shared store only).
          // The same look-up deletes a CANCEL mark another process recorded for this INVITE.
          const held =
            this.#relay && !storeDown ? await this.#callOfLegA(req, true).catch(() => undefined) : undefined
          if (held) {
            this.#answerCollision(req, tx, held, false, dlog)
            return
          }
          const r = createResponse(req, a.code, { reason: a.reason })
          r.addHeader('Retry-After', String(a.retryAfterSeconds))
          tx.respond(r)
          dlog.info({ group: g, cause: a.cause }, 'Refused call: admission')
          this.counters.callsFailed++
          m?.admissionRejections.inc({ ip_group: g, cause: a.cause })
          refused(a.code, { by: 'sbc', reason: 'admission', detail: a.cause }, target.group)
          return
        }
        if (a.held) counters.push(g)
      }
    } catch (err) {
      await this.#release(counters, id).catch(() => {})
      if (cancelledEarly()) {
        await endCancelled(dlog, target.group)
        return
      }
      this.#refuseUnavailable(req, tx, err, dlog)
      refused(503, { by: 'sbc', reason: 'store-unavailable' }, target.group)
      return
    }
    if (cancelledEarly()) {
      await this.#release(counters, id)
      await endCancelled(dlog, target.group, 'Cancelled call while it was admitted')
      return
    }
    const from = req.from
    const to = req.to
    const contact = req.contacts[0]
    // Names the INVITE, so that any process can recognise a retransmission of it (#answerCollision).
    const aTag = inviteTag(inviteKeyOf(req))
    const proxy = target.proxies[0]!
    const user = req.uri.kind === 'sip' ? req.uri.user : undefined
    const state: DialogState = {
      id,
      version: 0,
      state: 'early',
      createdAt: startedAt,
      a: {
        callId: req.callId ?? '',
        localTag: aTag,
        remoteTag: req.fromTag ?? '',
        localCSeq: 0,
        remoteCSeq: req.cseq?.seq ?? 0,
        localUri: to ? stringifyUri(to.uri) : stringifyUri(req.uri),
        remoteUri: from ? stringifyUri(from.uri) : 'sip:anonymous@anonymous.invalid',
        remoteTarget: contact ? stringifyUri(contact.uri) : `sip:${ctx.source.address}:${ctx.source.port}`,
        routeSet: req.headerValues('record-route').flatMap((v) => v.split(/,(?=\s*<)/).map((s) => s.trim())),
        secure: ctx.source.transport === 'tls',
        peer: {
          transport: ctx.source.transport,
          address: ctx.source.address,
          port: ctx.source.port,
          localInterface: iface.name,
          ...(ctx.connectionId ? { connectionId: ctx.connectionId, connectionPod: this.#o.podName } : {}),
        },
        ipGroup: sourceGroup,
        state: 'early',
      },
      b: this.#bLeg(req, target, proxy, bIface),
      admission: {
        sourceGroup,
        destGroup: target.group,
        rule: decision.rule,
        counters,
      },
      cdr: {
        ...(from?.uri.kind === 'sip' && from.uri.user ? { caller: from.uri.user } : {}),
        ...(user ? { callee: user } : {}),
      },
      // Where a CANCEL received by another process is handed (shared store only).
      ...(this.#relay ? { owner: this.#o.podName } : {}),
    }
    // Inbound manipulation of the source group (docs/pipeline.md §5), once the dialog data above was
    // taken from the INVITE as received: the rules shape what is carried on to B.
    if (sourceGroup !== '') {
      try {
        manipulateInbound(pipeline, sourceGroup, req)
      } catch (err) {
        const r = notManipulable(req, err)
        await this.#release(counters, id)
        tx.respond(r)
        const code = (err as ManipulationError).code
        dlog.info({ code, err: (err as Error).message }, 'Refused call: inbound manipulation')
        this.counters.callsFailed++
        refused(400, { by: 'sbc', reason: 'error', detail: code }, target.group)
        await this.#forgetCancelMark(req)
        return
      }
    }
    const pending: PendingInvite = {
      id,
      state,
      aInvite: req,
      aTx: tx,
      aIface: iface,
      bIface,
      targets,
      target: first,
      proxy: 0,
      failover: decision.failover,
      provisional: false,
      answered: false,
      finished: false,
      cancelled: false,
      log: dlog,
    }
    this.#pendingByTx.set(tx, pending)
    this.#pending.set(id, pending)
    try {
      // DESIGN §1: the dialog is in the store before anything relies on it. With a shared store the
      // INVITE's identity goes with it: a CANCEL another process got before this write was recorded
      // there (#cancelElsewhere), and the write then refuses instead (docs/b2bua.md, "Multi-process").
      pending.state = await this.#o.store.createCall(state, this.#relay ? inviteKeyOf(req) : undefined)
      this.#created++
      attempted()
    } catch (err) {
      this.#pending.delete(id)
      // Nothing was stored: the clean-up timer of a CANCEL handled meanwhile (#cancelPending) must
      // not end the call a second time.
      pending.finished = true
      await this.#release(counters, id).catch(() => {})
      if (err instanceof CallExistsError) {
        const held = await this.#callOfLegA(req).catch(() => undefined)
        this.#answerCollision(req, tx, held, pending.cancelled, dlog)
        return
      }
      if (err instanceof CallCancelledError) {
        // RFC 3261 §9.2: "the UAS MUST ... respond to the original request with a 487".
        tx.respond(createResponse(req, 487, { toTag: aTag }))
        dlog.info({}, 'Cancelled call: another process got the CANCEL before the call was stored')
        refused(487, { by: 'caller', reason: 'cancel' }, target.group)
        return
      }
      if (pending.cancelled) {
        // The caller got 487 already (#cancelPending): that is how the call ended.
        refused(487, { by: 'caller', reason: 'cancel' }, target.group)
        return
      }
      this.#refuseUnavailable(req, tx, err, dlog)
      refused(503, { by: 'sbc', reason: 'store-unavailable' }, target.group)
      return
    }
    dlog.info({ from: sourceGroup, to: target.group, rule: decision.rule }, 'Accepted call')
    this.#keepEarly(pending)
    try {
      if (pending.cancelled) {
        await this.#finish(pending, { by: 'caller', reason: 'cancel', code: 487 })
        return
      }
      await this.#sendBInvite(pending)
      this.#armNoResponse(pending)
    } catch (err) {
      await this.#failAccepted(pending, err)
    }
  }

  /**
   * An unexpected error once the call was stored (a bug: every expected refusal is handled where it
   * happens). The 500 #onRequest would send left the call pending in this process for good, its
   * record and admission slots written again every 100 s (#keepEarly) with no Timer C and no CDR.
   * It is ended here instead: 500 to the caller unless a final response went out, one CDR (by sbc,
   * error), holds, keys and media released; a B INVITE already sent is CANCELled as Timer C does.
   */
  async #failAccepted(p: PendingInvite, err: unknown): Promise<void> {
    p.log.error({ err }, 'Failed to handle the accepted call; ending it')
    if (p.finished) return
    const hangup: Hangup = { by: 'sbc', reason: 'error', code: 500, detail: 'internal' }
    if (p.aTx.state === 'Proceeding')
      this.#refuseA(p, createResponse(p.aInvite, 500, { toTag: p.state.a.localTag }))
    if (p.bTx && !p.answered) {
      // B rings or may: its 487 (or a crossing 2xx, ACKed and BYEd) ends the call, as for Timer C.
      p.giveUp = hangup
      p.cancelled = true
      this.#cancelB(p)
      return
    }
    await this.#finish(p, hangup)
  }

  /**
   * The call is set up and A's ACK relayed: nothing refers to `p` any more, so its INVITEs,
   * transactions and responses can go at once instead of lingering with the transactions for 64·T1
   * (they were most of the heap a call left and made every young-generation GC copy them;
   * docs/benchmarks/signalling.md). B's INVITE transaction keeps only what re-sends the ACK for a
   * retransmitted 2xx (RFC 3261 §13.2.2.4).
   */
  #settle(p: PendingInvite, bytes: Buffer, dest: Destination, iface: SipInterfaceRuntime): void {
    clearTimeout(p.ackWait)
    this.#pendingByTx.delete(p.aTx)
    const { answeredTag, log } = p
    const leg = p.state.b
    const inviteSeq = p.bInvite?.cseq?.seq ?? leg.localCSeq
    p.bTx?.retarget({
      onResponse: (res) => {
        if (res.status < 200 || res.status >= 300) return
        // The answer again: its ACK was lost. Another dialog (a forking proxy's other branch): ACK, BYE.
        if ((res.toTag ?? '') === answeredTag) iface.endpoint.transmitBytes(bytes, dest, ignoreSendError)
        else this.#ackAndBye(iface, leg, inviteSeq, answerOf(res), log)
      },
    })
  }

  /**
   * After a CANCEL this process answered itself (200, and 487 to the INVITE) while it routed or
   * admitted the INVITE: with a shared store the INVITE may have been a copy of one another process
   * made a call of, whose transaction is the real one. Then the CANCEL is handed to that process and
   * this one writes no CDR (#answerCollision); true when so.
   */
  async #cancelledCopy(req: SipRequest, tx: InviteServerTransaction, log: Logger): Promise<boolean> {
    if (!this.#relay) return false
    const held = await this.#callOfLegA(req, true).catch(() => undefined)
    if (!held || !isTagOfInvite(held.a.localTag, inviteKeyOf(req))) return false
    this.#answerCollision(req, tx, held, true, log)
    return true
  }

  /**
   * The stored call whose leg A is the one `req` (an INVITE without To tag) would create. With
   * `refused` (the INVITE will not be stored), the same look-up also deletes a CANCEL mark another
   * process recorded for this INVITE (`forgetUnstored`), which would otherwise wait out its TTL.
   */
  async #callOfLegA(req: SipRequest, refused = false): Promise<DialogState | undefined> {
    const callId = req.callId
    const remoteTag = req.fromTag
    if (!callId || !remoteTag) return undefined
    const invite = refused ? inviteKeyOf(req) : undefined
    if (invite) return this.#o.store.forgetUnstored({ callId, remoteTag }, invite)
    const found = await this.#o.store.findByLeg({ callId, remoteTag })
    return found?.leg === 'a' ? found.call : undefined
  }

  /**
   * A refusal before the store write that makes no look-up of leg A: with a shared store, deletes
   * a CANCEL mark recorded for this INVITE (see #callOfLegA). One script call, only on these rare
   * refusals (no target, inbound manipulation), after the answer went out; a failure leaves the
   * mark to its TTL.
   */
  async #forgetCancelMark(req: SipRequest): Promise<void> {
    if (this.#relay) await this.#callOfLegA(req, true).catch(() => undefined)
  }

  /**
   * A new INVITE whose leg A (Call-ID and From tag) a stored call holds already (`held`; undefined
   * when it ended meanwhile). Its To tag names the INVITE that created it (`inviteTag`):
   * - the same INVITE: a retransmission a load balancer sent to another process than the first
   *   copy. RFC 3261 §17.2.1 has the INVITE server transaction absorb it, and that transaction is
   *   on the process that made the call — this one answered 100 Trying (which stops the caller's
   *   retransmissions), sends nothing else and forgets the transaction: a CANCEL for it reaching
   *   this process is then handed to the owner like any other (#cancelElsewhere), and one already
   *   handled here (`cancelled`: the caller got 487 from this process) is handed over now
   *   (#cancelledCopy);
   * - the same CSeq (the tag carries it) through another branch: a merged request, §8.2.2.2 "482
   *   (Loop Detected)";
   * - another CSeq: a second INVITE while the first one's call is still up, like §14.2's "500
   *   (Server Internal Error) ... with a Retry-After header field with a value randomly chosen
   *   between 0 and 10 seconds".
   * Not a call of its own: no CDR, nothing counted but the log line.
   */
  #answerCollision(
    req: SipRequest,
    tx: InviteServerTransaction,
    held: DialogState | undefined,
    cancelled: boolean,
    log: Logger,
  ): void {
    const invite = inviteKeyOf(req)
    if (held && isTagOfInvite(held.a.localTag, invite)) {
      log.info({ owner: held.owner, heldId: held.id }, 'INVITE retransmission for a call already made')
      // Still Proceeding: forgotten. Answered 487 already: left to absorb the caller's ACK (Timer H/I).
      if (tx.state === 'Proceeding') tx.dispose()
      if (cancelled && invite && held.owner && held.owner !== this.#o.podName)
        this.#relay?.send(held.owner, { id: held.id, ...invite }).catch(() => {})
      return
    }
    // The CSeq of the INVITE that made the call, from its tag: `a.remoteCSeq` has moved on with any
    // PRACK or UPDATE of the caller (it is only a stand-in for tags made before the CSeq was in them).
    if (held && (inviteCSeqOfTag(held.a.localTag) ?? held.a.remoteCSeq) === invite?.cseq) {
      tx.respond(createResponse(req, 482, { reason: 'Loop Detected - Merged Request' }))
      log.info({ heldId: held.id }, 'Refused INVITE: merged request (another branch of a stored call)')
      return
    }
    const r = createResponse(req, 500)
    r.addHeader('Retry-After', String(Math.floor(Math.random() * 11)))
    tx.respond(r)
    log.info({ heldId: held?.id }, 'Refused INVITE: its Call-ID and From tag name another call')
  }

  /**
   * The early call's record lives `store.ttl.earlyMs` (200 s) after its last write, but a callee may
   * ring or play early media longer (a queue, an announcement: each provisional starts the ringing
   * limit again, {@link RINGING_LIMIT_MS}): without a write
   * the record would expire under a ringing call, and its answer then find no call (503 to the
   * caller, ACK and BYE to the callee), a CANCEL or PRACK through another process nothing. So the
   * process forwarding the INVITE writes the stored state again at half that TTL until the final
   * response: the write re-derives the TTL of the record, its leg indexes and its admission holds.
   * A write that fails or meets another one is left to the next turn (the other one refreshed it).
   */
  #keepEarly(p: PendingInvite): void {
    p.keepEarly = setInterval(() => {
      if (p.answered || p.finished || p.cancelled) {
        clearInterval(p.keepEarly)
        return
      }
      void (async () => {
        const s = await this.#o.store.getCall(p.id)
        if (s?.state === 'early') await this.#o.store.updateCall(s)
      })().catch((err: unknown) =>
        p.log.debug({ err: (err as Error).message }, 'Early call not written again; next turn'),
      )
    }, this.#o.store.ttl.earlyMs / 2).unref()
  }

  /** See {@link NO_RESPONSE_FAILOVER_MS}. */
  #armNoResponse(p: PendingInvite): void {
    const inv = p.bInvite
    const tx = p.bTx
    if (!inv || !tx) return
    const more = p.proxy + 1 < (p.targets[p.target]?.proxies.length ?? 0) || p.target + 1 < p.targets.length
    if (!more || !p.failover.onTimeout) return
    setTimeout(() => {
      if (p.bInvite !== inv || p.answered || p.finished || p.cancelled || tx.state !== 'Calling') return
      p.log.info({}, 'B leg INVITE had no response; trying the next target')
      tx.dispose()
      this.#guard(this.#onBInviteResponse(p, inv, createResponse(inv, 408), 'timeout'), inv)
    }, this.#o.noResponseFailoverMs ?? NO_RESPONSE_FAILOVER_MS).unref()
  }

  #refuseUnavailable(req: SipRequest, tx: InviteServerTransaction, err: unknown, log: Logger): void {
    if (!isStateUnavailable(err)) throw err
    this.counters.callsRejectedStateUnavailable++
    const r = createResponse(req, 503, { reason: 'Service Unavailable - State Store Unreachable' })
    r.addHeader('Retry-After', '5')
    tx.respond(r)
    log.warn({ err: (err as Error).message }, 'Refused call: state store unavailable')
  }

  #bLeg(
    req: SipRequest,
    target: RouteTarget,
    proxy: RouteTarget['proxies'][number],
    bIface: SipInterfaceRuntime,
  ): DialogLeg {
    const user = req.uri.kind === 'sip' ? req.uri.user : undefined
    const fromUser = req.from?.uri.kind === 'sip' ? req.from.uri.user : undefined
    const t = lower(proxy.transport)
    // A resolved proxy keeps its domain in the URIs (uclab: "the Request-URI host must match this
    // domain exactly") and as the TLS identity of its addresses (RFC 5922 §4).
    if (proxy.domain !== undefined && t === 'tls')
      bIface.rememberServerName(proxy.address, proxy.port, proxy.domain)
    const host = proxy.domain ?? (proxy.address.includes(':') ? `[${proxy.address}]` : proxy.address)
    const port = proxy.domain === undefined || proxy.resolution === 'A' ? `:${proxy.port}` : ''
    const ruri = `sip:${user ? `${user}@` : ''}${host}${port}${t === 'udp' ? '' : `;transport=${t}`}`
    return {
      callId: newCallId(),
      localTag: newTag(),
      remoteTag: '',
      localCSeq: 1,
      remoteCSeq: 0,
      localUri: `sip:${fromUser ? `${fromUser}@` : ''}${bIface.advertisedHost}`,
      remoteUri: `sip:${user ? `${user}@` : ''}${host}`,
      remoteTarget: ruri,
      routeSet: [],
      secure: t === 'tls',
      peer: { transport: t, address: proxy.address, port: proxy.port, localInterface: bIface.name },
      ipGroup: target.group,
      state: 'early',
    }
  }

  #contactUser(group: string): string {
    return this.#o.pipeline().config.groups.find((g) => g.name === group)?.contactUser ?? 'sbc'
  }

  async #sendBInvite(p: PendingInvite): Promise<void> {
    const b = p.state.b
    const mf = Math.min((p.aInvite.maxForwards ?? 70) - 1, 70)
    const inv = buildInDialogRequest('INVITE', b, b.localCSeq, p.bIface, mf, this.#contactUser(b.ipGroup))
    copyEndToEnd(p.aInvite, inv)
    if (inv.body.length > 0 && this.#anchorsMedia) {
      try {
        inv.body = await this.#media.offer(p.state, 'a', inv.body)
      } catch (err) {
        // The media step refused A's offer: A gets the final response, no B leg is created.
        await this.#failOnMedia(p, err)
        return
      }
    }
    if (p.cancelled) {
      // CANCELled while the media step ran (#cancelPending answered A 487): no B leg at all.
      await this.#finish(p, cancelHangup(p))
      return
    }
    // RFC 3325 §9.1 per the target's profile (uclab: Webex "Dual Identity", SBCAssertIdentity = 1),
    // before the group's own rules, which may still rewrite it.
    applyIdentity(this.#o.pipeline(), b.ipGroup, inv)
    try {
      manipulateOutbound(this.#o.pipeline(), b.ipGroup, inv)
    } catch (err) {
      // A header carried from A that the target's rules cannot rewrite: A gets 400, no B leg.
      const r = notManipulable(p.aInvite, err, p.state.a.localTag)
      const code = (err as ManipulationError).code
      p.log.info({ code, err: (err as Error).message }, 'Refused call: outbound manipulation')
      this.#refuseA(p, r)
      await this.#finish(p, { by: 'sbc', reason: 'error', code: 400, detail: code })
      return
    }
    p.bInvite = inv
    p.provisional = false
    this.#o.metrics?.recordAttempt(b.ipGroup, 'outbound')
    p.bTx = this.#sendRequest(p.bIface, inv, legDestination(b, this.#o.podName), {
      // A 100 Trying is not relayed (#onBInviteResponse ignores it), but it is a provisional
      // response like the others (#onBProvisional), handled here without the async handler.
      onResponse: (res) => {
        if (res.status !== 100) this.#guard(this.#onBInviteResponse(p, inv, res), inv)
        else if (p.bInvite === inv) this.#onBProvisional(p)
      },
      onTimeout: (e) => this.#guard(this.#onBInviteFailure(p, inv, 408, e), inv),
      onTransportError: (e) => this.#guard(this.#onBInviteFailure(p, inv, 503, e), inv),
    }) as InviteClientTransaction
    this.#armRinging(p, inv)
  }

  /** Starts Timer C of `inv` again (see {@link RINGING_LIMIT_MS}): at its sending and at each provisional above 100. */
  #armRinging(p: PendingInvite, inv: SipRequest): void {
    clearTimeout(p.ringing)
    p.ringing = setTimeout(
      () => this.#guard(this.#ringingExpired(p, inv), inv),
      this.#o.ringingLimitMs ?? RINGING_LIMIT_MS,
    ).unref()
  }

  /**
   * Timer C fired (RFC 3261 §16.8). With a provisional response from B, B's INVITE is CANCELled and
   * the call ends as a caller's CANCEL does (#cancelPending: B's 487, or its 2xx ACKed and BYEd),
   * but A gets 408 and the CDR says the SBC gave up (`no-answer`). Without one no CANCEL may be sent
   * (§9.1): the INVITE counts as answered 408, as with Timer B (failover included).
   */
  async #ringingExpired(p: PendingInvite, inv: SipRequest): Promise<void> {
    if (p.bInvite !== inv || p.answered || p.finished || p.cancelled) return
    if (!p.provisional) {
      p.log.info({}, 'B leg INVITE had no response within the ringing limit')
      p.bTx?.dispose()
      await this.#onBInviteResponse(p, inv, createResponse(inv, 408), 'timeout')
      return
    }
    p.giveUp = { by: 'sbc', reason: 'no-answer', code: 408 }
    p.cancelled = true
    p.log.info({}, 'Gave up the call: no final response within the ringing limit')
    this.#refuseA(p, createResponse(p.aInvite, 408, { toTag: p.state.a.localTag }))
    this.#cancelB(p)
  }

  /** A final failure response to the caller's INVITE: counted, A's Outbound rules applied, sent. */
  #refuseA(p: PendingInvite, r: SipResponse): void {
    this.counters.callsFailed++
    if (p.state.a.ipGroup !== '') this.#o.metrics?.recordFinal(p.state.a.ipGroup, 'inbound', r.status)
    this.#manipulate('Outbound', p.state.a.ipGroup, r, p.log)
    p.aTx.respond(r)
  }

  /**
   * CANCELs B's INVITE (at once, or at its first provisional response: #onBProvisional) for a call
   * already marked cancelled: B's 487, or its 2xx ACKed and BYEd, ends the call with
   * `cancelHangup(p)`; if B never answers, the call ends after 64·T1 anyway.
   */
  #cancelB(p: PendingInvite): void {
    this.#sendBCancel(p)
    setTimeout(() => void this.#finish(p, cancelHangup(p)), 32_000).unref()
  }

  /**
   * B answered the INVITE with a provisional response (100 included): from now on a CANCEL may go
   * to B (RFC 3261 §9.1), and one the caller sent meanwhile is due now. True when the call is
   * cancelled: nothing of the response is relayed to A.
   */
  #onBProvisional(p: PendingInvite): boolean {
    p.provisional = true
    if (p.cancelled) this.#sendBCancel(p)
    return p.cancelled
  }

  async #onBInviteFailure(
    p: PendingInvite,
    inv: SipRequest,
    code: number,
    e: SipTransactionError,
  ): Promise<void> {
    if (p.bInvite !== inv) return
    p.log.info({ code, err: e.message }, 'B leg INVITE failed without a response')
    const synthetic = createResponse(inv, code)
    await this.#onBInviteResponse(p, inv, synthetic, code === 408 ? 'timeout' : 'transport')
  }

  async #onBInviteResponse(
    p: PendingInvite,
    inv: SipRequest,
    res: SipResponse,
    failure?: 'timeout' | 'transport',
  ): Promise<void> {
    if (p.bInvite !== inv) return
    const status = res.status
    if (status === 100) return
    if (status < 200) {
      if (this.#onBProvisional(p)) return
      if (p.answered || p.finished) return
      this.#armRinging(p, inv)
      if (isReliable(res)) await this.#storeEarlyDialog(p, res)
      // The early dialog's data was taken from the response as received; B's Inbound rules shape
      // what is carried on to A.
      this.#manipulate('Inbound', p.state.b.ipGroup, res, p.log)
      const out = mirrorResponse(p.aInvite, res, p.state.a.localTag, this.#aContact(p))
      // It creates the caller's early dialog (RFC 3261 §12.1.1).
      copyRecordRoute(p.aInvite, out)
      if (out.body.length > 0 && this.#anchorsMedia) {
        try {
          out.body = await this.#media.answer(p.state, 'b', out.body)
        } catch (err) {
          // B's early answer cannot be anchored: fail A and CANCEL B (RFC 3261 §9.1).
          this.#sendBCancel(p)
          await this.#failOnMedia(p, err)
          return
        }
      }
      this.#manipulate('Outbound', p.state.a.ipGroup, out, p.log)
      p.aTx.respond(out)
      return
    }
    if (status < 300) {
      const tag = res.toTag ?? ''
      if (p.answered && tag !== p.answeredTag) {
        // Another branch of a forking proxy answered too: that dialog is not the call's.
        p.log.info({ tag }, 'Hung up a second dialog answering the INVITE')
        this.#ackAndBye(p.bIface, p.state.b, inv.cseq?.seq ?? p.state.b.localCSeq, answerOf(res), p.log)
        return
      }
      if (p.bAck) {
        // A retransmitted 2xx: the ACK was lost (RFC 3261 §13.2.2.4).
        p.bIface.endpoint.transmit(p.bAck, legDestination(p.state.b, this.#o.podName), ignoreSendError)
        return
      }
      if (p.answered) return
      p.answered = true
      p.answeredTag = tag
      clearInterval(p.keepEarly)
      clearTimeout(p.ringing)
      if (p.cancelled || p.finished) {
        // The CANCEL/200 race (RFC 3261 §9.1): B answered anyway. Confirm and hang up its leg.
        await this.#ackAndByeB(p, answerOf(res), cancelHangup(p))
        return
      }
      await this.#onBAnswered(p, res)
      return
    }
    this.#o.metrics?.recordFinal(p.state.b.ipGroup, 'outbound', status)
    if (p.cancelled || p.finished) {
      await this.#finish(p, cancelHangup(p))
      return
    }
    const retry =
      failure === 'timeout'
        ? p.failover.onTimeout
        : failure === 'transport' || p.failover.onStatusCodes.includes(status)
    if (retry) {
      try {
        if (await this.#nextTarget(p)) return
      } catch (err) {
        // The store could not move the call to the alternative (Redis down or stalled): the caller
        // gets this target's failure below instead of an INVITE left unanswered.
        p.log.warn({ err: (err as Error).message }, 'Could not fail over to the next target')
      }
    }
    this.counters.callsFailed++
    if (p.state.a.ipGroup !== '') this.#o.metrics?.recordFinal(p.state.a.ipGroup, 'inbound', status)
    // A real response from B (not a timeout or transport failure we stand in for).
    if (failure === undefined) this.#manipulate('Inbound', p.state.b.ipGroup, res, p.log)
    const out = createResponse(p.aInvite, status, { reason: res.reason, toTag: p.state.a.localTag })
    for (const h of ['retry-after', 'reason', 'warning'] as const) {
      const v = res.header(h)
      if (v !== undefined) out.addHeader(h, v)
    }
    this.#manipulate('Outbound', p.state.a.ipGroup, out, p.log)
    p.aTx.respond(out)
    p.log.info({ status }, 'Call failed')
    await this.#finish(
      p,
      failure === 'timeout'
        ? { by: 'sbc', reason: 'no-answer', code: status }
        : failure === 'transport'
          ? { by: 'sbc', reason: 'error', code: status, detail: 'transport' }
          : { by: 'callee', reason: 'rejected', code: status, detail: res.reason },
    )
  }

  /** Failover: the next proxy of the group, then the next target group. */
  async #nextTarget(p: PendingInvite): Promise<boolean> {
    let { target, proxy } = p
    for (;;) {
      proxy++
      if (proxy >= (p.targets[target]?.proxies.length ?? 0)) {
        target++
        proxy = 0
      }
      const t = p.targets[target]
      const px = t?.proxies[proxy]
      const iface = t && this.#o.interfaces().get(t.interfaceName)
      if (!t || !px) return false
      if (!iface) continue
      let counters = p.state.admission.counters
      // A slot taken here that the stored call does not list yet: given back if the move fails.
      let taken: string | undefined
      try {
        if (t.group !== p.state.admission.destGroup) {
          // A new target group: its own limits apply (admission per failover target), and the group
          // given up no longer holds a slot for this call. The source group was admitted already.
          if (t.group !== p.state.admission.sourceGroup) {
            const a = await admit(this.#o.store, this.#o.pipeline(), t.group, p.id, {
              holdMs: defaultTtlPolicy.maxCallMs,
            })
            if (!a.ok) {
              this.#o.metrics?.admissionRejections.inc({ ip_group: t.group, cause: a.cause })
              p.log.info({ group: t.group, cause: a.cause }, 'Skipped failover target: admission')
              continue
            }
            if (a.held) {
              counters = [...counters, t.group]
              taken = t.group
            }
          }
          const old = p.state.admission.destGroup
          if (old !== p.state.admission.sourceGroup && counters.includes(old)) {
            await this.#o.store.releaseCall(old, p.id)
            counters = counters.filter((g) => g !== old)
          }
        }
        const b = this.#bLeg(p.aInvite, t, px, iface)
        const moved = (s: DialogState): DialogState => ({
          ...s,
          b: { ...b, callId: s.b.callId, localTag: s.b.localTag, localCSeq: s.b.localCSeq + 1 },
          admission: { ...s.admission, destGroup: t.group, counters },
        })
        try {
          p.state = await this.#o.store.updateCall(moved(p.state))
        } catch (err) {
          // A PRACK relayed meanwhile (maybe by another process) moved the version and B's CSeq on:
          // the next INVITE goes above it, on the current state.
          if (!(err instanceof VersionConflictError)) throw err
          const current = await this.#o.store.getCall(p.id)
          if (!current) throw err
          const media = p.state.media
          p.state = await this.#o.store.updateCall(moved({ ...current, ...(media ? { media } : {}) }))
        }
      } catch (err) {
        // The call keeps its stored state, whose holds its end releases; not the slot taken here.
        if (taken !== undefined) void releaseAdmission(this.#o.store, taken, p.id)
        throw err
      }
      p.target = target
      p.proxy = proxy
      p.bIface = iface
      p.log.info({ group: t.group, proxy: `${px.address}:${px.port}` }, 'Failed over to the next target')
      await this.#sendBInvite(p)
      this.#armNoResponse(p)
      return true
    }
  }

  #aContact(p: PendingInvite): string {
    return p.aIface.contact(p.state.a.peer.transport, this.#contactUser(p.state.a.ipGroup))
  }

  /**
   * A reliable provisional response (RFC 3262) creates the early dialog the caller's PRACK is sent
   * in: B's tag, remote target and route set are stored before the response is relayed, so whichever
   * process gets the PRACK can send it on leg B. So is the INVITE's CSeq number, which the RAck of
   * every PRACK carries (RFC 3262 §7.2) while each PRACK moves `localCSeq` on.
   */
  async #storeEarlyDialog(p: PendingInvite, res: SipResponse): Promise<void> {
    const tag = res.toTag ?? ''
    if (tag === '' || p.state.b.remoteTag === tag) return
    const contact = res.contacts[0]
    for (let attempt = 0; attempt < 5; attempt++) {
      const s = p.state
      try {
        p.state = await this.#o.store.updateCall({
          ...s,
          b: {
            ...s.b,
            remoteTag: tag,
            remoteTarget: contact ? stringifyUri(contact.uri) : s.b.remoteTarget,
            routeSet: routeSetOf(res),
            ...(p.bInvite?.cseq ? { inviteCSeq: p.bInvite.cseq.seq } : {}),
          },
        })
        return
      } catch (err) {
        if (!(err instanceof VersionConflictError)) throw err
        p.state = (await this.#o.store.getCall(p.id)) ?? s
      }
    }
  }

  async #onBAnswered(p: PendingInvite, res: SipResponse): Promise<void> {
    // The dialog's data as received, before B's Inbound rules shape what is carried on to A.
    const answer = answerOf(res)
    const routeSet = routeSetOf(res)
    this.#manipulate('Inbound', p.state.b.ipGroup, res, p.log)
    const now = Date.now()
    const answered = (s: DialogState): DialogState => ({
      ...s,
      state: 'confirmed',
      answeredAt: now,
      a: { ...s.a, state: 'confirmed', ...sdpVersionField(aVersion) },
      b: {
        ...s.b,
        state: 'confirmed',
        remoteTag: answer.remoteTag,
        remoteTarget: answer.remoteTarget ?? s.b.remoteTarget,
        // RFC 3261 §12.1.2: the UAC's route set is the Record-Route of the 2xx, reversed.
        routeSet,
        ...sdpVersionField(bVersion),
      },
      cdr: { ...s.cdr, sipCode: res.status },
    })
    const out = mirrorResponse(p.aInvite, res, p.state.a.localTag, this.#aContact(p))
    copyRecordRoute(p.aInvite, out)
    if (out.body.length > 0 && this.#anchorsMedia) {
      // Anchored before the state write, so the media reference (DialogState.media) is stored with
      // the answered call and any process can serve its BYE or re-INVITE.
      try {
        out.body = await this.#media.answer(p.state, 'b', out.body)
      } catch (err) {
        // B accepted but its answer cannot be anchored: A gets the refusal, B is ACKed and BYEd.
        await this.#failOnMedia(p, err, answer)
        return
      }
    }
    const media = p.state.media
    // The o= versions the peers saw in the offer and the answer (docs/b2bua.md, "SDP versions").
    const aVersion = out.body.length > 0 ? sdpVersionOf(out.body) : undefined
    const bVersion = p.bInvite && p.bInvite.body.length > 0 ? sdpVersionOf(p.bInvite.body) : undefined
    try {
      // Written before the 2xx is relayed: from then on any process may serve the call.
      try {
        p.state = await this.#o.store.updateCall(answered(p.state))
      } catch (err) {
        // A PRACK relayed meanwhile (maybe by another process) moved the version and B's CSeq on.
        if (!(err instanceof VersionConflictError)) throw err
        const current = await this.#o.store.getCall(p.id)
        if (!current) throw err
        p.state = await this.#o.store.updateCall(answered({ ...current, ...(media ? { media } : {}) }))
      }
    } catch (err) {
      p.log.error({ err }, 'Could not store the answered call; hanging up')
      p.aTx.respond(createResponse(p.aInvite, 503, { toTag: p.state.a.localTag }))
      await this.#ackAndByeB(p, answer, { by: 'sbc', reason: 'store-unavailable', code: 503 })
      return
    }
    this.counters.callsAnswered++
    this.#countAnswered(p.state)
    this.#manipulate('Outbound', p.state.a.ipGroup, out, p.log)
    p.aTx.respond(out)
    p.log.info({}, 'Answered call')
    const ackKey = `${p.state.a.callId}\u0000${p.state.a.localTag}`
    this.#awaitingAck.set(ackKey, p)
    // The INVITE is done for this process once A acknowledges (#settle) or after 64·T1.
    p.ackWait = setTimeout(() => {
      this.#pending.delete(p.id)
      if (this.#awaitingAck.get(ackKey) === p) this.#awaitingAck.delete(ackKey)
    }, ACK_WAIT_MS).unref()
  }

  /**
   * The media step refused the call while it is being set up (MediaAnchorError): A gets its status
   * (488 Not Acceptable Here, or 503 with Retry-After), the failure is counted and the CDR says
   * `media` with the error code. Other errors are rethrown. `answered`: B's 2xx whose answer was
   * refused — B's leg is then ACKed and BYEd instead of the early call being finished.
   */
  async #failOnMedia(p: PendingInvite, err: unknown, answered?: BAnswer): Promise<void> {
    const r = mediaRefusal(p.aInvite, err, p.state.a.localTag)
    if (!r) throw err
    const what = answered ? 'Answer refused by the media step' : 'Call refused by the media step'
    p.log.info({ status: r.status, err: (err as Error).message }, what)
    this.#refuseA(p, r)
    const hangup: Hangup = {
      by: 'sbc',
      reason: 'media',
      code: r.status,
      detail: (err as MediaAnchorError).code,
    }
    await (answered ? this.#ackAndByeB(p, answered, hangup) : this.#finish(p, hangup))
  }

  async #ackAndByeB(p: PendingInvite, answer: BAnswer, hangup: Hangup): Promise<void> {
    // PRACKs relayed in the early dialog (by any process) moved leg B's CSeq on in the store: the
    // BYE goes above them, or the callee refuses it (RFC 3261 §12.2.2) and keeps the call.
    const stored = p.removed ? undefined : await this.#o.store.getCall(p.id).catch(() => undefined)
    const b = { ...p.state.b, localCSeq: Math.max(p.state.b.localCSeq, stored?.b.localCSeq ?? 0) }
    this.#ackAndBye(p.bIface, b, p.bInvite?.cseq?.seq ?? b.localCSeq, answer, p.log)
    p.log.info({}, 'Hung up the B leg answered after CANCEL')
    await this.#finish(p, hangup)
  }

  /**
   * RFC 3261 §13.2.2.4: a 2xx to the INVITE sent on `leg` whose dialog the call does not use (the
   * CANCEL/200 race; another branch of a forking proxy answering too) is acknowledged, and the
   * dialog it created ended with a BYE. That dialog is the response's (`answer`): its To tag,
   * Contact and Record-Route (§12.1.2); the ACK carries the INVITE's CSeq number.
   */
  #ackAndBye(
    iface: SipInterfaceRuntime,
    leg: DialogLeg,
    inviteSeq: number,
    answer: BAnswer,
    log: Logger,
  ): void {
    const b: DialogLeg = {
      ...leg,
      remoteTag: answer.remoteTag,
      remoteTarget: answer.remoteTarget ?? leg.remoteTarget,
      routeSet: answer.routeSet,
    }
    const dest = legDestination(b, this.#o.podName)
    const ack = buildInDialogRequest('ACK', b, inviteSeq, iface, 70, 'sbc')
    this.#manipulate('Outbound', b.ipGroup, ack, log)
    iface.endpoint.transmit(ack, dest, ignoreSendError)
    const bye = buildInDialogRequest('BYE', b, b.localCSeq + 1, iface, 70, 'sbc')
    this.#manipulate('Outbound', b.ipGroup, bye, log)
    this.#sendRequest(iface, bye, dest, { onResponse: () => {}, onTimeout: () => {} })
  }

  #sendBCancel(p: PendingInvite): void {
    if (!p.bInvite || !p.provisional || (p as { cancelSent?: boolean }).cancelSent) return
    ;(p as { cancelSent?: boolean }).cancelSent = true
    const cancel = buildCancel(p.bInvite)
    // Rules are deterministic and ReplaceHost idempotent, so Request-URI, From and To stay those of
    // the INVITE as RFC 3261 §9.1 requires.
    this.#manipulate('Outbound', p.state.b.ipGroup, cancel, p.log)
    this.#sendRequest(p.bIface, cancel, legDestination(p.state.b, this.#o.podName), {
      onResponse: () => {},
      onTimeout: () => {
        void this.#finish(p, cancelHangup(p))
      },
    })
  }

  #onCancel(
    iface: SipInterfaceRuntime,
    cancel: SipRequest,
    tx: NonInviteServerTransaction,
    invite: InviteServerTransaction | undefined,
  ): void {
    if (!invite) {
      // The INVITE transaction lives on another process (or is gone). Handling it may write a mark
      // to the store, so it takes a token of its source like any out-of-dialog request.
      const elsewhere = () =>
        this.#cancelElsewhere(cancel, tx).catch((err: unknown) => {
          this.#o.logger.error({ err, callId: cancel.callId }, 'Failed to handle CANCEL')
          tx.respond(createResponse(cancel, isStateUnavailable(err) ? 503 : 500))
        })
      const gate = this.#sourceGate(iface, cancel, tx)
      if (gate === true) void elsewhere()
      else if (gate !== false)
        gate.then(
          (pass) => {
            if (pass) void elsewhere()
          },
          () => {},
        )
      return
    }
    const p = this.#pendingByTx.get(invite)
    const inviteRequest = invite.request
    if (!p && invite.state === 'Proceeding' && inviteRequest && inviteRequest.toTag === undefined) {
      // A new call still being routed or admitted (no B leg yet): RFC 3261 §9.2, 200 to the CANCEL
      // and 487 to the INVITE now, with one To tag; #newInvite sees the INVITE answered and stops.
      const toTag = generateTag()
      tx.respond(createResponse(cancel, 200, { toTag }))
      invite.respond(createResponse(inviteRequest, 487, { toTag }))
      return
    }
    const toTag = p?.state.a.localTag ?? invite.lastToTag
    tx.respond(createResponse(cancel, 200, toTag ? { toTag } : {}))
    if (p) this.#cancelPending(p)
    else this.#reinviteCancels.get(invite)?.()
  }

  /**
   * The caller's BYE on the early dialog of `call` (see #inDialog), whose state and admission holds
   * endByLeg removed: the INVITE is cancelled as with a CANCEL, and its end deletes nothing more.
   */
  async #byeEarly(call: DialogState, log: Logger): Promise<void> {
    const p = this.#pending.get(call.id)
    if (p) {
      p.removed = true
      // The state as endByLeg removed it: leg B's CSeq as PRACKs moved it, for a BYE after a 2xx.
      p.state = {
        ...p.state,
        b: { ...p.state.b, localCSeq: Math.max(p.state.b.localCSeq, call.b.localCSeq) },
      }
      this.#cancelPending(p)
      return
    }
    // The INVITE is forwarded by another process (shared store): handed to it like a CANCEL.
    const owner = call.owner
    const delivered =
      this.#relay && owner && owner !== this.#o.podName
        ? await this.#relay
            .sendEarlyBye(owner, { id: call.id, cseq: inviteCSeqOfTag(call.a.localTag) ?? call.a.remoteCSeq })
            .catch((err: unknown) => {
              log.warn({ err: (err as Error).message, owner }, 'Could not hand the early BYE to its owner')
              return 0
            })
        : 0
    if (delivered === 0) log.info({ owner }, 'BYE on an early dialog whose INVITE no process holds')
    else log.info({ owner }, 'Handed the BYE on an early dialog to the process holding the INVITE')
  }

  /** A caller's BYE on the early dialog of an INVITE this process forwards (see #byeEarly). */
  #onRelayedEarlyBye(n: EarlyByeNotice): void {
    const p = this.#pending.get(n.id)
    if (!p || p.aInvite.cseq?.seq !== n.cseq) return
    p.removed = true
    this.#cancelPending(p)
  }

  /** RFC 3261 §9.2 for a call this process forwards: 487 to A, CANCEL on B once it is proceeding. */
  #cancelPending(p: PendingInvite): void {
    if (p.answered || p.finished || p.cancelled) return
    p.cancelled = true
    p.log.info({}, 'Cancelled call')
    const r = createResponse(p.aInvite, 487, { toTag: p.state.a.localTag })
    this.#manipulate('Outbound', p.state.a.ipGroup, r, p.log)
    p.aTx.respond(r)
    this.#cancelB(p)
  }

  /**
   * A CANCEL whose INVITE transaction is not on this process: with a shared store any process may
   * receive it (a load balancer moved the flow: pod restart, scale-out, TCP reconnect). The early
   * call is found by leg A (Call-ID and the caller's tag, which the CANCEL carries; RFC 3261 §9.1),
   * the CANCEL is answered here — it is hop by hop, its 200 only says it was received (§9.2) — and
   * handed to the owner of the INVITE over its pod channel, which then acts as if it had received
   * it. When the call is not in the store yet (the owner is still routing or admitting the INVITE),
   * the CANCEL is recorded there instead, atomically with that lookup (`cancelUnstored`), and the
   * owner's `createCall` finds it: 200 here, 487 from the owner, no B leg. 481 (§9.2: no matching
   * transaction) when the call has ended or nobody listens for it any more.
   */
  async #cancelElsewhere(cancel: SipRequest, tx: NonInviteServerTransaction): Promise<void> {
    const relay = this.#relay
    const callId = cancel.callId
    const invite = inviteKeyOf(cancel)
    const remoteTag = cancel.fromTag
    if (!relay || !callId || !remoteTag || !invite) {
      tx.respond(createResponse(cancel, 481))
      return
    }
    if (cancel.toTag !== undefined) {
      // The CANCEL of a re-INVITE (its To, with the tag, is the re-INVITE's, §9.1; an INVITE not
      // stored yet has none), whose transaction only the process relaying it holds: not handed over
      // and nothing recorded. Received, without effect, as for an answered INVITE (§9.2).
      const found = await this.#o.store.findByLeg({ callId, localTag: cancel.toTag, remoteTag })
      tx.respond(createResponse(cancel, found ? 200 : 481))
      return
    }
    // Atomically: the early call, or — not stored yet, its INVITE still being routed by the process
    // that got it — a mark that process's createCall finds (then it answers 487 and sends no B leg).
    const call = await this.#o.store.cancelUnstored({ callId, remoteTag }, invite, CANCEL_MARK_MS)
    if (!call) {
      this.#o.logger.info({ callId }, 'Recorded CANCEL for an INVITE not stored yet')
      tx.respond(createResponse(cancel, 200))
      return
    }
    const { branch, cseq } = invite
    if (call.state === 'terminated') {
      tx.respond(createResponse(cancel, 481))
      return
    }
    const ok = () => tx.respond(createResponse(cancel, 200, { toTag: call.a.localTag }))
    // Answered already: "the CANCEL request has no effect on the processing of the original
    // request" (§9.2); the owner's INVITE transaction still exists (RFC 6026 Accepted state).
    if (call.state === 'confirmed') return ok()
    const owner = call.owner
    const log = lazyChild(this.#o.logger, { callId, dialogId: call.id })
    const delivered =
      owner && owner !== this.#o.podName ? await relay.send(owner, { id: call.id, branch, cseq }) : 0
    if (delivered === 0) {
      // The owner is gone (no subscriber) and its INVITE transaction with it.
      log.info({ owner }, 'CANCEL for a call whose owner is gone: 481')
      tx.respond(createResponse(cancel, 481))
      return
    }
    log.info({ owner }, 'Handed CANCEL to the process holding the INVITE')
    ok()
  }

  /** A CANCEL another process received for an INVITE this one forwards (see #cancelElsewhere). */
  #onRelayedCancel(n: CancelNotice): void {
    const p = this.#pending.get(n.id)
    if (!p) return
    const inv = p.aInvite
    const branch = inv.topVia ? getParam(inv.topVia.params, 'branch') : undefined
    // RFC 3261 §9.2: the CANCEL matches the INVITE transaction by its branch (§17.2.3) and CSeq number.
    if (branch !== n.branch || inv.cseq?.seq !== n.cseq) {
      p.log.info({ branch: n.branch, cseq: n.cseq }, 'Relayed CANCEL matches no INVITE transaction here')
      return
    }
    this.#cancelPending(p)
  }

  /**
   * A's ACK of a 2xx that another process sent (the owner, which holds the INVITE server
   * transaction and retransmits the 2xx until it learns of the ACK, RFC 3261 §13.3.1.4): the ACK
   * was relayed here, so the owner is told over its pod channel and stops (#onRelayedAck). Only for
   * a call answered less than 64·T1 ago — the owner forgets the INVITE after that, and an ACK
   * later on is one of a re-INVITE — so an established call's in-dialog traffic costs no PUBLISH.
   * Not awaited: when it fails, the owner retransmits until 64·T1 as it would without it.
   */
  #tellAckOwner(call: DialogState, ack: SipRequest, out: SipRequest): void {
    const owner = call.owner
    const seq = ack.cseq?.seq
    if (!this.#relay || !owner || owner === this.#o.podName || seq === undefined) return
    if (call.answeredAt === undefined || Date.now() - call.answeredAt > ACK_WAIT_MS) return
    this.#relay
      .sendAck(owner, { id: call.id, cseq: seq, ack: serialize(out).toString('latin1') })
      .catch((err: unknown) => this.#o.logger.debug({ err, dialogId: call.id }, 'ACK notice not sent'))
  }

  /**
   * Another process relayed the caller's ACK of the 2xx this process sent (#tellAckOwner): what the
   * ACK would have done here, except relaying it again — the 2xx retransmissions stop, and the call
   * settles with the relayed ACK's bytes kept to answer a 2xx the callee retransmits.
   */
  #onRelayedAck(n: AckNotice): void {
    const p = this.#pending.get(n.id)
    if (!p) return
    const ackKey = `${p.state.a.callId}\u0000${p.state.a.localTag}`
    // Only the ACK of the INVITE this process answered (§13.2.2.4: same CSeq number), once.
    if (this.#awaitingAck.get(ackKey) !== p || p.aInvite.cseq?.seq !== n.cseq) return
    this.#awaitingAck.delete(ackKey)
    this.#pending.delete(p.id)
    p.aTx.acknowledge2xx()
    this.#settle(p, Buffer.from(n.ack, 'latin1'), legDestination(p.state.b, this.#o.podName), p.bIface)
    p.log.info({}, 'ACK relayed by another process')
  }

  /** Ends an early call owned by this process: releases admission, deletes the state. */
  async #finish(p: PendingInvite, hangup: Hangup): Promise<void> {
    clearInterval(p.keepEarly)
    clearTimeout(p.ringing)
    if (p.finished && !this.#pending.has(p.id)) return
    p.finished = true
    this.#pending.delete(p.id)
    p.log.info({ reason: hangup.reason, endedBy: hangup.by, code: hangup.code }, 'Ended call')
    if (p.cancelled && !p.giveUp && p.state.a.ipGroup !== '')
      this.#o.metrics?.recordFinal(p.state.a.ipGroup, 'inbound', 487)
    await this.#end(p.state, hangup, p.removed === true)
  }

  #countAnswered(state: DialogState): void {
    const m = this.#o.metrics
    if (!m) return
    if (state.a.ipGroup !== '') {
      m.recordFinal(state.a.ipGroup, 'inbound', 200)
      m.callActive(state.a.ipGroup, 1)
    }
    m.recordFinal(state.b.ipGroup, 'outbound', 200)
    m.callActive(state.b.ipGroup, 1)
  }

  /**
   * The call's CDR line. Written by the process that ends the call (with a shared store, the one
   * that relays the BYE), so there is exactly one per call.
   */
  #writeCdr(c: {
    id: string
    aCallId: string
    bCallId: string | null
    sourceGroup: string | null
    destGroup: string | null
    rule: string | undefined
    from: string | null
    to: string | null
    start: number
    answer: number | null
    hangup: Hangup
  }): void {
    const cdr = this.#o.cdr
    if (!cdr) return
    cdr.write({
      callId: c.id,
      legACallId: c.aCallId || 'unknown',
      legBCallId: c.bCallId,
      sourceGroup: c.sourceGroup,
      destinationGroup: c.destGroup,
      routingRule: c.rule ?? null,
      from: c.from,
      to: c.to,
      start: c.start,
      answer: c.answer,
      end: Date.now(),
      finalCode: c.answer === null ? c.hangup.code : 200,
      hangup: {
        by: c.hangup.by,
        reason: c.hangup.reason,
        ...(c.hangup.detail ? { detail: c.hangup.detail } : {}),
      },
    })
  }

  /**
   * The end of a call: active-call gauges, the CDR, the media session, and — unless `removed` (a
   * BYE's `endByLeg` already took the state and the holds away) — the state and its admission holds.
   */
  async #end(state: DialogState, hangup: Hangup, removed = false): Promise<void> {
    this.#ended++
    const m = this.#o.metrics
    if (m && state.state === 'confirmed') {
      if (state.a.ipGroup !== '') m.callActive(state.a.ipGroup, -1)
      m.callActive(state.b.ipGroup, -1)
    }
    this.#writeCdr({
      id: state.id,
      aCallId: state.a.callId,
      bCallId: state.b.callId,
      sourceGroup: state.admission.sourceGroup === '' ? null : state.admission.sourceGroup,
      destGroup: state.admission.destGroup,
      rule: state.admission.rule,
      from: state.cdr.caller ?? null,
      to: state.cdr.callee ?? null,
      start: state.createdAt,
      answer: state.answeredAt ?? null,
      hangup,
    })
    try {
      if (this.#anchorsMedia) await this.#media.release(state)
      if (removed) return
      // The state and the admission holds are independent keys: removed in one round trip.
      await Promise.all([
        this.#o.store.deleteCall(state.id, state),
        this.#release(state.admission.counters, state.id),
      ])
    } catch (err) {
      // The keys expire by their TTL and the admission hold by its own; nothing leaks.
      this.#o.logger.warn({ err, dialogId: state.id }, 'Could not delete call state; it will expire')
    }
  }

  /** Stores `state.media` on the current version of the call (compare-and-set, retried). */
  async #storeMedia(state: DialogState): Promise<DialogState> {
    let current: DialogState | undefined = state
    for (let attempt = 0; attempt < 5 && current; attempt++) {
      try {
        return await this.#o.store.updateCall({ ...current, ...(state.media ? { media: state.media } : {}) })
      } catch (err) {
        if (!(err instanceof VersionConflictError)) throw err
        current = await this.#o.store.getCall(state.id)
      }
    }
    return state
  }

  async #release(groups: readonly string[], id: string): Promise<void> {
    // Issued together: with Redis they leave in one pipelined write (one round trip, not one each).
    await Promise.all(groups.map((g) => this.#o.store.releaseCall(g, id)))
  }

  // ---------------------------------------------------------------- in-dialog

  async #onAck(_iface: SipInterfaceRuntime, ack: SipRequest): Promise<void> {
    const callId = ack.callId
    if (!callId) return
    const ackKey = `${callId}\u0000${ack.toTag ?? ''}`
    const mine = this.#awaitingAck.get(ackKey)
    if (mine) this.#awaitingAck.delete(ackKey)
    const found =
      mine && mine.state.a.remoteTag === ack.fromTag
        ? { leg: 'a' as const, call: mine.state }
        : await this.#o.store.findByLeg({ callId, localTag: ack.toTag, remoteTag: ack.fromTag })
    if (!found) return
    const y = other(found.leg)
    const leg = found.call[y]
    const iface = this.#o.interfaces().get(leg.peer.localInterface ?? '')
    if (!iface) return
    const p = this.#pending.get(found.call.id)
    // A re-INVITE this process relayed (another process knows it from leg.inviteCSeq).
    const relayed = this.#reinvites.get(`${found.call.id}\u0000${found.leg}\u0000${ack.cseq?.seq}`)
    // RFC 3261 §13.2.2.4: the ACK has the CSeq number of the INVITE (PRACKs may have come between).
    const seq =
      (p && found.leg === 'a' ? p.bInvite?.cseq?.seq : undefined) ??
      relayed?.ySeq ??
      leg.inviteCSeq ??
      leg.localCSeq
    const out = buildInDialogRequest('ACK', leg, seq, iface, 70, 'sbc')
    const fields = { callId, dialogId: found.call.id }
    this.#manipulate('Inbound', found.call[found.leg].ipGroup, ack, this.#o.logger, fields)
    copyEndToEnd(ack, out)
    let refused: MediaAnchorError | undefined
    if (out.body.length > 0 && this.#anchorsMedia) {
      try {
        out.body = await this.#media.answer(found.call, found.leg, out.body)
      } catch (err) {
        if (!(err instanceof MediaAnchorError)) throw err
        // The answer of a late offer (SDP in the ACK) cannot be anchored. The ACK still goes out,
        // without the SDP, to complete the 2xx handshake (RFC 3261 §13.2.2.4), then the call ends.
        refused = err
        out.body = Buffer.alloc(0)
        out.removeHeader('content-type')
      }
    }
    if (out.body.length > 0 && !refused && found.call[y].sdpVersion !== undefined) {
      // The answer to an offer in a re-INVITE's 2xx (the initial late offer's ACK finds Y's
      // version unknown): counted per leg, stored before it goes out (docs/b2bua.md, "SDP versions").
      try {
        const stored = await this.#amend(found.call, (s) =>
          withLegs(s, { [y]: sdpVersionField(versionToward(s[y], out.body)) }),
        )
        out.body = withSdpVersion(out.body, stored[y].sdpVersion)
      } catch (err) {
        this.#o.logger.warn({ ...fields, err: (err as Error).message }, 'Could not store the SDP version')
      }
    }
    this.#manipulate('Outbound', leg.ipGroup, out, this.#o.logger, fields)
    const dest = legDestination(leg, this.#o.podName)
    if (relayed) relayed.ack = serialize(out)
    if (p && found.leg === 'a') {
      p.bAck = out
      this.#pending.delete(p.id)
      this.#settle(p, serialize(out), dest, iface)
    } else if (found.leg === 'a') this.#tellAckOwner(found.call, ack, out)
    if (!refused) {
      // The common case sends without a promise; a failure is logged as #guard logs a rejection.
      iface.endpoint.transmit(out, dest, (err) => {
        if (err) this.#o.logger.error({ err, callId, method: ack.method }, 'Failed to handle request')
      })
      return
    }
    await iface.endpoint.send(out, dest)
    await this.hangUp(found.call.id, { by: 'sbc', reason: 'media', code: 488, detail: refused.code })
  }

  /**
   * Ends an established call from the SBC's side (media timeout, a media step failure after both
   * sides accepted): BYE on both legs (RFC 3261 §15.1.1), CDR with `hangup`, media released. With a
   * shared store several processes may be asked to end the same call (a media timeout notice
   * reaches every subscriber): the compare-and-set on the state picks one. Returns whether this
   * process ended it.
   */
  async hangUp(dialogId: string, hangup: Hangup): Promise<boolean> {
    const state = await this.#o.store.getCall(dialogId)
    if (state?.state !== 'confirmed') return false
    let claimed: DialogState
    try {
      claimed = await this.#o.store.updateCall({
        ...state,
        state: 'terminated',
        a: { ...state.a, localCSeq: state.a.localCSeq + 1, state: 'terminated' },
        b: { ...state.b, localCSeq: state.b.localCSeq + 1, state: 'terminated' },
      })
    } catch (err) {
      // Changed meanwhile, or ended by a BYE (endByLeg): another process has it in hand.
      if (err instanceof VersionConflictError || err instanceof CallNotFoundError) return false
      throw err
    }
    for (const name of ['a', 'b'] as const) {
      const leg = claimed[name]
      const iface = this.#o.interfaces().get(leg.peer.localInterface ?? '')
      if (!iface) continue
      const bye = buildInDialogRequest('BYE', leg, leg.localCSeq, iface, 70, this.#contactUser(leg.ipGroup))
      this.#manipulate('Outbound', leg.ipGroup, bye, this.#o.logger, { dialogId })
      this.#sendRequest(iface, bye, legDestination(leg, this.#o.podName), {
        onResponse: () => {},
        onTimeout: () => {},
        onTransportError: () => {},
      })
    }
    this.#o.logger.info({ dialogId, reason: hangup.reason, detail: hangup.detail }, 'Ended call')
    await this.#end({ ...claimed, state: state.state }, hangup)
    return true
  }

  /**
   * Sends a re-INVITE the SBC itself originates on leg `leg` of an established call (media
   * re-anchoring, signalling-pod/src/media/call-reanchor.ts). The leg's CSeq is written first
   * (compare-and-set, retried), then the INVITE goes out with `sdp`, or without a body: an offerless
   * re-INVITE (RFC 3261 §14.1), whose 2xx carries the peer's offer. Resolves with the final response
   * (408 on timeout, 503 on a transport error) and `ack(sdp?)`, which sends the ACK of a 2xx (with
   * the answer when the 2xx held an offer, RFC 3261 §13.2.2.4). Undefined when the call is gone or
   * not confirmed.
   */
  async reinviteLeg(
    dialogId: string,
    leg: LegName,
    sdp?: Buffer,
  ): Promise<
    { state: DialogState; response: SipResponse; ack: (sdp?: Buffer) => Promise<void> } | undefined
  > {
    let sent: DialogState | undefined
    let seq = 0
    for (let attempt = 0; attempt < 5 && !sent; attempt++) {
      const s = await this.#o.store.getCall(dialogId)
      if (s?.state !== 'confirmed') return undefined
      seq = s[leg].localCSeq + 1
      try {
        sent = await this.#o.store.updateCall({ ...s, [leg]: { ...s[leg], localCSeq: seq, inviteCSeq: seq } })
      } catch (err) {
        if (!(err instanceof VersionConflictError)) throw err
      }
    }
    if (!sent) return undefined
    const l = sent[leg]
    const iface = this.#o.interfaces().get(l.peer.localInterface ?? '')
    if (!iface) throw new Error(`call ${dialogId}: leg ${leg} has no SIP interface ${l.peer.localInterface}`)
    const dest = legDestination(l, this.#o.podName)
    const withBody = (m: SipRequest, body: Buffer | undefined) => {
      if (body && body.length > 0) {
        m.body = body
        m.addHeader('Content-Type', 'application/sdp')
      }
      return m
    }
    const invite = withBody(
      buildInDialogRequest('INVITE', l, seq, iface, 70, this.#contactUser(l.ipGroup)),
      sdp,
    )
    manipulateOutbound(this.#o.pipeline(), l.ipGroup, invite)
    // The ACK as sent, for each 2xx the peer sends again: its ACK was lost (RFC 3261 §13.2.2.4).
    let ackBytes: Buffer | undefined
    this.#inflight++
    const response = await new Promise<SipResponse>((resolve) => {
      this.#sendRequest(iface, invite, dest, {
        onResponse: (res) => {
          if (ackBytes && res.status >= 200 && res.status < 300)
            iface.endpoint.transmitBytes(ackBytes, dest, ignoreSendError)
          else if (res.status >= 200) resolve(res)
        },
        onTimeout: () => resolve(createResponse(invite, 408)),
        onTransportError: () => resolve(createResponse(invite, 503)),
      })
    }).finally(() => this.#inflight--)
    // RFC 3261 §12.2.1.2: the 2xx's Contact is the leg's remote target from now on — the ACK's
    // Request-URI already (§13.2.2.4 builds it from the dialog).
    const target = response.status < 300 ? answerOf(response).remoteTarget : undefined
    if (target !== undefined)
      sent = await this.#amend(sent, (s) => withLegs(s, { [leg]: { remoteTarget: target } }))
    const acked = sent[leg]
    const ack = async (answer?: Buffer) => {
      if (response.status >= 300) return
      const out = withBody(
        buildInDialogRequest('ACK', acked, seq, iface, 70, this.#contactUser(acked.ipGroup)),
        answer,
      )
      ackBytes = serialize(out)
      await iface.endpoint.sendBytes(ackBytes, dest)
    }
    return { state: sent, response, ack }
  }

  /**
   * Writes `change` of the stored call — a 2xx's target refresh (RFC 3261 §12.2.1.2: its Contact is
   * the leg's remote target from now on), an SDP version (docs/b2bua.md, "SDP versions") —
   * compare-and-set, re-read and retried on a conflict, before the 2xx is ACKed or relayed, so the
   * ACK and later requests, from any process, see it. No write when `change` returns undefined
   * (nothing differs: the usual case for a target). Returns the state as stored (`state` when the
   * call is gone).
   */
  async #amend(
    state: DialogState,
    change: (s: DialogState) => DialogState | undefined,
  ): Promise<DialogState> {
    let current: DialogState | undefined = state
    for (let attempt = 0; attempt < 5 && current; attempt++) {
      const next = change(current)
      if (!next) return current
      try {
        return await this.#o.store.updateCall(next)
      } catch (err) {
        if (!(err instanceof VersionConflictError)) throw err
        current = await this.#o.store.getCall(state.id)
      }
    }
    return current ?? state
  }

  async #inDialog(iface: SipInterfaceRuntime, req: SipRequest, tx: ServerTransaction): Promise<void> {
    const callId = req.callId ?? ''
    const key = { callId, localTag: req.toTag, remoteTag: req.fromTag }
    const seq = req.cseq?.seq ?? 0
    const bye = req.method === 'BYE'
    // A CANCEL of a re-INVITE (RFC 3261 §9.1) may come while it is looked up and written: noted
    // here, acted on once the re-INVITE is relayed (or instead of relaying it).
    const cancel: { wanted: boolean; send?: () => void } = { wanted: false }
    if (tx.kind === 'invite-server')
      this.#reinviteCancels.set(tx, () => {
        cancel.wanted = true
        cancel.send?.()
      })
    let found: FoundCall | undefined
    let stale: boolean
    if (bye) {
      // A BYE ends the call in the round trip that finds it: state, leg indexes and admission holds
      // go in one script, unless its CSeq is stale (docs/b2bua.md, "BYE").
      const ended = await this.#o.store.endByLeg(key, seq)
      found = ended
      stale = ended?.ended === false
    } else {
      found = await this.#o.store.findByLeg(key)
      stale = found !== undefined && seq <= found.call[found.leg].remoteCSeq && req.method !== 'PRACK'
    }
    if (!found) {
      tx.respond(createResponse(req, 481))
      return
    }
    const x = found.leg
    const y = other(x)
    const removed = found.call
    const log = lazyChild(this.#o.logger, { callId, dialogId: found.call.id, leg: x })
    if (stale) {
      // RFC 3261 §12.2.2: "If the remote sequence number ... is lower than or equal, ... the UAS
      // SHOULD reject the request with a 500 (Server Internal Error) response."
      tx.respond(createResponse(req, 500))
      return
    }
    if (bye && found.call.state === 'terminated') {
      // The SBC is ending this call itself: hangUp claimed it (the only writer of 'terminated'),
      // sent BYE on both legs and writes the CDR and releases the media. A BYE crossing ours is
      // answered (RFC 3261 §15.1.2), not relayed or ended a second time.
      tx.respond(createResponse(req, 200))
      return
    }
    if (bye && found.call.state === 'early' && x === 'a') {
      // The caller ends its early dialog (RFC 3261 §15: a UAC may BYE an early dialog; the
      // INVITE then gets its final response). For this B2BUA that is a CANCEL: 200 to the BYE,
      // 487 to A's INVITE, CANCEL toward B (#cancelPending) — not a BYE relayed to B, whose 2xx
      // would then answer a call already gone. endByLeg removed the call and its holds.
      tx.respond(createResponse(req, 200))
      await this.#byeEarly(found.call, log)
      return
    }
    const contact = req.contacts[0]
    // X's Inbound rules, once the dialog's data (CSeq, target refresh) was taken from the request as
    // received: they shape what is carried on to Y, and run before anything is written. They never
    // refuse a BYE (#manipulateRequest), whose call is already removed.
    if (!this.#manipulateRequest('Inbound', found.call[x].ipGroup, req, req, tx, log)) return
    let sent: DialogState | undefined
    let ySeq = 0
    // A new offer (or a re-INVITE's SDP) toward Y: its o= version is counted per leg.
    const offer = req.body.length > 0 && (req.method === 'INVITE' || req.method === 'UPDATE')
    let yVersionBefore: string | undefined
    if (bye) {
      // The call ended with endByLeg: no state write. The CSeqs as relayed are kept in memory for a
      // challenged BYE, whose call goes back to the store (#restoreChallenged).
      const s = found.call
      ySeq = s[y].localCSeq + 1
      sent = { ...s, [x]: { ...s[x], remoteCSeq: seq }, [y]: { ...s[y], localCSeq: ySeq } }
    } else {
      for (let attempt = 0; attempt < 5 && found; attempt++) {
        const s = found.call
        ySeq = s[y].localCSeq + 1
        yVersionBefore = s[y].sdpVersion
        const next: DialogState = {
          ...s,
          [x]: {
            ...s[x],
            remoteCSeq: Math.max(seq, s[x].remoteCSeq),
            ...(contact && (req.method === 'INVITE' || req.method === 'UPDATE')
              ? { remoteTarget: stringifyUri(contact.uri) }
              : {}),
          },
          // inviteCSeq: what the ACK of this re-INVITE's 2xx and the RAck of PRACKs in it carry.
          [y]: {
            ...s[y],
            localCSeq: ySeq,
            ...(req.method === 'INVITE' ? { inviteCSeq: ySeq } : {}),
            ...(offer ? sdpVersionField(versionToward(s[y], req.body)) : {}),
          },
        }
        try {
          sent = await this.#o.store.updateCall(next)
          break
        } catch (err) {
          // Gone since the look-up (a BYE through another process, a hang-up): 481 as if not found.
          if (err instanceof CallNotFoundError) found = undefined
          else if (!(err instanceof VersionConflictError)) throw err
          else found = await this.#o.store.findByLeg({ callId, localTag: req.toTag, remoteTag: req.fromTag })
        }
      }
      if (!sent) {
        tx.respond(createResponse(req, found ? 500 : 481))
        return
      }
    }
    const leg = sent[y]
    const yIface = this.#o.interfaces().get(leg.peer.localInterface ?? '')
    if (!yIface) {
      // Not relayed: a BYE's call goes back as it was (the config lost Y's interface; rare). X
      // ended its session with the BYE (RFC 3261 §15.1.1) and may never send it again: ended after
      // the same wait as a challenged BYE's call, or now when it could not be put back.
      const restored = bye ? await this.#restoreChallenged(removed, log) : undefined
      tx.respond(createResponse(req, 500))
      if (!bye) return
      if (restored)
        setTimeout(
          () => this.#guard(this.#endChallenged(restored, x, 500, log), req),
          CHALLENGED_BYE_WAIT_MS,
        ).unref()
      else await this.#end(removed, { by: x === 'a' ? 'caller' : 'callee', reason: 'bye', code: 200 }, true)
      return
    }
    const mf = Math.min((req.maxForwards ?? 70) - 1, 70)
    const out = buildInDialogRequest(req.method, leg, ySeq, yIface, mf, this.#contactUser(leg.ipGroup))
    copyEndToEnd(req, out)
    if (req.method === 'PRACK') this.#mapRAck(out, sent, y)
    // Y's Outbound rules before the media step, so a refusal leaves the media session untouched
    // (the rules never touch the body).
    if (!this.#manipulateRequest('Outbound', leg.ipGroup, out, req, tx, log)) {
      if (offer) await this.#uncountOffer(sent, y, yVersionBefore)
      return
    }
    if (out.body.length > 0 && (req.method === 'INVITE' || req.method === 'UPDATE')) {
      const pod = sent.media?.pod
      try {
        out.body = await this.#media.offer(sent, x, out.body)
      } catch (err) {
        // RFC 3261 §14.2: a re-offer that cannot be accepted gets 488; the dialog and the media
        // session stay as they were (the CSeqs written above only move forward, which is allowed).
        if (!(err instanceof MediaAnchorError)) throw err
        log.info({ method: req.method, err: err.message }, 'Re-offer refused by the media step')
        const r = createResponse(req, 488)
        r.addHeader('Warning', `399 kube-sbc "${err.code}"`)
        tx.respond(r)
        await this.#uncountOffer(sent, y, yVersionBefore)
        return
      }
      // The media step re-anchored the call on another media pod (its pod was gone): store where.
      if (sent.media && sent.media.pod !== pod) sent = await this.#storeMedia(sent)
      out.body = withSdpVersion(out.body, sent[y].sdpVersion)
    }
    const xLeg = sent[x]
    const xContact = iface.contact(xLeg.peer.transport, this.#contactUser(xLeg.ipGroup))
    const yDest = legDestination(leg, this.#o.podName)
    const reKey = req.method === 'INVITE' ? `${sent.id}\u0000${x}\u0000${seq}` : undefined
    const relayed: RelayedReinvite = { ySeq }
    if (reKey) this.#reinvites.set(reKey, relayed)
    this.#inflight++
    let done = false
    let provisional = false
    // `received`: a response from Y, whose Inbound rules apply (not a timeout we stand in for).
    const complete = async (res: SipResponse, received = true) => {
      if (res.status < 200) {
        // From the first provisional response on, a CANCEL may go to Y (RFC 3261 §9.1).
        provisional = true
        if (cancel.wanted) cancel.send?.()
        if (req.method === 'INVITE' && res.status > 100) {
          this.#manipulate('Inbound', leg.ipGroup, res, log)
          const r = mirrorResponse(req, res, undefined, xContact)
          this.#manipulate('Outbound', xLeg.ipGroup, r, log)
          tx.respond(r)
        }
        return
      }
      if (done) {
        // Y sent the 2xx of the re-INVITE again: the ACK relayed for it was lost (RFC 3261
        // §13.2.2.4). Before X's ACK came there is nothing to re-send; X's ACK will go out.
        if (relayed.ack && res.status < 300)
          yIface.endpoint.transmitBytes(relayed.ack, yDest, ignoreSendError)
        return
      }
      done = true
      this.#inflight--
      if (reKey) {
        const forget = () => {
          if (this.#reinvites.get(reKey) === relayed) this.#reinvites.delete(reKey)
        }
        if (received && res.status < 300) setTimeout(forget, ACK_WAIT_MS).unref()
        else forget()
      }
      // The 2xx of a target refresh request: its Contact, as received, is Y's new remote target.
      const refreshed =
        received && res.status < 300 && (req.method === 'INVITE' || req.method === 'UPDATE')
          ? answerOf(res).remoteTarget
          : undefined
      if (received) this.#manipulate('Inbound', leg.ipGroup, res, log)
      // A refused offer (488, 491, the 487 of a CANCELled re-INVITE, a timeout) changes nothing
      // (RFC 3264 §8): the media session drops it before X hears the refusal and offers again —
      // or, when the media pod does not answer, once the withdraw was sent twice (MediaAnchor).
      if (offer && res.status >= 300) await this.#media.withdrawOffer?.(sent!, x)
      const answer = mirrorResponse(
        req,
        res,
        undefined,
        CONTACT_METHODS.has(req.method) ? xContact : undefined,
      )
      // The SDP of an offer/answer exchange (RFC 3264 §4): the answer to this INVITE's or UPDATE's
      // offer, or the offer in the 2xx of an offerless re-INVITE. Any other body (a 2xx to INFO,
      // OPTIONS, MESSAGE, BYE, an UPDATE without offer) is no answer and passes through unchanged.
      const answered = answer.body.length > 0 && res.status < 300 && (req.method === 'INVITE' || offer)
      if (answered) {
        try {
          answer.body = await this.#media.answer(sent!, y, answer.body)
        } catch (err) {
          if (!(err instanceof MediaAnchorError)) throw err
          // Y accepted a re-offer whose answer cannot be anchored: the media session no longer
          // matches either side, so the call ends (BYE on both legs ends Y's INVITE too).
          log.warn({ err: err.message }, 'Re-offer answer refused by the media step; ending the call')
          tx.respond(createResponse(req, 500, { reason: 'Media Anchoring Failed' }))
          await this.hangUp(sent!.id, { by: 'sbc', reason: 'media', code: 500, detail: err.code })
          return
        }
      }
      // The answer's o= version toward X is counted per leg too.
      if (refreshed !== undefined || answered) {
        // Before the 2xx is relayed: X's ACK and later requests, through any process, use it.
        // A failed write leaves the answer's version as it came (never one X saw already).
        let xVersion: string | undefined
        try {
          sent = await this.#amend(sent!, (s) =>
            withLegs(s, {
              ...(refreshed !== undefined ? { [y]: { remoteTarget: refreshed } } : {}),
              ...(answered ? { [x]: sdpVersionField(versionToward(s[x], answer.body)) } : {}),
            }),
          )
          xVersion = sent[x].sdpVersion
        } catch (err) {
          log.warn({ err: (err as Error).message }, 'Could not store the remote target or SDP version')
        }
        if (answered) answer.body = withSdpVersion(answer.body, xVersion)
      }
      // A BYE Y challenged (401/407): X may send it again with credentials (RFC 3261 §22.2), so
      // the call goes back to the store before X sees the challenge; that BYE ends it. Any other
      // final answer (2xx, 481, 408, 5xx) ends it now (§15.1.1).
      const challenged =
        bye && (res.status === 401 || res.status === 407) && (await this.#restoreChallenged(sent!, log))
      this.#manipulate('Outbound', xLeg.ipGroup, answer, log)
      tx.respond(answer)
      if (challenged) {
        const status = res.status
        setTimeout(
          () => this.#guard(this.#endChallenged(challenged, x, status, log), req),
          CHALLENGED_BYE_WAIT_MS,
        ).unref()
      }
      if (bye && !challenged) {
        log.info({ endedBy: x, status: res.status }, 'Ended call')
        const reason = req.header('reason')
        await this.#end(
          sent!,
          {
            by: x === 'a' ? 'caller' : 'callee',
            reason: 'bye',
            code: 200,
            ...(reason ? { detail: reason } : {}),
          },
          true,
        )
      }
    }
    if (cancel.wanted) {
      // X cancelled the re-INVITE before it could be relayed: it never reaches Y (§9.2: 487).
      done = true
      this.#inflight--
      if (reKey) this.#reinvites.delete(reKey)
      if (offer) await this.#media.withdrawOffer?.(sent, x)
      tx.respond(createResponse(req, 487))
      if (offer) await this.#uncountOffer(sent, y, yVersionBefore)
      return
    }
    const yTx = this.#sendRequest(yIface, out, yDest, {
      onResponse: (res) => this.#guard(complete(res), req),
      onTimeout: () => this.#guard(complete(createResponse(out, 408), false), req),
      onTransportError: () => this.#guard(complete(createResponse(out, 503), false), req),
    })
    // X's CANCEL goes on to Y once Y sent a provisional response; Y's final response — 487, or a
    // 2xx that crossed the CANCEL — is relayed to X like any. Without a final response 64·T1 after
    // the CANCEL the re-INVITE is given up (§9.1) and X gets 487.
    let cancelSent = false
    cancel.send = () => {
      if (!provisional || cancelSent || done) return
      cancelSent = true
      const c = buildCancel(out)
      this.#manipulate('Outbound', leg.ipGroup, c, log)
      this.#sendRequest(yIface, c, yDest, { onResponse: () => {}, onTimeout: () => {} })
      setTimeout(() => {
        if (done) return
        yTx.dispose()
        this.#guard(complete(createResponse(out, 487), false), req)
      }, ACK_WAIT_MS).unref()
    }
    log.debug({ method: req.method }, 'Relayed in-dialog request')
  }

  /**
   * Puts back a call whose BYE did not end it after all (its callee challenged it, or it could not
   * be relayed) — one write, rare. Without admission holds: the session ended with the BYE (RFC 3261
   * §15), so the holds stay released and the call's end releases none. Returns the call as stored;
   * undefined when it could not be stored (the store is down, or the legs were taken): the call then
   * ends as with any other answer.
   */
  async #restoreChallenged(state: DialogState, log: Logger): Promise<DialogState | undefined> {
    try {
      return await this.#o.store.restoreCall({ ...state, admission: { ...state.admission, counters: [] } })
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'Could not put back the call of a BYE not answered 2xx')
      return undefined
    }
  }

  /**
   * The call put back for a BYE leg Y challenged, or that could not be relayed to Y (`restored`, see
   * #restoreChallenged), whose sender X did not send that BYE again: X ended the session when it sent it (RFC 3261 §15.1.1), so the SBC
   * ends the call as its hang-up does on Y alone — claimed with a compare-and-set ('terminated': a
   * BYE crossing it is answered, not relayed), BYE to Y with the next CSeq, then the CDR, the
   * active-call gauges, the media and the record (#end). Nothing when the call is gone (the BYE came
   * again and ended it) or X's CSeq moved on (it came again and was challenged again: that one's
   * wait ends it); Y's own requests meanwhile do not matter.
   */
  async #endChallenged(restored: DialogState, x: LegName, status: number, log: Logger): Promise<void> {
    const y = other(x)
    for (let attempt = 0; attempt < 5; attempt++) {
      const s = await this.#o.store.getCall(restored.id)
      if (s?.state !== 'confirmed' || s[x].remoteCSeq !== restored[x].remoteCSeq) return
      let claimed: DialogState
      try {
        claimed = await this.#o.store.updateCall({
          ...s,
          state: 'terminated',
          [x]: { ...s[x], state: 'terminated' },
          [y]: { ...s[y], localCSeq: s[y].localCSeq + 1, state: 'terminated' },
        })
      } catch (err) {
        if (err instanceof VersionConflictError) continue
        if (err instanceof CallNotFoundError) return
        throw err
      }
      const leg = claimed[y]
      const iface = this.#o.interfaces().get(leg.peer.localInterface ?? '')
      if (iface) {
        const bye = buildInDialogRequest('BYE', leg, leg.localCSeq, iface, 70, this.#contactUser(leg.ipGroup))
        this.#manipulate('Outbound', leg.ipGroup, bye, log)
        this.#sendRequest(iface, bye, legDestination(leg, this.#o.podName), {
          onResponse: () => {},
          onTimeout: () => {},
          onTransportError: () => {},
        })
      }
      const detail = `BYE answered ${status} and not sent again`
      log.info({ endedBy: x, status }, 'Ended call: challenged BYE not sent again')
      await this.#end(
        { ...claimed, state: s.state },
        { by: x === 'a' ? 'caller' : 'callee', reason: 'bye', code: 200, detail },
      )
      return
    }
  }

  /**
   * An offer counted on leg `y` by the request write (`sdpVersion`) that did not go out after all
   * (the media step or Y's rules refused it): the leg's version goes back to `before`, so the next
   * SDP on it is still one more than the last it saw — unless something counted on meanwhile. A
   * failed write leaves a gap of one.
   */
  async #uncountOffer(sent: DialogState, y: LegName, before: string | undefined): Promise<void> {
    const counted = sent[y].sdpVersion
    if (before === undefined || counted === before) return
    await this.#amend(sent, (s) =>
      s[y].sdpVersion === counted ? withLegs(s, { [y]: { sdpVersion: before } }) : undefined,
    ).catch(() => undefined)
  }

  /**
   * RFC 3262 §7.2: RAck is "RSeq CSeq-number method" of the response being acknowledged. RSeq passes
   * through unchanged (the reliable provisional is relayed as it came), the CSeq number is the
   * INVITE's on the other leg: the one in flight on this process, else the leg's `inviteCSeq` as
   * stored with the early dialog — any process maps any PRACK, however many came before (each one
   * moves `localCSeq` on). `localCSeq - 1` only for state written before `inviteCSeq` existed.
   */
  #mapRAck(out: SipRequest, call: DialogState, y: LegName): void {
    const rack = out.header('rack')
    const m = rack && /^\s*(\d+)\s+\d+\s+(\S+)\s*$/.exec(rack)
    if (!m) return
    const p = this.#pending.get(call.id)
    const inviteSeq =
      (y === 'b' ? p?.bInvite?.cseq?.seq : undefined) ?? call[y].inviteCSeq ?? call[y].localCSeq - 1
    out.removeHeader('rack')
    out.addHeader('RAck', `${m[1]} ${inviteSeq} ${m[2]}`)
  }

  // ---------------------------------------------------------------- out of dialog

  async #outOfDialog(iface: SipInterfaceRuntime, req: SipRequest, tx: ServerTransaction): Promise<void> {
    if (req.method === 'ACK') return
    const ctx = this.#source(iface, req)
    if (!ctx) return
    const decision = decide(this.#o.pipeline(), {
      request: req,
      source: {
        transport: ctx.source.transport.toUpperCase() as 'UDP' | 'TCP' | 'TLS',
        address: ctx.source.address,
        port: ctx.source.port,
      },
      interfaceName: iface.name,
      ...(ctx.tls ? { peerCertificateNames: ctx.tls.peerCertificateNames } : {}),
    })
    this.#o.metrics?.recordDecision(decision)
    if (decision.type === 'drop') {
      tx.dispose()
      return
    }
    if (decision.type === 'reply') {
      const r = createResponse(req, decision.code, { reason: decision.reason })
      for (const [k, v] of Object.entries(decision.headers ?? {})) r.addHeader(k, v)
      tx.respond(r)
      return
    }
    const log = lazyChild(this.#o.logger, { callId: req.callId })
    const sourceGroup = decision.sourceGroup ?? ''
    if (!this.#manipulateRequest('Inbound', sourceGroup, req, req, tx, log)) return
    // Out-of-dialog non-INVITE (OPTIONS, MESSAGE, ...): relayed on a fresh transaction, no state.
    const first = decision.targets.slice(0, 1)
    const target = (needsResolution(first) ? await resolveRouteTargets(first, this.#resolve) : first)[0]
    const proxy = target?.proxies[0]
    const yIface = target && this.#o.interfaces().get(target.interfaceName)
    if (!target || !proxy || !yIface) {
      tx.respond(createResponse(req, 503))
      return
    }
    const leg = this.#bLeg(req, target, proxy, yIface)
    const out = buildInDialogRequest(
      req.method,
      leg,
      1,
      yIface,
      Math.min((req.maxForwards ?? 70) - 1, 70),
      this.#contactUser(target.group),
    )
    copyEndToEnd(req, out)
    applyIdentity(this.#o.pipeline(), target.group, out)
    if (!this.#manipulateRequest('Outbound', target.group, out, req, tx, log)) return
    this.#inflight++
    let done = false
    // `received`: a response from the target, whose Inbound rules apply (not a timeout).
    const complete = (res: SipResponse, received = true) => {
      if (res.status < 200 || done) return
      done = true
      this.#inflight--
      if (received) this.#manipulate('Inbound', target.group, res, log)
      const r = mirrorResponse(req, res, generateTag(), undefined)
      this.#manipulate('Outbound', sourceGroup, r, log)
      tx.respond(r)
    }
    this.#sendRequest(yIface, out, legDestination(leg, this.#o.podName), {
      onResponse: (res) => complete(res),
      onTimeout: () => complete(createResponse(out, 408), false),
      onTransportError: () => complete(createResponse(out, 503), false),
    })
  }
}

import { randomBytes } from 'node:crypto'
import { isIP } from 'node:net'
import { bencode } from '../../lib/media/control/bencode.ts'
import type { MediaTimeoutNotice } from '../../lib/media/control/media-timeout.ts'
import type {
  NgAnswerRequest,
  NgDeleteRequest,
  NgListRequest,
  NgOfferRequest,
  NgQueryRequest,
  NgRequest,
  NgResponse,
  NgWithdrawOfferRequest,
} from '../../lib/media/control/ng-message.ts'
import { MAX_NG_REPLY } from '../../lib/media/control/ng-message.ts'
import type { NgRequestContext, NgRequestHandler } from '../../lib/media/control/ng-server-transport.ts'
import {
  type PortAllocation,
  type PortAllocator,
  PortAllocatorError,
  PortAllocatorErrorCode,
} from '../../lib/media/relay/port-allocator.ts'
import { Interner } from '../../lib/media/session/interner.ts'
import { SrtpKeyError } from '../../lib/media/srtp/errors.ts'
import { formatSdesKeyParams, generateSdesKey, parseSdesKeyParams } from '../../lib/media/srtp/sdes.ts'
import { isSrtpSuiteName, type SrtpSuiteName, srtpSuite } from '../../lib/media/srtp/suites.ts'
import { type Logger, nullLogger } from '../../lib/observability/logger.ts'
import {
  type Crypto,
  cryptos,
  effectiveDirection,
  type RtpMap,
  rtcp as rtcpAttribute,
  rtpMaps,
} from '../../lib/sdp/attributes.ts'
import { assignPayloadTypes, type PayloadTypeWish, renumberFormats } from '../../lib/sdp/payload-types.ts'
import {
  removeIce,
  removeSessionIce,
  replaceOrigin,
  replaceSessionConnection,
  setCryptos,
  setIceCandidates,
  setIceLite,
  setMediaEndpoint,
  setProto,
  setPtime,
  setRtcpMux,
} from '../../lib/sdp/rewrite.ts'
import { type MediaSection, SessionDescription } from '../../lib/sdp/session-description.ts'
import { MediaPodError, MediaPodErrorCode, PortInUseError } from './errors.ts'
import type { RealmTotals } from './metrics.ts'
import { NO_CRYPTOS, PartyMedia } from './party-media.ts'
import {
  type EndpointConfig,
  type EndpointStats,
  type LatchMode,
  type PeerAddress,
  type RelayBackend,
  type SrtpKeying,
  zeroStats,
} from './relay/relay.ts'
import { StreamPair } from './relay/stream-pair.ts'

/**
 * The media pod's NG request handler (docs/media-control-protocol.md is the contract, docs/media-pod.md
 * the design): a session table keyed by call-id, with one *monologue* per tag as rtpengine has them.
 * An `offer` from tag X allocates, per media section, a port for X in X's realm and one for the other
 * party Y in Y's realm (`direction`), rewrites X's SDP for Y and binds both endpoints; the `answer`
 * from Y completes the keying, latching and payload type maps and programs the relay. A re-offer from
 * either party reuses the ports. Owned by: the control loop; the packet path is in the relay backends.
 */

/** One media realm as the handler uses it. */
export interface RealmRuntime {
  readonly name: string
  /** Where the endpoints bind. */
  readonly bindAddress: string
  /** The address written into SDP (c=). */
  readonly advertisedAddress: string
  readonly allocator: PortAllocator
  /** Concurrent calls allowed in this realm (the MediaRealm's maxSessions). */
  readonly maxSessions: number
}

/**
 * Binds an offer tries per media section when ports turn out to be held by another process
 * (`openStreams`): enough to step over a few stray sockets, bounded so that a range mostly taken by
 * someone else fails the offer quickly instead of walking all of it.
 */
const BIND_ATTEMPTS = 16

/**
 * Reported when no packet arrived from a party for `mediaTimeoutMs` (rtpengine's `timeout`), or, on
 * a media section on hold, for `holdTimeoutMs` (rtpengine's `silent-timeout`, Asterisk's `rtp_timeout_hold`).
 */
export interface MediaTimeoutEvent {
  callId: string
  tag: string
  partnerTag: string
  mediaIndex: number
  idleMs: number
  /**
   * The stream's media section was on hold (either party's stream of it `sendonly`, `recvonly`,
   * `inactive` or `c=0.0.0.0`) and `holdTimeoutMs` ran out.
   */
  hold: boolean
}

export interface NgHandlerOptions {
  realms: ReadonlyMap<string, RealmRuntime>
  /** Realm used when a request names none. */
  defaultRealm: string
  /** The native relay backend, or null when the addon is not built. */
  native: RelayBackend | null
  /** The TypeScript dgram backend (always available). */
  fallback: RelayBackend
  /** No packets from a party for this long reports a media timeout. Default 60,000; 0 disables. */
  mediaTimeoutMs?: number
  /**
   * Instead of `mediaTimeoutMs`, for both streams of a media section on hold (either party's stream
   * of it last declared `sendonly`, `recvonly` or `inactive`, or `c=0.0.0.0`; a disabled section is
   * no hold), once neither received media and nothing was signalled for that long (rtpengine's
   * `silent-timeout`, Asterisk's `rtp_timeout_hold`): a call whose BYE was lost while on hold would
   * otherwise hold its ports for good. Independent of `mediaTimeoutMs`. Default 3,600,000; 0 disables.
   */
  holdTimeoutMs?: number
  /**
   * A call never answered is deleted this long after its last signal (offer), ports back to the
   * pool: signalling that would have sent `delete` may have died while it rang, or never learnt of
   * the session (the offer's reply lost). Default 3,600,000 (an hour: far beyond any ringing time);
   * 0 disables.
   */
  offerTimeoutMs?: number
  /** Suites offered toward an SRTP party when the offerer had none to copy. */
  defaultSuites?: readonly SrtpSuiteName[]
  /** Per stream: fires once for each party and media section that went silent. */
  onMediaTimeout?: (event: MediaTimeoutEvent) => void
  /**
   * Per call: the notice signalling acts on (lib/media/control/media-timeout.ts), once per call, when
   * its first stream goes silent. The media pod publishes it on Redis; `kube-sbc run` wires it
   * in-process. `pod` is `instanceId`.
   */
  onTimeout?: (notice: MediaTimeoutNotice) => void
  /** False while draining: offers for new calls are refused, everything else proceeds. */
  accepting?: () => boolean
  logger?: Logger
  /** Wall clock in ms (query timestamps). */
  now?: () => number
  /** Identifier written in `a=rtpengine:` for `loop protect`. */
  instanceId?: string
}

/** Monologue.flags: the latch mode's index in LATCH_MODES (two bits), STRICT. */
const LATCH_MODES: readonly LatchMode[] = ['off', 'once', 'always']
const LATCH_BITS = 3
const STRICT = 4

/**
 * One party (tag) of a call. Its media sections are read through {@link Monologue.media} and
 * {@link Monologue.mediaCount}: section 0 is a field and only further sections get an array, because
 * nearly every call has one section and a one-element array costs ~56 B per party for the whole call.
 */
class Monologue {
  tag: string
  label: string | undefined = undefined
  readonly created: number
  readonly realm: RealmRuntime
  partner: Monologue | undefined = undefined
  /** Our ICE-lite credentials toward the party, while ICE is forced toward it (rewriteSession). */
  ice: { ufrag: string; pwd: string } | undefined = undefined
  /**
   * The party's own ice-ufrag/ice-pwd from its last SDP ({@link iceCredentialsOf}), undefined when it
   * had none: a change is the party's ICE restart (RFC 8445 §9).
   */
  peerIce: string | undefined = undefined
  /** The latch mode (index in LATCH_MODES) and STRICT: one integer rather than two fields. */
  private flags = 1
  private media0: PartyMedia | undefined = undefined
  /** Sections 1… (index i at i − 1), built at their final length; undefined for one section. */
  private more: (PartyMedia | undefined)[] | undefined = undefined

  constructor(tag: string, realm: RealmRuntime, created: number) {
    this.tag = tag
    this.realm = realm
    this.created = created
  }

  /** rtpengine's symmetric / asymmetric / media-handover for this party. */
  get latch(): LatchMode {
    return LATCH_MODES[this.flags & LATCH_BITS] ?? 'once'
  }
  set latch(v: LatchMode) {
    this.flags = (this.flags & ~LATCH_BITS) | Math.max(0, LATCH_MODES.indexOf(v))
  }

  /** strict-source: packets from other sources than the peer are dropped. */
  get strict(): boolean {
    return (this.flags & STRICT) !== 0
  }
  set strict(v: boolean) {
    this.flags = v ? this.flags | STRICT : this.flags & ~STRICT
  }

  /** Media sections held (indexes 0 … mediaCount − 1; an entry may be undefined). */
  get mediaCount(): number {
    return this.more !== undefined ? this.more.length + 1 : this.media0 !== undefined ? 1 : 0
  }

  media(i: number): PartyMedia | undefined {
    return i === 0 ? this.media0 : this.more?.[i - 1]
  }

  setMedia(i: number, pm: PartyMedia | undefined): void {
    if (i === 0) this.media0 = pm
    else this.more = withAt(this.more ?? [], i - 1, pm)
  }

  /**
   * This party's negotiated state (label, latching, ICE credentials and each section's
   * {@link PartyMedia.saved}), and a function that puts it back: a refused re-offer changes nothing
   * (RFC 3264 §8). Sections added since are the offer's own cleanup.
   */
  saved(): () => void {
    const { label, flags, ice, peerIce } = this
    const sections: (() => void)[] = []
    for (let i = 0; i < this.mediaCount; i++) {
      const pm = this.media(i)
      if (pm) sections.push(pm.saved())
    }
    return () => {
      this.label = label
      this.flags = flags
      this.ice = ice
      this.peerIce = peerIce
      for (const restore of sections) restore()
    }
  }
}

/** Call.flags bits. */
const ANSWERED = 1
const TIMEOUT_REPORTED = 2

/**
 * One call of the session table.
 *
 * @remarks
 * The parties by tag are fields, not an array: a call has two (rarely more, when another tag offers
 * in the same call), and a two-element array costs ~64 B for the whole call (a Map with two entries
 * ~300 B). {@link Call.monologues} hands out a list for the code that walks them.
 */
class Call {
  readonly callId: string
  /** The from-tag of the offer that created the call (the NG identity signalling knows it by). */
  readonly fromTag: string
  /** Times as `stamp()`s: ms since the handler started (a small integer, where ms since 1970 is a 16 B heap number). */
  readonly created: number
  lastSignal: number
  /**
   * Since when the parties are expected to send what they send now: the call's first answer, or a
   * later offer or answer that set up a stream or took a party off hold. The media timeout counts
   * no silence from before it; a signal that changes nothing (a session refresh, RFC 4028) leaves it.
   */
  watchFrom: number
  readonly affinity: number
  deleteTimer: NodeJS.Timeout | undefined = undefined
  /**
   * Re-offers not answered yet, oldest first, at most one per offerer: its tag and what puts the
   * session back as it was before it, for a `withdraw offer` (the answerer refused it, RFC 3264 §8).
   * Two at once is glare (both parties re-offered; each gets 491).
   */
  pending: { tag: string; restore: (() => void)[] }[] | undefined = undefined
  private flags = 0
  /** The parties in the order they were added (a removal closes the gap). */
  private m0: Monologue | undefined = undefined
  private m1: Monologue | undefined = undefined
  private more: Monologue[] | undefined = undefined

  constructor(callId: string, fromTag: string, created: number, affinity: number) {
    this.callId = callId
    this.fromTag = fromTag
    this.created = created
    this.lastSignal = created
    this.watchFrom = created
    this.affinity = affinity
  }

  /** An answer arrived: re-offers program the relay at once. */
  get answered(): boolean {
    return (this.flags & ANSWERED) !== 0
  }
  set answered(v: boolean) {
    this.flags = v ? this.flags | ANSWERED : this.flags & ~ANSWERED
  }

  /** The per-call media timeout notice went out. */
  get timeoutReported(): boolean {
    return (this.flags & TIMEOUT_REPORTED) !== 0
  }
  set timeoutReported(v: boolean) {
    this.flags = v ? this.flags | TIMEOUT_REPORTED : this.flags & ~TIMEOUT_REPORTED
  }

  /** The parties in the table, in the order they were added (a new array: callers may keep it). */
  get monologues(): Monologue[] {
    const out: Monologue[] = []
    if (this.m0) out.push(this.m0)
    if (this.m1) out.push(this.m1)
    if (this.more) out.push(...this.more)
    return out
  }

  /** The party holding `tag`. */
  monologue(tag: string): Monologue | undefined {
    if (this.m0?.tag === tag) return this.m0
    if (this.m1?.tag === tag) return this.m1
    return this.more?.find((m) => m.tag === tag)
  }

  /** Puts `m` in the table under its tag (replacing the party holding that tag, else added last). */
  setMonologue(m: Monologue): void {
    const list = this.monologues
    const i = list.findIndex((x) => x.tag === m.tag)
    if (i >= 0) list[i] = m
    else list.push(m)
    this.assign(list)
  }

  /** Takes the party holding `tag` out of the table. */
  removeMonologue(tag: string): void {
    this.assign(this.monologues.filter((m) => m.tag !== tag))
  }

  private assign(list: readonly Monologue[]): void {
    this.m0 = list[0]
    this.m1 = list[1]
    this.more = list.length > 2 ? list.slice(2) : undefined
  }
}

/** Counters for `statistics` and metrics. */
export interface NgHandlerTotals {
  callsCreated: number
  callsDeleted: number
  mediaTimeouts: number
  offers: number
  answers: number
  errors: number
}

/** Shared empty value, so that a plain RTP session holds no per-session empty Map. */
const NO_PT_MAP: ReadonlyMap<number, number> = new Map()

const DEFAULT_SUITES: readonly SrtpSuiteName[] = ['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32']

const hasFlag = (flags: readonly string[] | undefined, f: string) =>
  (flags ?? []).some((x) => x.toLowerCase() === f.toLowerCase())

const isSrtpProto = (p: string) => /SAVP/.test(p)

/** The NG request handler. */
export class MediaNgHandler implements NgRequestHandler {
  private readonly o: NgHandlerOptions
  private readonly calls = new Map<string, Call>()
  private readonly logger: Logger
  private readonly now: () => number
  /** `now()` when the handler started: session times are kept relative to it (see `stamp`). */
  private readonly epoch: number
  private readonly timer: NodeJS.Timeout
  private affinity = 0
  /** Per call-id, the end of its last request still running ({@link MediaNgHandler.inTurn}). */
  private readonly turns = new Map<string, Promise<void>>()
  /** Counters of deleted calls per realm, so metric totals survive the sessions. */
  readonly closedTotals = new Map<string, RealmTotals>()
  readonly totals: NgHandlerTotals = {
    callsCreated: 0,
    callsDeleted: 0,
    mediaTimeouts: 0,
    offers: 0,
    answers: 0,
    errors: 0,
  }

  constructor(options: NgHandlerOptions) {
    this.o = options
    if (!options.realms.has(options.defaultRealm))
      throw new MediaPodError(
        MediaPodErrorCode.unknownRealm,
        `unknown default realm '${options.defaultRealm}'`,
      )
    this.logger = (options.logger ?? nullLogger).child({ module: 'ng-handler' })
    this.now = options.now ?? Date.now
    this.epoch = this.now()
    this.timer = setInterval(() => this.tick(), 1000)
    this.timer.unref()
  }

  /**
   * Now as a session time stamp: ms since the handler started. `| 0` makes it a small integer (a
   * subtraction of two clock readings yields a heap number, and a field first given one keeps a 16 B
   * box per record); after 2^31 ms (24.8 days) stamps stay exact as plain numbers.
   */
  private stamp(): number {
    const d = this.now() - this.epoch
    return d >= 0 && d <= 0x7fffffff ? d | 0 : d
  }

  /** A session time stamp as wall-clock ms. */
  private wall(stamp: number): number {
    return stamp + this.epoch
  }

  /** Calls in the table. */
  get sessionCount(): number {
    return this.calls.size
  }

  /** Calls per realm (a call counts in each realm it uses). */
  sessionsByRealm(): Map<string, number> {
    const out = new Map<string, number>()
    for (const c of this.calls.values()) {
      const realms = new Set(c.monologues.map((m) => m.realm.name))
      for (const r of realms) out.set(r, (out.get(r) ?? 0) + 1)
    }
    return out
  }

  /** Sums of every live endpoint's counters per realm (for metrics). */
  statsByRealm(): Map<string, EndpointStats & { timedOut: number }> {
    const out = new Map<string, EndpointStats & { timedOut: number }>()
    for (const c of this.calls.values()) {
      for (const m of c.monologues) {
        for (let i = 0; i < m.mediaCount; i++) {
          const pm = m.media(i)
          if (!pm) continue
          const s = this.endpointStats(pm)
          if (!s) continue
          const acc = out.get(m.realm.name) ?? { ...zeroStats(), timedOut: 0 }
          acc.packetsIn += s.packetsIn
          acc.bytesIn += s.bytesIn
          acc.packetsOut += s.packetsOut
          acc.bytesOut += s.bytesOut
          acc.rtcpPacketsIn += s.rtcpPacketsIn
          acc.authFailures += s.authFailures
          acc.replayDrops += s.replayDrops
          acc.dropped += s.dropped
          acc.lost += s.lost
          acc.iceChecks += s.iceChecks
          acc.iceFailures += s.iceFailures
          acc.jitter = Math.max(acc.jitter, s.jitter)
          if (pm.timedOut) acc.timedOut++
          out.set(m.realm.name, acc)
        }
      }
    }
    return out
  }

  async handle(request: NgRequest, context: NgRequestContext): Promise<NgResponse> {
    switch (request.command) {
      case 'ping':
        return { result: 'pong' }
      case 'offer':
        this.totals.offers++
        return this.inTurn(request['call-id'], () => this.guard(() => this.offer(request, context), request))
      case 'answer':
        this.totals.answers++
        return this.inTurn(request['call-id'], () => this.guard(() => this.answer(request, context), request))
      case 'delete':
        return this.inTurn(request['call-id'], async () => this.delete(request))
      case 'query':
        return this.query(request)
      case 'list':
        return this.list(request, context)
      case 'statistics':
        return this.statistics()
      case 'withdraw offer':
        return this.inTurn(request['call-id'], () => this.withdrawOffer(request))
    }
  }

  /**
   * Runs the requests of one call one after the other. An offer waits for its binds, and the NG
   * transport serves datagrams as they come: two offers of a new call at once each made a session
   * (the first, replaced in the table, kept its ports for good), and a delete sent during an offer
   * found nothing and left the session the offer then made.
   */
  private inTurn<T>(callId: string, fn: () => Promise<T>): Promise<T> {
    const before = this.turns.get(callId)
    const run = before ? before.then(fn) : fn()
    const done: Promise<void> = run.then(
      () => {},
      () => {},
    )
    this.turns.set(callId, done)
    void done.then(() => {
      if (this.turns.get(callId) === done) this.turns.delete(callId)
    })
    return run
  }

  /**
   * Maps capacity — port exhaustion, a realm at its session limit, a node that cannot take another
   * relay socket — to `load limit` when the client `supports` it (Kamailio's rtpengine module then
   * tries another media pod). Only for an offer that would create the call, as rtpengine: a call
   * this pod holds cannot go to another one for its re-offer (a section added) or its answer (a
   * relay moved to the native workers), so those get the error reply.
   */
  private async guard(
    fn: () => Promise<NgResponse>,
    req: NgOfferRequest | NgAnswerRequest,
  ): Promise<NgResponse> {
    // Read before the request runs (in turn with the call's others): a failed offer of a new call
    // leaves no call behind.
    const creates = req.command === 'offer' && !this.calls.has(req['call-id'])
    try {
      return await fn()
    } catch (e) {
      this.totals.errors++
      const capacity =
        (e instanceof PortAllocatorError && e.code === PortAllocatorErrorCode.exhausted) ||
        (e instanceof MediaPodError && e.code === MediaPodErrorCode.capacity)
      if (capacity && creates && hasFlag(req.supports, 'load limit')) {
        return { result: 'load limit', message: e.message }
      }
      throw e
    }
  }

  // ------------------------------------------------------------------ offer

  private async offer(req: NgOfferRequest, ctx: NgRequestContext): Promise<NgResponse> {
    const sdp = SessionDescription.parse(req.sdp)
    const warnings: string[] = []
    if (hasFlag(req.flags, 'loop-protect') && this.isOwnSdp(sdp)) return { result: 'ok', sdp: req.sdp }
    let call = this.calls.get(req['call-id'])
    let x = call && monologueOf(call, req['from-tag'])
    let y = x?.partner
    const isNew = !call
    if (!call || !x || !y) {
      if (this.o.accepting && !this.o.accepting())
        throw new MediaPodError(MediaPodErrorCode.draining, 'media pod is draining: no new calls')
      const [rx, ry] = this.realmsOf(req)
      const count = this.sessionsByRealm()
      for (const r of new Set([rx, ry])) {
        if ((count.get(r.name) ?? 0) >= r.maxSessions)
          throw new PortAllocatorError(
            PortAllocatorErrorCode.exhausted,
            `realm ${r.name} is at its limit of ${r.maxSessions} sessions`,
          )
      }
      const t = this.stamp()
      call ??= new Call(req['call-id'], req['from-tag'], t, this.affinity++)
      x = new Monologue(req['from-tag'], rx, t)
      y = new Monologue(req['to-tag'] ?? '', ry, t)
      x.partner = y
      y.partner = x
    }
    const xm = x as Monologue
    const ym = y as Monologue
    // A re-offer: what it would change is put back if it fails (the B2BUA answers 488, the session stays).
    const restore = isNew || !call.monologue(xm.tag) ? [] : [xm.saved(), ym.saved()]
    xm.label = req.label ?? xm.label
    this.latchFlags(xm, req.flags)
    // X's own credentials, read before the rewrite below replaces them with ours toward Y.
    const xRestarted = this.learnIce(xm, sdp, true)
    const created: StreamPair[] = []
    const allocated: [PortAllocator, PortAllocation][] = []
    let resumed = false
    let reply: NgResponse
    try {
      for (const [i, m] of sdp.media.entries()) {
        if (m.port === 0 || !m.isRtp) {
          if (m.port !== 0) warnings.push(`media ${i} (${m.proto}) is not RTP: rejected`)
          disableSection(m, ym.realm.advertisedAddress)
          // A stream the offer disables (port 0: a re-INVITE dropping video) carries nothing either
          // way from now on (RFC 3264 §8.2): its silence is no media timeout.
          silence(xm, ym, i)
          continue
        }
        if (m.proto.startsWith('UDP/TLS'))
          throw new MediaPodError(MediaPodErrorCode.unsupported, `DTLS-SRTP (${m.proto}) is not supported`)
        dropFastClocks(m, i, warnings)
        const xMux = m.hasAttribute('rtcp-mux') && !hasFlag(req['rtcp-mux'], 'reject')
        const yMuxOnly = hasFlag(req['rtcp-mux'], 'require')
        const yOfferMux =
          yMuxOnly ||
          hasFlag(req['rtcp-mux'], 'offer') ||
          (m.hasAttribute('rtcp-mux') && !hasFlag(req['rtcp-mux'], 'demux'))
        let xp = xm.media(i)
        let yp = ym.media(i)
        if (!xp || !yp) {
          const { pair, xa, ya } = await this.openStreams(xm.realm, xMux, ym.realm, yMuxOnly, call.affinity)
          allocated.push([xm.realm.allocator, xa], [ym.realm.allocator, ya])
          created.push(pair)
          xp = new PartyMedia(i, intern(m.media), xa.rtp, xa.rtcp)
          yp = new PartyMedia(i, intern(m.media), ya.rtp, ya.rtcp)
          xp.attach(pair, 0)
          yp.attach(pair, 1)
          xm.setMedia(i, xp)
          ym.setMedia(i, yp)
        }
        // What X told us.
        const wasQuiet = quiet(xp)
        this.learnParty(sdp, m, xp, req, ctx)
        if (wasQuiet && !quiet(xp)) resumed = true
        xp.mux = xMux || xp.rtcpPort === undefined
        const offered = cryptos(m)
        const usable = offered.filter((c) => {
          const problem = cryptoProblem(c)
          if (problem) warnings.push(`media ${i}: a=crypto:${c.tag} passed over: ${problem}`)
          return problem === undefined
        })
        // An SRTP party whose keys we cannot use cannot be answered: refuse now, before the other
        // party is offered (and rings) only for its answer to fail.
        if (isSrtpProto(xp.proto) && offered.length > 0 && usable.length === 0)
          throw new MediaPodError(
            MediaPodErrorCode.unsupported,
            `media ${i}: no usable a=crypto offered (${offered.map((c) => `${c.tag}: ${cryptoProblem(c)}`).join('; ')})`,
          )
        xp.offeredIn =
          usable.length === 0
            ? NO_CRYPTOS
            : usable.map((c) => ({ tag: c.tag, suite: c.suite, keyParams: c.keyParams }))
        if (isSrtpProto(xp.proto) && xp.offeredIn.length === 0 && !hasFlag(req.SDES, 'off'))
          warnings.push(`media ${i}: ${xp.proto} without a=crypto`)
        // What Y gets.
        const tp = req['transport protocol']
        const yProto = tp && tp !== 'accept' && !tp.startsWith('UDP/TLS') ? tp : xp.proto
        yp.proto = yProto
        this.rewriteCodecs(m, req, warnings)
        const wishes = payloadTypeWishes(req['payload types'], warnings)
        if (wishes.length > 0) assignPayloadTypes(m, wishes)
        if (req.ptime !== undefined && req.ptime > 0) setPtime(m, req.ptime)
        setProto(m, yProto)
        if (isSrtpProto(yProto)) {
          const suites = this.suitesFor(xp, req.SDES)
          if (suites.length === 0)
            throw new MediaPodError(MediaPodErrorCode.unsupported, `media ${i}: no SRTP suite left to offer`)
          setCryptos(m, this.offerKeys(yp, suites))
        } else {
          setCryptos(m, [])
          yp.offeredOut = null
        }
        for (const a of ['fingerprint', 'setup', 'tls-id']) m.removeAttributes(a)
        this.setEndpoint(m, ym, yp, yMuxOnly ? 'only' : yOfferMux ? 'offer' : 'none', req.flags)
        if (hasFlag(req.flags, 'strip-extmap')) m.removeAttributes('extmap')
        if (hasFlag(req.flags, 'generate-mid') && !m.hasAttribute('mid')) m.setAttribute('mid', String(i))
      }
      this.rewriteSession(sdp, ym, req, 'forward')
      if (hasFlag(req.flags, 'loop-protect')) sdp.setAttribute('rtpengine', this.instanceId())
      reply = withWarnings({ result: 'ok', sdp: sdp.toString() }, warnings)
      // A reply the transport cannot send leaves the client without the session's SDP (it gets an
      // error reply instead): undone here, like any failed offer, so it holds no ports for the hour
      // of the offer timeout, and a re-offer leaves the call as it was (RFC 3264 §8).
      this.checkReplyFits(reply, ctx, req)
    } catch (e) {
      for (const put of restore) put()
      if (isNew || created.length > 0) {
        for (const p of created) p.close()
        for (const [alloc, a] of allocated) alloc.release(a)
        if (!isNew) {
          for (const party of [xm, ym])
            for (let k = 0; k < party.mediaCount; k++) {
              const pm = party.media(k)
              // A section this offer added (its pair is one of `created`): not one that merely has
              // the same port number in another realm (realms on different addresses may share them).
              if (pm?.pair && created.includes(pm.pair)) party.setMedia(k, undefined)
            }
        }
      }
      throw e
    }
    if (isNew) {
      this.calls.set(call.callId, call)
      this.totals.callsCreated++
    }
    call.setMonologue(xm)
    if (ym.tag !== '') call.setMonologue(ym)
    call.lastSignal = this.stamp()
    if (resumed || created.length > 0) call.watchFrom = call.lastSignal
    // RFC 3264 §4: a party offers again only once its last offer was answered or refused, so an
    // entry of its own still there is one whose answer or withdrawal never came: replaced.
    const others = call.pending?.filter((p) => p.tag !== xm.tag) ?? []
    // Sections the re-offer added (video on an audio call) go with it when it is withdrawn.
    if (restore.length > 0 && created.length > 0)
      restore.push(() => this.releaseSections([xm, ym], created, allocated))
    call.pending = restore.length > 0 ? [...others, { tag: xm.tag, restore }] : undefined
    // A re-offer after the answer: the relay follows the offerer's new addresses/keys now.
    if (call.answered) await this.program(xm, xRestarted ? xm : undefined)
    return reply
  }

  /**
   * Refuses an offer whose reply would not fit in one NG datagram with the request's cookie and the
   * transport's warnings ({@link MAX_NG_REPLY}; the transport merges `ctx.warnings` into `warning`).
   * An offer of up to 64 sections may grow past it (our a=crypto keys and ICE candidates per section).
   * Exact only when a cheap bound (3 octets per UTF-16 unit) says it might not fit: nearly every
   * reply is a few kB, and bencoding each twice would cost every call.
   */
  private checkReplyFits(reply: NgResponse, ctx: NgRequestContext, req: NgOfferRequest): void {
    const chars =
      (reply.sdp?.length ?? 0) +
      (reply.warning?.length ?? 0) +
      ctx.warnings.reduce((n, w) => n + w.length + 2, 0) +
      ctx.cookie.length
    if (chars * 3 + 64 <= MAX_NG_REPLY) return
    const size =
      Buffer.byteLength(ctx.cookie) +
      1 +
      bencode(withWarnings(reply, [...(reply.warning !== undefined ? [reply.warning] : []), ...ctx.warnings]))
        .length
    if (size <= MAX_NG_REPLY) return
    this.logger.warn(
      { callId: req['call-id'], fromTag: req['from-tag'], octets: size },
      'Offer refused: its reply does not fit in one NG datagram',
    )
    throw new MediaPodError(
      MediaPodErrorCode.replyTooLarge,
      `the reply (${size} octets) does not fit in one datagram`,
    )
  }

  /**
   * Allocates X's and Y's ports for one media section and binds them. A port another process holds
   * (bind says EADDRINUSE: a realm range overlapping some daemon's ports, a stray socket) does not
   * fail the offer: that side's allocation is set aside and the next one tried, at most
   * {@link BIND_ATTEMPTS} binds in all; running out of ports is the allocator's exhaustion error (NG
   * `load limit` or the error reply), as without the busy ports. The set-aside allocations go back
   * through the allocator's quarantine once this offer is done, so a busy port is tried again no
   * sooner than `quarantineMs` later (and only when the round-robin cursor comes round to it), each
   * time at the cost of one failed bind: the process may have let it go by then.
   */
  private async openStreams(
    xr: RealmRuntime,
    xMux: boolean,
    yr: RealmRuntime,
    yMux: boolean,
    affinity: number,
  ): Promise<{ pair: StreamPair; xa: PortAllocation; ya: PortAllocation }> {
    const busy: [PortAllocator, PortAllocation][] = []
    let xa: PortAllocation | undefined
    let ya: PortAllocation | undefined
    try {
      xa = xr.allocator.allocate({ mux: xMux })
      ya = yr.allocator.allocate({ mux: yMux })
      for (let attempt = 1; ; attempt++) {
        try {
          const pair = await StreamPair.open(this.o.native, this.o.fallback, [
            { bindAddress: xr.bindAddress, rtpPort: xa.rtp, rtcpPort: xa.rtcp, affinity },
            { bindAddress: yr.bindAddress, rtpPort: ya.rtp, rtcpPort: ya.rtcp, affinity },
          ])
          return { pair, xa, ya }
        } catch (e) {
          if (!(e instanceof PortInUseError) || attempt >= BIND_ATTEMPTS) throw e
          const holds = (r: RealmRuntime, a: PortAllocation) =>
            r.bindAddress === e.address && (a.rtp === e.port || a.rtcp === e.port)
          const xBusy = holds(xr, xa)
          const yBusy = holds(yr, ya)
          if (!xBusy && !yBusy) throw e
          this.logger.warn(
            { address: e.address, port: e.port },
            'Media port held by another process: trying another',
          )
          if (xBusy) {
            busy.push([xr.allocator, xa])
            xa = undefined
            xa = xr.allocator.allocate({ mux: xMux })
          }
          if (yBusy) {
            busy.push([yr.allocator, ya])
            ya = undefined
            ya = yr.allocator.allocate({ mux: yMux })
          }
        }
      }
    } catch (e) {
      if (xa) xr.allocator.release(xa)
      if (ya) yr.allocator.release(ya)
      throw e
    } finally {
      for (const [alloc, a] of busy) alloc.release(a)
    }
  }

  // ----------------------------------------------------------------- answer

  private async answer(req: NgAnswerRequest, ctx: NgRequestContext): Promise<NgResponse> {
    const call = this.calls.get(req['call-id'])
    const x = call && monologueOf(call, req['from-tag'])
    const y = x?.partner
    if (!call || !x || !y)
      throw new MediaPodError(
        MediaPodErrorCode.unknownCall,
        `Unknown call-id or from-tag (${req['call-id']})`,
      )
    if (y.tag !== req['to-tag']) {
      // The first answer names the pending party; a later one from another fork takes it over.
      if (y.tag !== '') call.removeMonologue(y.tag)
      y.tag = req['to-tag']
      call.setMonologue(y)
    }
    y.label = req.label ?? y.label
    this.latchFlags(y, req.flags)
    const sdp = SessionDescription.parse(req.sdp)
    const yRestarted = this.learnIce(y, sdp, false)
    const warnings: string[] = []
    let resumed = !call.answered
    for (const [i, m] of sdp.media.entries()) {
      const xp = x.media(i)
      const yp = y.media(i)
      if (!xp || !yp || m.port === 0) {
        disableSection(m, x.realm.advertisedAddress)
        // Y refused or disabled the stream (RFC 3264 §6): nothing flows on it.
        silence(x, y, i)
        continue
      }
      // As in the offer: the relays take no RTP clock above MAX_CLOCK_RATE (the native one refused
      // to be programmed with it, so the answer failed with its bare message, and the dgram one took it).
      dropFastClocks(m, i, warnings)
      const wasQuiet = quiet(yp)
      this.learnParty(sdp, m, yp, req, ctx)
      if (wasQuiet && !quiet(yp)) resumed = true
      yp.mux = yp.rtcpPort === undefined || m.hasAttribute('rtcp-mux')
      // Y's key and the one of ours it picked.
      yp.cryptoIn = null
      yp.cryptoOut = null
      if (isSrtpProto(yp.proto)) {
        const picked = cryptos(m)[0]
        const ours = picked ? yp.offeredOut?.get(picked.tag) : undefined
        if (!picked || !ours || ours.suite !== picked.suite || !isSrtpSuiteName(picked.suite))
          throw new MediaPodError(
            MediaPodErrorCode.unsupported,
            `media ${i}: the answer has no a=crypto matching our offer`,
          )
        const problem = cryptoProblem(picked)
        if (problem)
          throw new MediaPodError(
            MediaPodErrorCode.unsupported,
            `media ${i}: the answer's a=crypto:${picked.tag} is unusable: ${problem}`,
          )
        yp.cryptoIn = keyingOf(picked.suite, picked.keyParams)
        yp.cryptoOut = { ...ours, tag: picked.tag }
      }
      const yCodecs = orderedCodecs(m)
      yp.codecs = yCodecs
      // Toward X: X's protocol, X's payload types, our key for X.
      setProto(m, xp.proto)
      renumberToward(m, yCodecs, xp.codecs)
      if (hasFlag(req.flags, 'single-codec')) keepFirstCodec(m)
      if (req['ptime-reverse'] !== undefined && req['ptime-reverse'] > 0) setPtime(m, req['ptime-reverse'])
      else if (req.ptime !== undefined && req.ptime > 0) setPtime(m, req.ptime)
      if (isSrtpProto(xp.proto)) {
        const pick = this.pickOfferedCrypto(xp, yp.cryptoOut?.suite)
        if (!pick)
          throw new MediaPodError(MediaPodErrorCode.unsupported, `media ${i}: no usable a=crypto offered`)
        xp.cryptoIn = keyingOf(pick.suite, pick.keyParams)
        if (!xp.cryptoOut || xp.cryptoOut.suite !== pick.suite || xp.cryptoOut.tag !== pick.tag) {
          const k = generateSdesKey(pick.suite)
          xp.cryptoOut = {
            suite: pick.suite,
            masterKey: k.masterKey,
            masterSalt: k.masterSalt,
            tag: pick.tag,
          }
        }
        setCryptos(m, [
          { tag: pick.tag, suite: pick.suite, keyParams: fmtKey(xp.cryptoOut), sessionParams: [] },
        ])
      } else {
        xp.cryptoIn = null
        xp.cryptoOut = null
        setCryptos(m, [])
      }
      for (const a of ['fingerprint', 'setup', 'tls-id']) m.removeAttributes(a)
      this.setEndpoint(m, x, xp, xp.mux ? 'only' : 'none', req.flags)
      if (hasFlag(req.flags, 'strip-extmap')) m.removeAttributes('extmap')
    }
    this.rewriteSession(sdp, x, req, 'backward')
    call.answered = true
    const open = call.pending?.filter((p) => p.tag !== x.tag)
    call.pending = open && open.length > 0 ? open : undefined
    call.lastSignal = this.stamp()
    if (resumed) call.watchFrom = call.lastSignal
    await this.program(x, yRestarted ? y : undefined)
    return withWarnings({ result: 'ok', sdp: sdp.toString() }, warnings)
  }

  // ------------------------------------------------------------ SDP helpers

  private realmsOf(req: NgOfferRequest): [RealmRuntime, RealmRuntime] {
    const get = (name: string | undefined) => {
      const r = this.o.realms.get(name ?? this.o.defaultRealm)
      if (!r) throw new MediaPodError(MediaPodErrorCode.unknownRealm, `Unknown interface '${name}'`)
      return r
    }
    const d = req.direction
    if (d && d.length > 0) return [get(d[0]), get(d[1] ?? d[0])]
    const r = get(req.interface)
    return [r, r]
  }

  /**
   * Records the party's ice-ufrag/ice-pwd from its SDP and tells whether they changed while we are its
   * ICE-lite peer: the party restarted ICE (RFC 8445 §9; RFC 8839 §4.4.1.1.2, §4.4.3.1.2). A new ICE
   * session begins, as in rtpengine's ICE agent reset: the nominated pair no longer stands
   * ({@link MediaNgHandler.program}), and an offer draws our new credentials toward the party, which
   * our answer carries to it (RFC 8839: the answerer of a restart changes its own), so checks with the
   * old ones are refused from now on. An answer cannot carry ours to the party (they were in the
   * offer it answers), so after an answer's restart our credentials stay and only the nomination goes.
   */
  private learnIce(party: Monologue, sdp: SessionDescription, offer: boolean): boolean {
    const now = iceCredentialsOf(sdp)
    const restarted =
      party.ice !== undefined &&
      party.peerIce !== undefined &&
      now !== undefined &&
      iceRestarted(party.peerIce, now)
    party.peerIce = now
    if (restarted && offer) party.ice = newIceCredentials()
    return restarted
  }

  private latchFlags(m: Monologue, flags: readonly string[] | undefined): void {
    if (hasFlag(flags, 'asymmetric')) m.latch = 'off'
    else if (hasFlag(flags, 'media-handover')) m.latch = 'always'
    else if (hasFlag(flags, 'symmetric')) m.latch = 'once'
    if (hasFlag(flags, 'strict-source')) m.strict = true
  }

  /** Records the party's address, RTCP address, protocol and codecs from its SDP. */
  private learnParty(
    sdp: SessionDescription,
    m: MediaSection,
    p: PartyMedia,
    req: NgOfferRequest | NgAnswerRequest,
    ctx: NgRequestContext,
  ): void {
    let address = sdp.effectiveConnection(m)?.address
    if (req['media address'] && isIP(req['media address'])) address = req['media address']
    if (hasFlag(req.flags, 'SIP-source-address')) {
      const rf = req['received from']
      address = rf && isIP(rf[1] ?? '') ? (rf[1] as string) : ctx.remote.address
    }
    const unspecified = !address || address === '0.0.0.0' || address === '::'
    const rc = rtcpAttribute(m)
    // The relays send to IP addresses: a host name (RFC 8866 §5.7 allows one) or a multicast group
    // with its TTL is refused here, in the offer, rather than by the relay when the answer programs it
    // after the callee rang. So is an IPv6 address with a zone (`fe80::1%eth0`, RFC 4007 §11): node's
    // isIP takes it, the dgram relay sent to it, and the native relay refused it when programmed.
    for (const a of [unspecified ? undefined : address, rc?.address])
      if (a !== undefined && (isIP(a) === 0 || a.includes('%')))
        throw new MediaPodError(
          MediaPodErrorCode.unsupported,
          `${m.media}: the address '${a.slice(0, 64)}' is not a unicast IP address (host names, multicast groups and zoned IPv6 addresses are not relayed)`,
        )
    p.peerAddress = unspecified ? null : (address as string)
    p.peerPort = unspecified ? 0 : m.port
    // RTCP on the next port (RFC 3550 §11) unless a=rtcp says otherwise; after an RTP port of 65535
    // there is none, and RTCP goes where the party sends its own from (latching), if it does.
    const noRtcp = unspecified || (rc === undefined && m.port === 65_535)
    p.peerRtcpAddress = noRtcp ? null : (rc?.address ?? (address as string))
    p.peerRtcpPort = noRtcp ? 0 : (rc?.port ?? m.port + 1)
    p.proto = intern(m.proto)
    p.codecs = orderedCodecs(m)
    const dir = effectiveDirection(sdp, m)
    const held = sdp.effectiveConnection(m)?.address
    // RFC 3264 §8.4 hold (recvonly, inactive), and the older c=0.0.0.0 hold (RFC 2543): the party
    // sends nothing. A `sendonly` party holds the call too (it may send music, or nothing at all).
    p.silent = dir === 'recvonly' || dir === 'inactive' || held === '0.0.0.0' || held === '::'
    p.held = p.silent || dir === 'sendonly'
  }

  /** rtpengine's `codec` strip/offer/mask/except (no transcoding: mask = strip). */
  private rewriteCodecs(m: MediaSection, req: NgOfferRequest, warnings: string[]): void {
    const c = req.codec
    if (!c) return
    const maps = rtpMaps(m, m.formats)
    const matches = (pt: number, names: readonly string[] | undefined) => {
      const r = maps.get(pt)
      return (names ?? []).some((n) => n.toLowerCase() === 'all' || (r !== undefined && codecMatches(r, n)))
    }
    const strip = [...(c.strip ?? []), ...(c.mask ?? [])]
    for (const k of ['transcode', 'accept', 'consume', 'set'] as const)
      if (c[k]?.length) warnings.push(`codec-${k} is not supported (no transcoding)`)
    const pts = m.formats.map(Number)
    const keep = pts.filter((pt) => !matches(pt, strip) || matches(pt, c.offer) || matches(pt, c.except))
    // Codecs named in `offer` come first, in the order named (the profile's preference).
    const ordered: number[] = []
    for (const name of c.offer ?? [])
      for (const pt of keep) {
        const r = maps.get(pt)
        if (r && codecMatches(r, name) && !ordered.includes(pt)) ordered.push(pt)
      }
    for (const pt of keep) if (!ordered.includes(pt)) ordered.push(pt)
    if (ordered.length === 0)
      throw new MediaPodError(
        MediaPodErrorCode.unsupported,
        `no offered codec of ${m.media} is left after codec filtering`,
      )
    const removed = pts.filter((pt) => !ordered.includes(pt))
    const ptOf = (v: string) => Number(/^(\d{1,3})\b/.exec(v)?.[1] ?? Number.NaN)
    for (const a of ['rtpmap', 'fmtp', 'rtcp-fb']) m.removeAttributes(a, (v) => removed.includes(ptOf(v)))
    m.formats = ordered.map(String)
  }

  private suitesFor(xp: PartyMedia, sdes: readonly string[] | undefined): SrtpSuiteName[] {
    const only = (sdes ?? []).filter((s) => s.startsWith('only-')).map((s) => s.slice(5))
    const no = new Set((sdes ?? []).filter((s) => s.startsWith('no-')).map((s) => s.slice(3)))
    let list: string[]
    if (only.length > 0) list = only
    else if (xp.offeredIn.length > 0) list = xp.offeredIn.map((c) => c.suite)
    else list = [...(this.o.defaultSuites ?? DEFAULT_SUITES)]
    const out: SrtpSuiteName[] = []
    for (const s of list) if (isSrtpSuiteName(s) && !no.has(s) && !out.includes(s)) out.push(s)
    return out
  }

  /** Our keys toward a party: the negotiated one is kept on re-offers; others reused when unchanged. */
  private offerKeys(yp: PartyMedia, suites: readonly SrtpSuiteName[]) {
    const out = yp.cryptoOut
    if (out && suites.includes(out.suite)) {
      yp.offeredOut = new Map([[out.tag, out]])
      return [{ tag: out.tag, suite: out.suite, keyParams: fmtKey(out), sessionParams: [] }]
    }
    const prev = [...(yp.offeredOut?.values() ?? [])].map((k) => k.suite)
    let offered = yp.offeredOut
    if (!offered || prev.length !== suites.length || prev.some((s, i) => s !== suites[i])) {
      offered = yp.offeredOut = new Map(
        suites.map((s, i) => {
          const k = generateSdesKey(s)
          return [i + 1, { suite: s, masterKey: k.masterKey, masterSalt: k.masterSalt }]
        }),
      )
    }
    return [...offered.entries()].map(([tag, k]) => ({
      tag,
      suite: k.suite,
      keyParams: fmtKey(k),
      sessionParams: [] as string[],
    }))
  }

  private pickOfferedCrypto(xp: PartyMedia, prefer: string | undefined) {
    const usable = xp.offeredIn.filter((c) => isSrtpSuiteName(c.suite))
    const pick = usable.find((c) => c.suite === prefer) ?? usable[0]
    return pick ? { ...pick, suite: pick.suite as SrtpSuiteName } : undefined
  }

  /** c=/m= to the realm's address and our port, RTCP, ICE. */
  private setEndpoint(
    m: MediaSection,
    party: Monologue,
    p: PartyMedia,
    mux: 'only' | 'offer' | 'none',
    flags: readonly string[] | undefined,
  ): void {
    const addr = party.realm.advertisedAddress
    if (mux === 'only' || p.rtcpPort === undefined) setMediaEndpoint(m, addr, p.rtpPort, { mux: true })
    else {
      setMediaEndpoint(m, addr, p.rtpPort, { mux: false, port: p.rtcpPort })
      if (mux === 'offer') setRtcpMux(m, true)
    }
    if (hasFlag(flags, 'no-rtcp-attribute')) m.removeAttributes('rtcp')
    else if (hasFlag(flags, 'full-rtcp-attribute')) {
      const port = mux === 'only' || p.rtcpPort === undefined ? p.rtpPort : p.rtcpPort
      m.setAttribute('rtcp', `${port} IN ${addr.includes(':') ? 'IP6' : 'IP4'} ${addr}`)
    }
  }

  /** Session-level edits toward `party`: connection, origin, ICE. */
  private rewriteSession(
    sdp: SessionDescription,
    party: Monologue,
    req: NgOfferRequest | NgAnswerRequest,
    way: 'forward' | 'backward',
  ): void {
    const addr = party.realm.advertisedAddress
    // The other party's addresses never leak (topology hiding): a session c= is always replaced.
    replaceSessionConnection(sdp, addr)
    if (hasFlag(req.replace, 'origin')) replaceOrigin(sdp, addr)
    if (hasFlag(req.replace, 'force-increment-sdp-ver') || hasFlag(req.replace, 'SDP-version'))
      sdp.bumpVersion()
    const ice = hasFlag(req.flags, 'reject-ICE') && way === 'backward' ? 'remove' : (req.ICE ?? 'remove')
    if (ice === 'force' || ice === 'force-relay') {
      party.ice ??= newIceCredentials()
      // The other party's session-level credentials and options would apply to our sections too.
      removeSessionIce(sdp)
      for (const [i, m] of sdp.media.entries()) {
        const p = party.media(i)
        if (!p || m.port === 0) continue
        const host = (component: number, port: number) => ({
          foundation: '1',
          component,
          transport: 'UDP',
          priority: 2130706431 - component + 1,
          address: addr,
          port,
          type: 'host',
          relatedAddress: undefined,
          relatedPort: undefined,
          extensions: [] as [string, string][],
        })
        const list = [host(1, p.rtpPort)]
        if (p.rtcpPort !== undefined && !m.hasAttribute('rtcp-mux')) list.push(host(2, p.rtcpPort))
        setIceCandidates(m, party.ice, list)
      }
    } else {
      removeIce(sdp)
      // No ICE toward the party any more: its relay ports stop answering checks with the old
      // credentials and its nominated pair gives way to its SDP address (endpointConfig).
      party.ice = undefined
    }
    const lite = req['ICE-lite']
    const wantLite =
      (ice === 'force' || ice === 'force-relay') &&
      (lite === 'both' ||
        (way === 'forward' ? lite === 'forward' : lite === 'backward') ||
        lite === undefined)
    setIceLite(sdp, wantLite)
  }

  private isOwnSdp(sdp: SessionDescription): boolean {
    return sdp.attribute('rtpengine') === this.instanceId()
  }

  private instanceId(): string {
    return this.o.instanceId ?? 'kube-sbc'
  }

  // ------------------------------------------------------------------ relay

  /**
   * Programs every media pair between `x` and its partner. `restarted`, one of the two, restarted ICE
   * (learnIce): its endpoints are first programmed without ICE, which in both relays ends the old ICE
   * session (the nominated pair gives way to the party's SDP address, the credentials are dropped),
   * then with our credentials toward it, so the party's checks of the new session nominate anew. The
   * ICE-less moment lasts two synchronous calls; a check caught in it is dropped, and retransmitted.
   */
  private async program(x: Monologue, restarted?: Monologue): Promise<void> {
    const y = x.partner
    if (!y) return
    for (let i = 0; i < x.mediaCount; i++) {
      const xp = x.media(i)
      const yp = y.media(i)
      const pair = xp?.pair
      if (!xp || !yp || !pair || yp.pair !== pair) continue
      const [first, a, second, b] = xp.side === 0 ? [x, xp, y, yp] : [y, yp, x, xp]
      const ca = this.endpointConfig(first, a, b)
      const cb = this.endpointConfig(second, b, a)
      if (restarted !== undefined && pair.programmed)
        await pair.program(
          first === restarted ? { ...ca, ice: null } : ca,
          second === restarted ? { ...cb, ice: null } : cb,
        )
      await pair.program(ca, cb)
    }
  }

  private endpointConfig(party: Monologue, p: PartyMedia, other: PartyMedia): EndpointConfig {
    return {
      rtpPeer: p.peerAddress === null ? null : { address: p.peerAddress, port: p.peerPort },
      rtcpPeer:
        p.mux || p.peerRtcpAddress === null ? null : { address: p.peerRtcpAddress, port: p.peerRtcpPort },
      mux: p.mux,
      latch: party.latch,
      strict: party.strict,
      srtpIn: p.cryptoIn,
      srtpOut: p.cryptoOut,
      ptMap: ptMap(other.codecs, p.codecs),
      clockRate: p.codecs[0]?.clockRate ?? 8000,
      // Set once ICE was forced toward the party (rewriteSession): we are its ICE-lite peer.
      ice: party.ice ?? null,
    }
  }

  private endpointStats(pm: PartyMedia): EndpointStats | undefined {
    return pm.pair?.stats(pm.side)
  }

  /** Every relay pair of the call, once (each hangs off its side-0 party, which may be a pending partner). */
  private forEachPair(call: Call, fn: (pair: StreamPair) => void): void {
    const visit = (m: Monologue) => {
      for (let i = 0; i < m.mediaCount; i++) {
        const pm = m.media(i)
        if (pm?.pair && pm.side === 0) fn(pm.pair)
      }
    }
    const parties = call.monologues
    for (const m of parties) {
      visit(m)
      if (m.partner && !parties.includes(m.partner)) visit(m.partner)
    }
  }

  /** Whether either party's stream of held section `i` received media, or the call was signalled, within `holdLimit`. */
  private heldSectionAlive(
    parties: readonly Monologue[],
    i: number,
    t: number,
    lastSignal: number,
    holdLimit: number,
  ): boolean {
    if (t - this.wall(lastSignal) < holdLimit) return true
    for (const m of parties) {
      const pm = m.media(i)
      const idleMs = pm?.pair?.idleMs(pm.side)
      if (idleMs !== undefined && idleMs >= 0 && idleMs < holdLimit) return true
    }
    return false
  }

  private tick(): void {
    const limit = this.o.mediaTimeoutMs ?? 60_000
    const holdLimit = this.o.holdTimeoutMs ?? 3_600_000
    const offerLimit = this.o.offerTimeoutMs ?? 3_600_000
    const t = this.now()
    for (const call of [...this.calls.values()]) {
      if (!call.answered && offerLimit > 0 && t - this.wall(call.lastSignal) >= offerLimit) {
        // Nobody will delete it: the media timeout watches answered calls only.
        this.logger.warn(
          { callId: call.callId, fromTag: call.fromTag, idleMs: t - this.wall(call.lastSignal) },
          'Deleting a call offered but never answered nor deleted',
        )
        this.destroy(call)
        continue
      }
      this.forEachPair(call, (p) => p.tick())
      if (!call.answered) continue
      // A media section on hold (either party's stream of it sendonly, recvonly, inactive or
      // c=0.0.0.0) is timed by the hold timeout alone, both parties' streams of it: the party that
      // holds may send music or nothing at all (many phones hold without music, and the held party,
      // recvonly, sends nothing either), and users hold calls for minutes, so the media timeout would
      // end live calls. The hold timeout is there for the held call that is really dead (its BYE
      // lost). Per section, as rtpengine picks its timeout per stream: a video a party only receives
      // (recvonly: no camera) does not exempt the call's audio from the media timeout.
      const parties = call.monologues
      for (const m of parties) {
        for (let i = 0; i < m.mediaCount; i++) {
          const pm = m.media(i)
          if (!pm || pm.timedOut) continue
          const held = sectionHeld(parties, i)
          const streamLimit = held ? holdLimit : limit
          if (streamLimit <= 0) continue
          // Off hold, a party that said it sends nothing (a disabled section: a call that dropped
          // its video) is not expected to: its silence is no media timeout.
          if (!held && pm.silent) continue
          // A held section is dead only when nothing of it is alive: music on hold still flowing
          // from the party that holds keeps it (rtpengine keeps a call while a stream is active),
          // though the held party sends nothing.
          if (held && this.heldSectionAlive(parties, i, t, call.lastSignal, holdLimit)) continue
          // Only the idle time: a whole stats snapshot per endpoint every second cost ~15 µs of the
          // event loop per endpoint on the native relay (docs/benchmarks/media.md, Session 4).
          const idleMs = pm.pair?.idleMs(pm.side)
          if (idleMs === undefined) continue
          // From the later of the last packet and the last signal that set up or resumed media
          // (Call.watchFrom): the silence of a hold does not count once a re-INVITE resumed the
          // call, and a session refresh, which changes nothing, does not hide dead media. A party
          // that never sent is counted from the last signal, as before: the pod cannot tell a 183's
          // answer from the 200's, and a caller may send only once the call is answered. A held
          // section is counted from the last signal of any kind: the hold itself is one, and a
          // session refresh shows that signalling still knows the call (what a lost BYE leaves is a
          // call nobody signals for any more).
          const since = held ? call.lastSignal : call.watchFrom
          const idle = idleMs >= 0 ? Math.min(idleMs, t - this.wall(since)) : t - this.wall(call.lastSignal)
          if (idle < streamLimit) continue
          pm.timedOut = true
          this.totals.mediaTimeouts++
          const event = {
            callId: call.callId,
            tag: m.tag,
            partnerTag: m.partner?.tag ?? '',
            mediaIndex: pm.index,
            idleMs: idle,
            hold: held,
          }
          this.logger.info(event, held ? 'Media timeout on hold' : 'Media timeout')
          try {
            this.o.onMediaTimeout?.(event)
          } catch (err) {
            this.logger.warn({ err }, 'Media timeout hook failed')
          }
          if (!call.timeoutReported) {
            call.timeoutReported = true
            try {
              this.o.onTimeout?.({
                callId: call.callId,
                fromTag: call.fromTag,
                pod: this.instanceId(),
                idleSeconds: Math.floor(idle / 1000),
                ...(held ? { hold: true } : {}),
              })
            } catch (err) {
              this.logger.warn({ err }, 'Media timeout notification failed')
            }
            // Signalling ends the call and deletes it. When no delete comes — the call was already
            // hung up but its delete never reached us, it moved to another pod, or nobody got the
            // notice — the session would hold its ports for good: the pod deletes it itself, one
            // period of the timeout that fired later, within 10-60 s (orphanDelayMs).
            if (call.deleteTimer === undefined) {
              const noticed = this.stamp()
              call.deleteTimer = setTimeout(
                () => this.deleteOrphan(call, noticed),
                orphanDelayMs(streamLimit),
              )
              call.deleteTimer.unref()
            }
          }
        }
      }
    }
  }

  // ------------------------------------------------- delete, query, list

  /**
   * kube-sbc extension: the answerer refused the last re-offer of `from-tag` (a non-2xx final
   * response: 488, 491, a CANCELled re-INVITE's 487). RFC 3264 §8: the session stays as it was, so
   * what that offer changed (peer addresses, codecs and payload types, SDES, mux, latching, ICE) is put
   * back and the relay programmed again. Nothing pending for that party (answered since, withdrawn
   * with an earlier offer in glare, a new call) is a warning and changes nothing. Streams the offer
   * added are closed and their ports given back (releaseSections).
   */
  private async withdrawOffer(req: NgWithdrawOfferRequest): Promise<NgResponse> {
    const call = this.calls.get(req['call-id'])
    const x = call && monologueOf(call, req['from-tag'])
    if (!call || !x) return { result: 'ok', warning: "Call-ID not found or tags didn't match" }
    const pending = call.pending ?? []
    const i = pending.findIndex((p) => p.tag === x.tag)
    if (i < 0) return { result: 'ok', warning: 'No offer pending from this party' }
    // Back to before this offer: a later pending offer (glare) was made on top of it and goes too;
    // its own withdrawal then finds nothing to do.
    for (let k = pending.length - 1; k >= i; k--) for (const put of pending[k]!.restore) put()
    call.pending = i > 0 ? pending.slice(0, i) : undefined
    call.lastSignal = this.stamp()
    if (call.answered) await this.program(x)
    return { result: 'ok' }
  }

  /**
   * Takes the sections relayed by `pairs` out of `parties` and gives their ports back (through the
   * allocator's quarantine, as `delete`): what a withdrawn re-offer added. Their counters join the
   * realm's closed totals, so the metrics' counters do not go down.
   */
  private releaseSections(
    parties: readonly Monologue[],
    pairs: readonly StreamPair[],
    allocations: readonly [PortAllocator, PortAllocation][],
  ): void {
    for (const party of parties)
      for (let k = 0; k < party.mediaCount; k++) {
        const pm = party.media(k)
        if (!pm?.pair || !pairs.includes(pm.pair)) continue
        this.keepTotals(party.realm, pm)
        party.setMedia(k, undefined)
      }
    for (const p of pairs) p.close()
    for (const [alloc, a] of allocations) if (alloc.isAllocated(a.rtp)) alloc.release(a)
  }

  /** Adds a closing section's counters to its realm's totals of closed sessions. */
  private keepTotals(realm: RealmRuntime, pm: PartyMedia): void {
    const s = this.endpointStats(pm)
    if (!s) return
    const t = this.closedTotals.get(realm.name) ?? {
      packetsIn: 0,
      bytesIn: 0,
      packetsOut: 0,
      bytesOut: 0,
      authFailures: 0,
      replayDrops: 0,
      lost: 0,
      iceFailures: 0,
      timedOut: 0,
    }
    t.packetsIn += s.packetsIn
    t.bytesIn += s.bytesIn
    t.packetsOut += s.packetsOut
    t.bytesOut += s.bytesOut
    t.authFailures += s.authFailures
    t.replayDrops += s.replayDrops
    t.lost += s.lost
    t.iceFailures += s.iceFailures
    if (pm.timedOut) t.timedOut++
    this.closedTotals.set(realm.name, t)
  }

  private delete(req: NgDeleteRequest): NgResponse {
    const call = this.calls.get(req['call-id'])
    const tagOk =
      call &&
      (!req['from-tag'] || monologueOf(call, req['from-tag'])) &&
      (!req['to-tag'] || monologueOf(call, req['to-tag']) || req['to-tag'] === '')
    if (!call || !tagOk) {
      const reason = "Call-ID not found or tags didn't match"
      if (hasFlag(req.flags, 'fatal')) throw new MediaPodError(MediaPodErrorCode.unknownCall, reason)
      return { result: 'ok', warning: reason }
    }
    const reply = { result: 'ok' as const, ...this.describe(call) }
    const delay = req['delete delay'] ?? 0
    if (delay > 0) {
      clearTimeout(call.deleteTimer)
      call.deleteTimer = setTimeout(() => this.destroy(call), delay * 1000)
      call.deleteTimer.unref()
    } else this.destroy(call)
    return reply
  }

  /**
   * The wait for a `delete` after the media timeout notice (stamp `noticed`) ran out. A call signalling
   * went on with since — an answer or re-offer: it was ringing (a 183's SDP is an NG answer, but
   * signalling ends only confirmed calls), or it was re-anchored here — is alive: it is watched again
   * from now (a later silence is reported anew). Any other is deleted.
   */
  private deleteOrphan(call: Call, noticed: number): void {
    call.deleteTimer = undefined
    if (this.calls.get(call.callId) !== call) return
    if (call.lastSignal <= noticed) {
      this.destroy(call)
      return
    }
    call.timeoutReported = false
    call.watchFrom = this.stamp()
    for (const m of call.monologues)
      for (let i = 0; i < m.mediaCount; i++) {
        const pm = m.media(i)
        if (pm) pm.timedOut = false
      }
  }

  /** Closes every endpoint and returns every port; idempotent. */
  private destroy(call: Call): void {
    if (this.calls.get(call.callId) !== call) return
    clearTimeout(call.deleteTimer)
    this.calls.delete(call.callId)
    this.totals.callsDeleted++
    for (const m of new Set(call.monologues.flatMap((x) => (x.partner ? [x, x.partner] : [x])))) {
      for (let i = 0; i < m.mediaCount; i++) {
        const pm = m.media(i)
        if (pm) this.keepTotals(m.realm, pm)
      }
    }
    this.forEachPair(call, (p) => p.close())
    const seen = new Set<Monologue>()
    for (const m of call.monologues) seen.add(m)
    for (const m of [...seen]) if (m.partner) seen.add(m.partner)
    for (const m of seen)
      for (let i = 0; i < m.mediaCount; i++) {
        const pm = m.media(i)
        if (!pm) continue
        if (m.realm.allocator.isAllocated(pm.rtpPort))
          m.realm.allocator.release({ rtp: pm.rtpPort, rtcp: pm.rtcpPort })
      }
  }

  /** Deletes every call (shutdown). */
  deleteAll(): void {
    for (const c of [...this.calls.values()]) this.destroy(c)
  }

  private query(req: NgQueryRequest): NgResponse {
    const call = this.calls.get(req['call-id'])
    if (!call) throw new MediaPodError(MediaPodErrorCode.unknownCall, 'Unknown call-id')
    return { result: 'ok', ...this.describe(call) }
  }

  private describe(call: Call): Record<string, unknown> {
    const sec = (ms: number) => Math.floor(ms / 1000)
    const totals = { RTP: { packets: 0, bytes: 0, errors: 0 }, RTCP: { packets: 0, bytes: 0, errors: 0 } }
    const tags: Record<string, unknown> = {}
    let timedOut = 0
    const parties = new Set<Monologue>(call.monologues)
    for (const m of [...parties]) if (m.partner) parties.add(m.partner)
    for (const m of parties) {
      const medias = []
      for (let i = 0; i < m.mediaCount; i++) {
        const pm = m.media(i)
        if (!pm) continue
        const s = this.endpointStats(pm) ?? zeroStats()
        totals.RTP.packets += s.packetsIn - s.rtcpPacketsIn
        totals.RTP.bytes += s.bytesIn
        totals.RTP.errors += s.authFailures + s.replayDrops + s.dropped
        totals.RTCP.packets += s.rtcpPacketsIn
        if (pm.timedOut) timedOut++
        const endpoint = (a: PeerAddress | null) =>
          a ? { family: a.address.includes(':') ? 'IPv6' : 'IPv4', address: a.address, port: a.port } : {}
        const flags = ['RTP', ...(pm.mux ? ['RTCP-mux'] : []), ...(pm.timedOut ? ['media-timeout'] : [])]
        medias.push({
          index: pm.index + 1,
          type: pm.type,
          protocol: pm.proto,
          flags,
          streams: [
            {
              'local port': pm.rtpPort,
              ...(pm.rtcpPort !== undefined ? { 'local RTCP port': pm.rtcpPort } : {}),
              endpoint: endpoint(s.peer),
              'advertised endpoint': endpoint(
                pm.peerAddress === null ? null : { address: pm.peerAddress, port: pm.peerPort },
              ),
              ...(pm.cryptoOut ? { 'crypto suite': pm.cryptoOut.suite } : {}),
              'last packet': s.idleMs >= 0 ? sec(this.now() - s.idleMs) : 0,
              flags,
              stats: {
                packets: s.packetsIn,
                bytes: s.bytesIn,
                errors: s.authFailures + s.replayDrops + s.dropped,
                'packets out': s.packetsOut,
                'bytes out': s.bytesOut,
                'auth failures': s.authFailures,
                'replay drops': s.replayDrops,
                'packets lost': s.lost,
                jitter: s.jitter,
                'ICE checks': s.iceChecks,
                'ICE failures': s.iceFailures,
              },
              relay: pm.pair?.backendName ?? '',
            },
          ],
        })
      }
      tags[m.tag] = {
        tag: m.tag,
        ...(m.label !== undefined ? { label: m.label } : {}),
        created: sec(this.wall(m.created)),
        'in dialogue with': m.partner?.tag ?? '',
        medias,
      }
    }
    return {
      created: sec(this.wall(call.created)),
      'last signal': sec(this.wall(call.lastSignal)),
      tags,
      totals,
      'media timeout': timedOut > 0 ? 1 : 0,
    }
  }

  /**
   * Up to `limit` (default 32) call-ids in the table's order, and no more than fit in the reply
   * datagram with the request's cookie and warnings ({@link MAX_NG_REPLY}): a call-id may be 1,024
   * octets, and the client of a reply too long for UDP would hear nothing.
   */
  private list(req: NgListRequest, ctx: NgRequestContext): NgResponse {
    const limit = req.limit ?? 32
    let room =
      MAX_NG_REPLY -
      Buffer.byteLength(ctx.cookie) -
      1 -
      bencode(withWarnings({ result: 'ok', calls: [] }, ctx.warnings)).length
    const calls: string[] = []
    for (const id of this.calls.keys()) {
      const n = Buffer.byteLength(id)
      const size = String(n).length + 1 + n // bencoded: <length>:<octets>
      if (calls.length >= limit || size > room) break
      room -= size
      calls.push(id)
    }
    return { result: 'ok', calls }
  }

  private statistics(): NgResponse {
    return {
      result: 'ok',
      currentstatistics: {
        sessionsown: this.calls.size,
        sessionsforeign: 0,
        sessionstotal: this.calls.size,
        transcodedmedia: 0,
      },
      totalstatistics: {
        managedsessions: this.totals.callsCreated,
        timeoutsessions: this.totals.mediaTimeouts,
        offers: this.totals.offers,
        answers: this.totals.answers,
        errors: this.totals.errors,
      },
    }
  }

  /** Stops the timer and closes every session. */
  close(): void {
    clearInterval(this.timer)
    this.deleteAll()
  }
}

// ------------------------------------------------------------------ helpers

/** Fresh ICE credentials for our side (RFC 8445 §5.3: ufrag ≥ 24 bits, pwd ≥ 128 bits of randomness). */
const newIceCredentials = () => ({
  ufrag: randomBytes(6).toString('hex'),
  pwd: randomBytes(16).toString('hex'),
})

/**
 * A party's ICE credentials as one string: per relayed section its index, ice-ufrag and ice-pwd
 * (media level, else session level, RFC 8839 §5.4), one line each; undefined when it has none.
 * Indexed because sections come and go without a restart (a re-offer adding video, or disabling it
 * with port 0): only a section relayed before and now with other credentials is one
 * ({@link iceRestarted}).
 */
function iceCredentialsOf(sdp: SessionDescription): string | undefined {
  let out = ''
  for (const [i, m] of sdp.media.entries()) {
    if (m.port === 0) continue
    const ufrag = m.attribute('ice-ufrag') ?? sdp.attribute('ice-ufrag')
    const pwd = m.attribute('ice-pwd') ?? sdp.attribute('ice-pwd')
    if (ufrag !== undefined || pwd !== undefined) out += `${i} ${ufrag ?? ''} ${pwd ?? ''}\n`
  }
  // A copy: `out` is a rope of slices of the SDP text, and kept for the call it would keep that
  // whole text alive (measured: ~4 KB per party for a 4 KB SDP, twice the per-session budget).
  return out === '' ? undefined : Buffer.from(out).toString()
}

/**
 * Whether a section relayed in both `before` and `now` ({@link iceCredentialsOf}) changed its
 * ice-ufrag or ice-pwd: the party restarted ICE (RFC 8445 §9). A section new in `now` (a re-offer
 * adding a stream, RFC 3264 §8) may bring credentials of its own and restarts nothing.
 */
function iceRestarted(before: string, now: string): boolean {
  if (before === now) return false
  const old = new Map<string, string>()
  for (const line of before.split('\n')) {
    const sp = line.indexOf(' ')
    if (sp > 0) old.set(line.slice(0, sp), line.slice(sp + 1))
  }
  for (const line of now.split('\n')) {
    const sp = line.indexOf(' ')
    if (sp <= 0) continue
    const was = old.get(line.slice(0, sp))
    if (was !== undefined && was !== line.slice(sp + 1)) return true
  }
  return false
}

/**
 * How long a timed-out call waits for signalling's `delete` before the pod deletes it: one more
 * period of the timeout that fired, at least 10 s and at most 60 s. Signalling needs milliseconds;
 * the rest is for `query`, and for a call rung with a 183's SDP and no early RTP, which signalling
 * leaves alone (it ends confirmed calls only) and which an answer in time makes alive again
 * (deleteOrphan). At most a minute: after a one-hour hold timeout, or a media timeout of a day, one
 * more such period would keep a dead call's ports and `maxSessions` place as long again.
 */
const orphanDelayMs = (timeoutMs: number): number => Math.min(Math.max(timeoutMs, 10_000), 60_000)

/**
 * Media section `i` is on hold: either party's stream of it was last declared sendonly, recvonly,
 * inactive or c=0.0.0.0 (PartyMedia.held); both streams of it are timed by the hold timeout, not the
 * media timeout.
 */
function sectionHeld(parties: readonly Monologue[], i: number): boolean {
  for (const m of parties) if (m.media(i)?.held) return true
  return false
}

/**
 * The party's stream is on hold or carries nothing: when it stops being so, the party is to send
 * again (a resume), and the media timeout counts no silence from before.
 */
const quiet = (p: PartyMedia): boolean => p.silent || p.held

/**
 * Media section `i` of both parties, when they have it, is expected to carry nothing (port 0). A
 * disabled section is no hold (a call that dropped its video is not on hold), whatever it said before.
 */
function silence(x: Monologue, y: Monologue, i: number): void {
  for (const p of [x.media(i), y.media(i)])
    if (p) {
      p.silent = true
      p.held = false
    }
}

function monologueOf(call: Call, tag: string): Monologue | undefined {
  return call.monologue(tag)
}

/**
 * Values most calls repeat (media type, transport protocol, codec lists) shared between session
 * records instead of one copy per party (lib/media/session/interner.ts).
 */
const strings = new Interner<string>(256)
const codecLists = new Interner<readonly RtpMap[]>(256)

const intern = (s: string): string => strings.get(s, s)

function withWarnings(r: NgResponse, warnings: readonly string[]): NgResponse {
  return warnings.length > 0 ? { ...r, warning: warnings.join('; ') } : r
}

const fmtKey = (k: SrtpKeying) =>
  formatSdesKeyParams({ masterKey: Buffer.from(k.masterKey), masterSalt: Buffer.from(k.masterSalt) })

/**
 * Session parameters (RFC 4568 §6.3) that change what the party's packets look like in ways the
 * relays do not implement: its payload left in clear, or no authentication tag.
 */
const UNHONOURED_SESSION_PARAMS: ReadonlySet<string> = new Set([
  'UNENCRYPTED_SRTP',
  'UNENCRYPTED_SRTCP',
  'UNAUTHENTICATED_SRTP',
])

/**
 * Why an a=crypto line cannot key a relay leg, or undefined when it can: a suite we do not
 * implement, a key that does not decode to the suite's length, an MKI (RFC 3711 §3.1: the party's
 * every packet then carries one, which the relays do not strip, so all of them would fail
 * authentication), or a session parameter the relays do not honour. RFC 4568 §7.1.2 has the answerer
 * pick among the lines it can use; the lifetime is accepted (calls end long before 2^31 packets).
 */
function cryptoProblem(c: Crypto): string | undefined {
  if (!isSrtpSuiteName(c.suite)) return `suite ${c.suite} is not supported`
  try {
    const suite = srtpSuite(c.suite)
    if (c.keyParams.split(';').some((k) => parseSdesKeyParams(k, suite).mki !== undefined))
      return 'an MKI is not supported'
  } catch (e) {
    if (e instanceof SrtpKeyError) return e.message
    throw e
  }
  const p = c.sessionParams.find((x) => UNHONOURED_SESSION_PARAMS.has(x.toUpperCase()))
  return p === undefined ? undefined : `session parameter ${p} is not supported`
}

function keyingOf(suite: SrtpSuiteName, keyParams: string): SrtpKeying {
  const k = parseSdesKeyParams(keyParams.split(';')[0] ?? '', srtpSuite(suite))
  return { suite, masterKey: k.masterKey, masterSalt: k.masterSalt }
}

/** `PCMU`, `opus/48000`, `opus/48000/2` against an rtpmap. */
function codecMatches(r: RtpMap, name: string): boolean {
  const [enc = '', clock, ch] = name.split('/')
  return (
    r.encoding.toLowerCase() === enc.toLowerCase() &&
    (clock === undefined || Number(clock) === r.clockRate) &&
    (ch === undefined || Number(ch) === r.channels)
  )
}

/** The highest RTP clock rate the relays take (the unit of a stream's jitter: relaySetClockRate). */
const MAX_CLOCK_RATE = 192_000

/**
 * Takes the codecs with an RTP clock above {@link MAX_CLOCK_RATE} out of the section (the relay could
 * not carry a stream the answer picked among them: the answer would fail after the callee rang); an
 * offer with no other codec is refused, before the callee is offered, and an answer with none before
 * the relay is programmed.
 */
function dropFastClocks(m: MediaSection, i: number, warnings: string[]): void {
  const maps = rtpMaps(m, m.formats)
  const fast = m.formats.map(Number).filter((pt) => (maps.get(pt)?.clockRate ?? 0) > MAX_CLOCK_RATE)
  if (fast.length === 0) return
  const names = fast.map((pt) => `${pt} ${maps.get(pt)?.encoding}/${maps.get(pt)?.clockRate}`).join(', ')
  if (fast.length === m.formats.length)
    throw new MediaPodError(
      MediaPodErrorCode.unsupported,
      `media ${i}: no codec with an RTP clock rate of at most ${MAX_CLOCK_RATE} Hz (${names})`,
    )
  warnings.push(`media ${i}: codecs with an RTP clock rate above ${MAX_CLOCK_RATE} Hz removed (${names})`)
  const ptOf = (v: string) => Number(/^(\d{1,3})\b/.exec(v)?.[1] ?? Number.NaN)
  for (const a of ['rtpmap', 'fmtp', 'rtcp-fb']) m.removeAttributes(a, (v) => fast.includes(ptOf(v)))
  m.formats = m.formats.filter((f) => !fast.includes(Number(f)))
}

/** The section's codecs in its order: a shared frozen list (kept per party for the whole call). */
function orderedCodecs(m: MediaSection): readonly RtpMap[] {
  const maps = rtpMaps(m, m.formats)
  const out: RtpMap[] = []
  let key = ''
  for (const f of m.formats) {
    const r = maps.get(Number(f))
    if (!r) continue
    out.push(Object.freeze({ ...r, encoding: intern(r.encoding) }))
    key += `${r.payloadType} ${r.encoding}/${r.clockRate}/${r.channels};`
  }
  // An array grown by push keeps ~17 slots; the copy holds exactly the codecs.
  return codecLists.get(key, Object.freeze(out.slice()))
}

/**
 * `a` with `v` at `i`, as a new array of exactly the needed length. Session arrays live as long as
 * the call; V8 gives an array grown by assignment or push room for ~17 elements (150 B), so the
 * session table builds them at their final size instead.
 */
function withAt<T>(a: readonly (T | undefined)[], i: number, v: T): (T | undefined)[] {
  return Array.from({ length: Math.max(a.length, i + 1) }, (_, k) => (k === i ? v : a[k]))
}

const sameCodec = (a: RtpMap, b: RtpMap) =>
  a.encoding.toLowerCase() === b.encoding.toLowerCase() &&
  a.clockRate === b.clockRate &&
  a.channels === b.channels

/** Payload type map for packets from the `from` party to the `to` party (only differing types). */
function ptMap(from: readonly RtpMap[], to: readonly RtpMap[]): ReadonlyMap<number, number> {
  let out: Map<number, number> | undefined
  for (const f of from) {
    const t = to.find((x) => sameCodec(x, f))
    if (!t || t.payloadType === f.payloadType) continue
    out ??= new Map<number, number>()
    out.set(f.payloadType, t.payloadType)
  }
  // Most calls need no mapping: they share one empty map instead of holding one each.
  return out ?? NO_PT_MAP
}

/**
 * Rewrites an answer's dynamic payload types to the ones the offerer used for the same codec (RFC
 * 3264 §6.1: the answer SHOULD use the offer's numbers), so each party sees its own numbers and the
 * relay maps between them (RFC 4733 telephone-event on different types included).
 */
function renumberToward(
  m: MediaSection,
  answerCodecs: readonly RtpMap[],
  offerCodecs: readonly RtpMap[],
): void {
  const map = new Map<number, number>()
  for (const a of answerCodecs) {
    const o = offerCodecs.find((x) => sameCodec(x, a))
    if (o && o.payloadType !== a.payloadType) map.set(a.payloadType, o.payloadType)
  }
  if (map.size === 0) return
  const used = new Set(m.formats.map(Number))
  for (const [from, to] of [...map]) if (used.has(to) && !map.has(to)) map.delete(from)
  renumberFormats(m, map)
}

/**
 * The `payload types` extension as wishes for {@link assignPayloadTypes}: `name/clock[/channels]`
 * keys (the profile's codecs); a key without a clock rate is skipped with a warning.
 */
function payloadTypeWishes(
  given: Readonly<Record<string, number>> | undefined,
  warnings: string[],
): PayloadTypeWish[] {
  if (given === undefined) return []
  const out: PayloadTypeWish[] = []
  for (const [spec, payloadType] of Object.entries(given)) {
    const [name = '', clock, channels] = spec.split('/')
    const clockRate = Number(clock)
    const ch = channels === undefined ? 1 : Number(channels)
    if (name === '' || !Number.isInteger(clockRate) || clockRate <= 0 || !Number.isInteger(ch) || ch <= 0) {
      warnings.push(`payload types: '${spec}' is not name/clock[/channels]; ignored`)
      continue
    }
    out.push({ name, clockRate, channels: ch, payloadType })
  }
  return out
}

/**
 * A section we do not relay (disabled with port 0, or not RTP): port 0 (RFC 3264 §6, §8.2), and none
 * of the sender's own data goes on to the other party — a media-level c= becomes our `address`
 * (topology hiding), its a=rtcp, ICE and DTLS attributes and its SDES keys are dropped (a re-INVITE
 * that disables video often leaves the section's attributes as they were).
 */
function disableSection(m: MediaSection, address: string): void {
  if (m.connection) setMediaEndpoint(m, address, 0)
  else {
    m.port = 0
    m.portCount = undefined
  }
  for (const a of [
    'rtcp',
    'crypto',
    'candidate',
    'remote-candidates',
    'ice-ufrag',
    'ice-pwd',
    'fingerprint',
    'setup',
    'tls-id',
  ])
    m.removeAttributes(a)
}

function keepFirstCodec(m: MediaSection): void {
  const [first, ...rest] = m.formats
  if (first === undefined) return
  const maps = rtpMaps(m, m.formats)
  const removed = rest
    .filter((f) => maps.get(Number(f))?.encoding.toLowerCase() !== 'telephone-event')
    .map(Number)
  const ptOf = (v: string) => Number(/^(\d{1,3})\b/.exec(v)?.[1] ?? Number.NaN)
  for (const a of ['rtpmap', 'fmtp', 'rtcp-fb']) m.removeAttributes(a, (v) => removed.includes(ptOf(v)))
  m.formats = m.formats.filter((f) => !removed.includes(Number(f)))
}

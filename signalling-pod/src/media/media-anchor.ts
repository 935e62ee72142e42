/**
 * The B2BUA's media step: anchors each call's media on a media pod through rtpengine's NG protocol.
 *
 * What the B2BUA calls (signalling-pod/src/b2bua/b2bua.ts, `MediaHook`; pass
 * `media: new MediaAnchor({ config, store })` in `B2buaOptions`):
 *
 * - `onOffer(call, fromLeg, sdp)` — an SDP offer arrived on leg `fromLeg` ('a' | 'b'): initial INVITE,
 *   re-INVITE/UPDATE (hold, resume), or a late offer in a 2xx. Returns the SDP to send on the other
 *   leg. Throws {@link MediaSrtpRequiredError} (`sipStatus` 488) when `fromLeg`'s profile is SRTP
 *   Mandatory and the offer has no a=crypto, {@link MediaAnchorError} (`sipStatus` 488 for SDP/codec
 *   problems, 503 when no media pod can take the call).
 * - `onAnswer(call, fromLeg, sdp)` — the SDP answer arrived on `fromLeg` (18x/2xx of the INVITE, 2xx
 *   of a re-INVITE, or the ACK of a late offer). Returns the SDP for the other leg.
 * - `onTerminate(call)` — BYE, CANCEL, failure: deletes the media session (ports back to the pool).
 *
 * `offer`/`answer`/`release` are the same under the `MediaHook` names; `answer` on a call without
 * media yet is treated as a late offer (INVITE without SDP, offer in the 2xx).
 *
 * These methods set `call.media` (`DialogState.media`: pod id, NG call-id, tags) **in place**; the
 * B2BUA must persist the state after the call returns (it already writes the state after each step).
 */
import type { CodecConfig, ProfileConfig, SbcConfig } from '../../../lib/config/model.ts'
import { SbcError } from '../../../lib/errors.ts'
import { NgError, NgRemoteError } from '../../../lib/media/control/errors.ts'
import { NgClient } from '../../../lib/media/control/ng-client.ts'
import type { NgOfferRequest } from '../../../lib/media/control/ng-message.ts'
import { type Logger, nullLogger } from '../../../lib/observability/logger.ts'
import { SessionDescription } from '../../../lib/sdp/session-description.ts'
import type { DialogState, LegName } from '../../../lib/sip/dialog/dialog-state.ts'
import type { DialogStore, MediaPodInfo } from '../../../lib/state/dialog-store.ts'
import { pickByFreeCapacity } from '../../../lib/state/memory-store.ts'

/** Error codes of the media step. */
export const MediaAnchorErrorCode = {
  /** The leg's profile requires SRTP and its SDP has no SDES-keyed RTP/SAVP(F) audio (SIP 488). */
  srtpRequired: 'SBC_ERR_MEDIA_SRTP_REQUIRED',
  /** The media pod refused the SDP (no common codec, bad SDP, unsupported transport): SIP 488. */
  sdpRejected: 'SBC_ERR_MEDIA_SDP_REJECTED',
  /** No media pod serves the realm, or it is full or unreachable: SIP 503. */
  unavailable: 'SBC_ERR_MEDIA_UNAVAILABLE',
} as const
export type MediaAnchorErrorCode = (typeof MediaAnchorErrorCode)[keyof typeof MediaAnchorErrorCode]

/** A media step failure with the SIP status the B2BUA answers with. */
export class MediaAnchorError extends SbcError {
  readonly sipStatus: number
  constructor(code: MediaAnchorErrorCode, message: string, sipStatus: number, options?: ErrorOptions) {
    super(code, message, options)
    this.sipStatus = sipStatus
  }
}

/** The offer has no a=crypto but the leg's profile is SRTP Mandatory: answer 488. */
export class MediaSrtpRequiredError extends MediaAnchorError {
  constructor(leg: LegName, group: string) {
    super(
      MediaAnchorErrorCode.srtpRequired,
      `leg ${leg} (${group}) requires SRTP and the SDP has no a=crypto on RTP/SAVP`,
      488,
    )
  }
}

export interface MediaAnchorOptions {
  /** The current config snapshot (groups → profile and media realm). */
  config: () => SbcConfig
  /** The registry to pick media pods from (`pickMediaPod(realm)`); unused with `fixed`. */
  store?: DialogStore
  /** Standalone: always this NG address (e.g. `kube-sbc run` with an in-process media pod). */
  fixed?: { host: string; port: number; id?: string }
  /** NG shared secret (`kube-sbc-secret`), when the media pods require one. */
  secret?: string
  logger?: Logger
  /** NgClient retransmission timer (ms), default 500. */
  retransmitMs?: number
  /**
   * The registry id of a media pod to use first when it serves the realm (`kube-sbc run`: the
   * media pod in this process), so a call's media stays on the machine that took its INVITE.
   */
  preferPod?: string
}

/**
 * Whether a config anchors media: it has a MediaRealm, or an IPGroup naming one. Every IPGroup names
 * a realm (through its SipInterface), so in practice any config with calls does; a snapshot with
 * neither keeps passing SDP through unchanged, as the B2BUA did before media anchoring.
 */
export function anchorsMedia(config: SbcConfig): boolean {
  return config.realms.length > 0 || config.groups.some((g) => g.mediaRealm !== '')
}

const other = (l: LegName): LegName => (l === 'a' ? 'b' : 'a')

/** The NG flags of one leg, from its IP group's profile and realm. */
interface LegPolicy {
  group: string
  realm: string | undefined
  profile: ProfileConfig | undefined
}

/** See the file comment for the API the B2BUA uses. */
export class MediaAnchor {
  private readonly o: MediaAnchorOptions
  private readonly logger: Logger
  private readonly clients = new Map<string, Promise<NgClient>>()
  private pods: { at: number; list: Promise<MediaPodInfo[]> } | undefined
  /**
   * NG address of each pod picked lately (id → host:port, the oldest dropped past 1,024): a draining
   * pod has left the registry but still serves its calls, and their deletes must reach it.
   */
  private readonly addresses = new Map<string, string>()

  constructor(options: MediaAnchorOptions) {
    this.o = options
    this.logger = (options.logger ?? nullLogger).child({ module: 'media-anchor' })
  }

  // MediaHook names.
  async offer(call: DialogState, from: LegName, sdp: Buffer): Promise<Buffer> {
    if (!call.media && !anchorsMedia(this.o.config())) return sdp
    return this.onOffer(call, from, sdp)
  }
  async answer(call: DialogState, from: LegName, sdp: Buffer): Promise<Buffer> {
    // An answer with no media session yet is the offer of a late-offer call (INVITE without SDP),
    // unless the call was set up without anchoring (a config without realms): then it passes.
    if (!call.media) return anchorsMedia(this.o.config()) ? this.onOffer(call, from, sdp) : sdp
    return this.onAnswer(call, from, sdp)
  }
  release(call: DialogState): Promise<void> {
    return this.onTerminate(call)
  }

  /**
   * The answerer refused the re-offer `from` sent last (a non-2xx final response): the media session
   * goes back to the last agreed offer/answer (RFC 3264 §8) with the NG extension `withdraw offer`.
   *
   * Resolves once the pod has answered, or once the NG client has sent the request a second time
   * (its first retransmission, 500 ms by default), whichever comes first; the B2BUA relays the
   * refusal then. A pod that answers is back on the agreed session before the offerer hears the
   * refusal and offers again, as before; a first datagram lost on the way is sent again before the
   * refusal goes out, so the withdraw still reaches the pod ahead of the offerer's next offer. A pod
   * that does not answer (SIGKILLed, its node lost, still in the registry for up to three heartbeats)
   * no longer holds the refusal for the NG client's whole budget (7.5 s): the offerer's INVITE or
   * UPDATE transaction would sit that long, and an offerer with a shorter timer would give up or send
   * again. The request goes on in the background until its budget ends; the lost-media-pod path
   * (media-pod-watch.ts, call-reanchor.ts) re-anchors the call on another pod.
   *
   * Never throws: a pod that does not know the command (plain rtpengine) or cannot be reached keeps
   * the refused offer, as before, and that is logged.
   */
  async withdrawOffer(call: DialogState, from: LegName): Promise<void> {
    const media = call.media
    if (!media) return
    const failed = (err: unknown) =>
      this.logger.warn(
        { err, dialogId: call.id },
        'Could not withdraw the refused re-offer from the media session',
      )
    let pod: { id: string; client: NgClient }
    try {
      pod = await this.podFor(call, undefined)
    } catch (err) {
      failed(err)
      return
    }
    await new Promise<void>((sent) => {
      pod.client
        .withdrawOffer({ 'call-id': media.ngCallId, 'from-tag': from }, { onRetransmit: () => sent() })
        .then((r) => {
          if (r.warning)
            this.logger.debug({ dialogId: call.id, warning: r.warning }, 'Offer withdrawn: nothing pending')
        }, failed)
        .finally(sent)
    })
  }

  /** An offer on `from`: returns the SDP for the other leg. */
  async onOffer(call: DialogState, from: LegName, sdp: Buffer): Promise<Buffer> {
    const x = this.policy(call, from)
    const y = this.policy(call, other(from))
    const text = sdp.toString('utf8')
    if (x.profile?.srtp.mode === 'Mandatory' && !allAudioIsSrtp(text))
      throw new MediaSrtpRequiredError(from, x.group)
    if (call.media) {
      // A re-offer (re-INVITE, UPDATE, hold): same media pod. If that pod is gone (SIGKILL, node
      // lost: unregistered, heartbeat expired, or not answering), the call is re-anchored on
      // another pod: this offer creates a new session there, and the answer to it (on the way
      // back) gives the offerer the new pod's address, so both legs move in one transaction.
      try {
        return await this.offerOn(await this.podFor(call, undefined), call, from, text, x, y)
      } catch (e) {
        if (!(e instanceof MediaAnchorError) || e.code !== MediaAnchorErrorCode.unavailable) throw e
        this.logger.warn({ dialogId: call.id, pod: call.media.pod, err: e.message }, 'Re-anchoring the call')
        const old = call.media
        delete call.media
        try {
          const fresh = await this.podFor(call, x.realm ?? y.realm, old.pod)
          return await this.offerOn(fresh, call, from, text, x, y)
        } catch (e2) {
          call.media = old
          throw e2
        }
      }
    }
    const realm = x.realm ?? y.realm
    const pod = await this.podFor(call, realm)
    try {
      return await this.offerOn(pod, call, from, text, x, y)
    } catch (e) {
      // SIGTERM: a media pod refuses new calls at once, while the registry lists read a moment ago
      // (cached up to a second, the watch polls every second) still name it. The call goes to the
      // next pick instead of failing 503.
      if (!(e instanceof MediaAnchorError) || !/draining/i.test(e.message) || this.o.fixed) throw e
      this.podLeft(pod.id)
      return this.offerOn(await this.podFor(call, realm, pod.id), call, from, text, x, y)
    }
  }

  /**
   * Re-anchoring (call-reanchor.ts): the offer from `from` on a new session on another media pod
   * than `lost`, read from a fresh registry, whatever `call.media` names. Sets `call.media` to the
   * new pod; returns the SDP for the other leg. Throws `MediaAnchorError` as `onOffer` does.
   */
  async moveOffer(call: DialogState, from: LegName, sdp: Buffer, lost: string): Promise<Buffer> {
    const x = this.policy(call, from)
    const y = this.policy(call, other(from))
    const moving = { ...call }
    delete moving.media
    await this.registry(true)
    const pod = await this.podFor(moving, x.realm ?? y.realm, lost)
    return this.offerOn(pod, call, from, sdp.toString('utf8'), x, y)
  }

  /**
   * The registry watch saw pod `id` leave: the next pick reads the registry again instead of the
   * list cached for up to a second, which may still name it (a new call there would wait out the
   * NG timeout, 7.5 s, and get 503).
   */
  podLeft(id: string): void {
    this.logger.debug({ pod: id }, 'Media pod left: registry cache dropped')
    this.pods = undefined
  }

  /** Whether a live media pod other than `lost` serves the call's realm (fresh registry read). */
  async hasPodFor(call: DialogState, lost: string): Promise<boolean> {
    const realm = this.policy(call, 'a').realm ?? this.policy(call, 'b').realm
    if (this.o.fixed || !realm) return false
    const pods = (await this.registry(true)).filter((p) => p.id !== lost)
    return pickByFreeCapacity(pods, realm) !== undefined
  }

  /**
   * Whether the NG server at `address` (host:port) answers a ping within about 1.4 s (a short,
   * one-off client: this decides whether a pod that left the registry is draining or dead).
   */
  async answersPing(address: string): Promise<boolean> {
    const i = address.lastIndexOf(':')
    let client: NgClient | undefined
    try {
      client = await NgClient.connect({
        host: address.slice(0, i),
        port: Number(address.slice(i + 1)),
        retransmitMs: 200,
        retransmissions: 2,
        ...(this.o.secret !== undefined ? { secret: this.o.secret } : {}),
        logger: this.logger,
      })
      await client.ping()
      return true
    } catch {
      return false
    } finally {
      await client?.close()
    }
  }

  private async offerOn(
    pod: { id: string; client: NgClient },
    call: DialogState,
    from: LegName,
    text: string,
    x: LegPolicy,
    y: LegPolicy,
  ): Promise<Buffer> {
    const req: Omit<NgOfferRequest, 'command'> = {
      'call-id': call.id,
      'from-tag': from,
      'to-tag': other(from),
      sdp: text,
      label: from,
      replace: ['origin', 'session-connection'],
      flags: [x.profile?.symmetricRtp === false ? 'asymmetric' : 'symmetric'],
      ...(x.realm && y.realm ? { direction: [x.realm, y.realm] } : {}),
      ...towardFlags(x.profile, y.profile),
    }
    const r = await this.send(pod, () => offerAvoidingBusyPorts(pod.client, req))
    call.media = { pod: pod.id, ngCallId: call.id, fromTag: from }
    return Buffer.from(r.sdp, 'utf8')
  }

  /** An answer on `from` (to the other leg's offer): returns the SDP for the other leg. */
  async onAnswer(call: DialogState, from: LegName, sdp: Buffer): Promise<Buffer> {
    const offerer = other(from)
    const x = this.policy(call, offerer)
    const y = this.policy(call, from)
    const text = sdp.toString('utf8')
    if (y.profile?.srtp.mode === 'Mandatory' && !allAudioIsSrtp(text))
      throw new MediaSrtpRequiredError(from, y.group)
    const pod = await this.podFor(call, x.realm ?? y.realm)
    const ptime = x.profile?.codecs[0]?.ptime
    const r = await this.send(pod, () =>
      pod.client.answer({
        'call-id': call.id,
        'from-tag': offerer,
        'to-tag': from,
        sdp: text,
        label: from,
        replace: ['origin', 'session-connection'],
        flags: [y.profile?.symmetricRtp === false ? 'asymmetric' : 'symmetric'],
        ...(x.profile?.iceLite ? { ICE: 'force', 'ICE-lite': 'backward' } : { ICE: 'remove' }),
        ...(ptime ? { 'ptime-reverse': ptime } : {}),
      }),
    )
    call.media = { pod: pod.id, ngCallId: call.id, fromTag: offerer, toTag: from }
    return Buffer.from(r.sdp, 'utf8')
  }

  /** Deletes the call's media session; never throws (the media pod's timeout cleans up otherwise). */
  async onTerminate(call: DialogState): Promise<void> {
    const media = call.media
    if (!media) return
    let pod: { id: string; client: NgClient }
    try {
      pod = await this.podFor(call, undefined)
    } catch (err) {
      // Out of the registry: draining (SIGTERM: it relays its calls until they are deleted) or
      // dead. The delete goes to its last address without waiting: a dead pod would hold this up
      // for the NG client's whole retransmission budget.
      const address = this.addresses.get(media.pod)
      if (!(err instanceof MediaAnchorError) || address === undefined) {
        this.logger.warn({ err, dialogId: call.id }, 'Could not delete the media session')
        return
      }
      const i = address.lastIndexOf(':')
      void this.client(address.slice(0, i), Number(address.slice(i + 1)))
        .then((c) => c.delete({ 'call-id': media.ngCallId }))
        .catch((e: unknown) =>
          this.logger.warn(
            { err: e, dialogId: call.id, pod: media.pod },
            'Could not delete the media session',
          ),
        )
      return
    }
    try {
      await pod.client.delete({ 'call-id': media.ngCallId })
    } catch (err) {
      this.logger.warn({ err, dialogId: call.id }, 'Could not delete the media session')
    }
  }

  /** Closes the NG clients. */
  async close(): Promise<void> {
    for (const c of this.clients.values()) await (await c).close()
    this.clients.clear()
  }

  private policy(call: DialogState, leg: LegName): LegPolicy {
    const cfg = this.o.config()
    const group = call[leg].ipGroup
    const g = cfg.groups.find((x) => x.name === group)
    return {
      group,
      realm: g?.mediaRealm,
      profile: g ? cfg.profiles.find((p) => p.name === g.profile) : undefined,
    }
  }

  /** The call's media pod (sticky once chosen), else the registry's pick for `realm`. */
  private async podFor(
    call: DialogState,
    realm: string | undefined,
    exclude?: string,
  ): Promise<{ id: string; client: NgClient }> {
    if (this.o.fixed) {
      const { host, port } = this.o.fixed
      return { id: this.o.fixed.id ?? `${host}:${port}`, client: await this.client(host, port) }
    }
    const id = call.media?.pod
    let info = id
      ? ((await this.registry(false)).find((p) => p.id === id) ??
        (await this.registry(true)).find((p) => p.id === id))
      : undefined
    if (!info && !call.media && realm) {
      const pods = (await this.registry(false)).filter((p) => p.id !== exclude)
      info =
        pods.find((p) => p.id === this.o.preferPod && p.realms.includes(realm) && p.active < p.capacity) ??
        pickByFreeCapacity(pods, realm)
    }
    if (!info)
      throw new MediaAnchorError(
        MediaAnchorErrorCode.unavailable,
        call.media ? `media pod ${call.media.pod} is gone` : `no media pod serves realm ${realm ?? '(none)'}`,
        503,
      )
    this.addresses.delete(info.id)
    this.addresses.set(info.id, info.address)
    if (this.addresses.size > 1024) this.addresses.delete(this.addresses.keys().next().value as string)
    const i = info.address.lastIndexOf(':')
    return {
      id: info.id,
      client: await this.client(info.address.slice(0, i), Number(info.address.slice(i + 1))),
    }
  }

  /**
   * The media pod registry, read at most once a second (pods heartbeat every 5 s, so a second-old
   * list is as good as a fresh one, and a call costs one Redis round trip less). A registry that
   * cannot be read means no media pod can be reached: `unavailable` (503).
   */
  private async registry(fresh: boolean): Promise<MediaPodInfo[]> {
    const store = this.o.store
    if (!store) throw new MediaAnchorError(MediaAnchorErrorCode.unavailable, 'no media pod registry', 503)
    const now = Date.now()
    if (fresh || !this.pods || now - this.pods.at > 1000) {
      const list = store.listMediaPods()
      this.pods = { at: now, list }
      list.catch(() => {
        if (this.pods?.list === list) this.pods = undefined
      })
    }
    try {
      return await this.pods.list
    } catch (err) {
      throw new MediaAnchorError(
        MediaAnchorErrorCode.unavailable,
        `media pod registry: ${(err as Error).message}`,
        503,
        { cause: err },
      )
    }
  }

  private client(host: string, port: number): Promise<NgClient> {
    const key = `${host}:${port}`
    let c = this.clients.get(key)
    if (!c) {
      c = NgClient.connect({
        host,
        port,
        ...(this.o.secret !== undefined ? { secret: this.o.secret } : {}),
        ...(this.o.retransmitMs !== undefined ? { retransmitMs: this.o.retransmitMs } : {}),
        logger: this.logger,
      })
      this.clients.set(key, c)
    }
    return c
  }

  private async send<T>(pod: { id: string }, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (e) {
      if (e instanceof NgRemoteError) {
        const full = CAPACITY_REASON.test(e.reason)
        throw new MediaAnchorError(
          full ? MediaAnchorErrorCode.unavailable : MediaAnchorErrorCode.sdpRejected,
          `media pod ${pod.id}: ${e.reason}`,
          full ? 503 : 488,
          { cause: e },
        )
      }
      if (e instanceof NgError)
        throw new MediaAnchorError(
          MediaAnchorErrorCode.unavailable,
          `media pod ${pod.id}: ${e.message}`,
          503,
          {
            cause: e,
          },
        )
      throw e
    }
  }
}

/**
 * NG error reasons that mean capacity, not the SDP (→ 503): the media pod's port allocator ("no free
 * RTP/RTCP port pair in …", "no free port in …"), its session limit ("… at its limit of N sessions"),
 * draining, a port it cannot bind; rtpengine's "Ran out of ports" and load limit. Named phrases, not
 * the bare word "port": that is also in "not supported" and "transport", which refuse the SDP (488).
 */
const CAPACITY_REASON =
  /no free (?:RTP\/RTCP )?port|out of ports|load limit|draining|limit of|cannot bind|EADDRINUSE/i

/**
 * Sends an offer, again (at most twice more) when the media pod could not bind the port it picked
 * because another process on the node holds it: the pod releases what a failed offer took and its
 * allocator walks the range round-robin, so the next try gets other ports (rtpengine likewise moves
 * on to the next port when a bind fails).
 */
async function offerAvoidingBusyPorts(client: NgClient, req: Omit<NgOfferRequest, 'command'>) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await client.offer(req)
    } catch (e) {
      if (attempt >= 3 || !(e instanceof NgRemoteError) || !/bind|EADDRINUSE/i.test(e.reason)) throw e
    }
  }
}

/** Flags for the offer toward the other leg, from both profiles. */
function towardFlags(x: ProfileConfig | undefined, y: ProfileConfig | undefined): Partial<NgOfferRequest> {
  const out: Partial<NgOfferRequest> = {}
  if (y) {
    if (y.srtp.mode === 'Mandatory') out['transport protocol'] = 'RTP/SAVP'
    else if (y.srtp.mode === 'Off') out['transport protocol'] = 'RTP/AVP'
    if (y.srtp.mode !== 'Off' && y.srtp.cryptoSuites.length > 0)
      out.SDES = y.srtp.cryptoSuites.map((s) => `only-${s}`)
    if (y.codecs.length > 0) {
      const allowed = x && x.codecs.length > 0 ? x.codecs : y.codecs
      const kept = y.codecs.filter((c) =>
        allowed.some((a) => sameName(a.name, c.name) && a.clockRate === c.clockRate),
      )
      const spec = (c: CodecConfig) => `${c.name}/${c.clockRate}${c.channels > 1 ? `/${c.channels}` : ''}`
      out.codec = { strip: ['all'], offer: [...kept.map(spec), 'telephone-event'] }
      // Dynamic codecs on the profile's numbers toward Y (opus on 111 whatever X used); the media
      // pod renumbers the SDP and maps RTP between the legs' numbers.
      const dynamic = kept.filter((c) => c.payloadType >= 96)
      if (dynamic.length > 0)
        out['payload types'] = Object.fromEntries(dynamic.map((c) => [spec(c), c.payloadType]))
      const ptime = y.codecs[0]?.ptime
      if (ptime) out.ptime = ptime
    }
    out['rtcp-mux'] = [y.rtcpMux ? 'offer' : 'demux', ...(x?.rtcpMux === false ? ['reject'] : [])]
    if (y.iceLite) {
      out.ICE = 'force'
      out['ICE-lite'] = 'forward'
    } else out.ICE = 'remove'
  }
  return out
}

const sameName = (a: string, b: string) => a.toLowerCase() === b.toLowerCase()

/**
 * Whether every active audio section is SDES-keyed SRTP: an RTP/SAVP(F) profile with a=crypto. The
 * media pod keys SRTP by the profile, so a=crypto on RTP/AVP (RFC 8643's best-effort SRTP) would be
 * answered as plain RTP on a leg that must be SRTP.
 */
function allAudioIsSrtp(sdp: string): boolean {
  let parsed: SessionDescription
  try {
    parsed = SessionDescription.parse(sdp)
  } catch (e) {
    // A refusal of the SDP (488), as the media pod answers one it cannot parse, not an exception
    // that leaves the accepted call pending.
    throw new MediaAnchorError(
      MediaAnchorErrorCode.sdpRejected,
      `malformed SDP: ${(e as Error).message}`,
      488,
      {
        cause: e,
      },
    )
  }
  const audio = parsed.media.filter((m) => m.media === 'audio' && m.port !== 0)
  return audio.length > 0 && audio.every((m) => /^RTP\/SAVPF?$/i.test(m.proto) && m.hasAttribute('crypto'))
}

/**
 * Moves the calls of a lost media pod to another one, or ends them (issue 5, Deliver 4; docs/b2bua.md,
 * "A media pod disappears: re-anchoring"). What we built is the re-INVITE answer: signalling itself
 * re-INVITEs both legs toward a new media pod, without waiting for either peer to send a re-offer.
 *
 * Per call, in one signalling process (a claim, below), RFC 3725-style since signalling keeps no
 * copy of either peer's SDP (it would cost every call's Redis record two SDP bodies):
 * 1. an offerless re-INVITE to leg A (RFC 3261 §14.1): A's 2xx carries its current SDP as an offer;
 * 2. that offer goes to a new session on another live media pod serving the realm (NG `offer`, flags
 *    from both legs' IP profiles: SRTP per profile with the new pod's own keys, codecs, rtcp-mux),
 *    and the rewritten SDP (the new pod's address and port) goes to leg B in a re-INVITE;
 * 3. B's 2xx is ACKed and its SDP is the NG `answer`; the rewritten answer goes to A in the ACK of
 *    A's 2xx;
 * 4. `DialogState.media` names the new pod (compare-and-set, with the CSeqs the re-INVITEs wrote).
 * Both SDPs sent carry the `o=` session version last sent on their leg plus one (RFC 3264 §8; the
 * leg's `sdpVersion`, stored with the media reference; the peer's own version plus one when the leg
 * has none), so a peer's later re-offer, counted on from there, repeats no version.
 * A re-INVITE refused with 491 (glare: the peer's own re-INVITE crossed ours) is sent again after
 * RFC 3261 §14.1's wait, at most {@link GLARE_RETRIES} times, unless the call moved meanwhile (the
 * peer's re-offer re-anchors it too, see media-anchor.ts).
 *
 * No other pod serves the realm, a re-INVITE fails (non-2xx, timeout, a 2xx without SDP) or the new
 * pod refuses the SDP: BYE on both legs, CDR `hangup {by: sbc, reason: media-pod-lost, detail}`.
 * A pod that left the registry but still answers NG is draining (SIGTERM, it unregistered and
 * relays until its grace period ends): its calls are moved when another pod can take them, else left
 * to run on it.
 *
 * Exactly once across processes: every signalling process watches the registry and scans for the
 * lost pod's calls; per call, a lease `reanchor:<call id>` (SET if absent, with expiry) picks the
 * one that acts, and the call must still name the lost pod when read after the claim (a peer's
 * re-offer may have moved it first). Early calls (not yet answered) are not moved: their INVITE
 * transaction lives in one process, and their answer, sent to the lost pod, fails the call with 503
 * to the caller (docs/b2bua.md).
 */
import { randomBytes } from 'node:crypto'
import type { Logger } from '../../../lib/observability/logger.ts'
import type { DialogState, LegName } from '../../../lib/sip/dialog/dialog-state.ts'
import type { SipResponse } from '../../../lib/sip/message/message.ts'
import type { DialogStore, MediaPodInfo } from '../../../lib/state/dialog-store.ts'
import { isStateUnavailable, VersionConflictError } from '../../../lib/state/errors.ts'
import type { Hangup } from '../b2bua/b2bua.ts'
import { MediaAnchorError } from './media-anchor.ts'
import { ownVersionToward, withSdpVersion } from './sdp-version.ts'

/** What re-anchoring needs of the B2BUA (`B2bua`). */
export interface ReanchorSignalling {
  reinviteLeg(
    dialogId: string,
    leg: LegName,
    sdp?: Buffer,
  ): Promise<{ state: DialogState; response: SipResponse; ack: (sdp?: Buffer) => Promise<void> } | undefined>
  hangUp(dialogId: string, hangup: Hangup): Promise<boolean>
}

/** What re-anchoring needs of the media step (`MediaAnchor`). */
export interface ReanchorMedia {
  moveOffer(call: DialogState, from: LegName, sdp: Buffer, lost: string): Promise<Buffer>
  answer(call: DialogState, from: LegName, sdp: Buffer): Promise<Buffer>
  hasPodFor(call: DialogState, lost: string): Promise<boolean>
  answersPing(address: string): Promise<boolean>
}

export interface CallReanchorOptions {
  store: DialogStore
  signalling: ReanchorSignalling
  media: ReanchorMedia
  /** This process (the claim's owner, with a random suffix per claim). */
  podName: string
  logger: Logger
  /** How long a claim holds (ms): longer than two re-INVITE transactions. Default 70 s. */
  claimMs?: number
  /** Calls moved at once per lost pod (each is a few SIP and NG round trips). Default 16. */
  concurrency?: number
  /** Counted per call handled (`sbc_media_pod_lost_calls_total{outcome}`). */
  onOutcome?: (outcome: ReanchorOutcome) => void
  /** See {@link STORE_RETRIES}. */
  storeRetries?: number
  /** See {@link STORE_RETRY_MS}. */
  storeRetryMs?: number
}

/** What became of one call. */
export type ReanchorOutcome = 'moved' | 'ended' | 'left' | 'skipped'

/** How often a re-INVITE refused with 491 (glare) is sent again before the move gives up. */
export const GLARE_RETRIES = 2

/**
 * RFC 3261 §14.1: the wait before re-sending a re-INVITE refused with 491 on `leg`, in units of
 * 10 ms: 2.1–4 s when the UAC owns the dialog's Call-ID — the SBC generated leg B's — and 0–2 s
 * otherwise (leg A's is the caller's). Two retries wait at most 8 s on leg B, well inside the
 * 64·T1 in which A retransmits the 2xx the move has not ACKed yet.
 */
export function glareDelayMs(leg: LegName, random: () => number = Math.random): number {
  const [min, max] = leg === 'b' ? [210, 400] : [0, 200]
  return 10 * (min + Math.floor(random() * (max - min + 1)))
}

/**
 * How often the calls of a lost pod are listed or handled again after a store error (see
 * `CallReanchor.podLost`), and the wait before each round: 2.5 s in all rides out a stalled or
 * briefly unreachable Redis without holding a lost pod's calls for long.
 */
export const STORE_RETRIES = 5
export const STORE_RETRY_MS = 500

/** The reason the CDR of a call ended by a lost media pod carries. */
export const MEDIA_POD_LOST = 'media-pod-lost'

/** See the file comment. */
export class CallReanchor {
  readonly #o: CallReanchorOptions
  readonly #log: Logger

  constructor(options: CallReanchorOptions) {
    this.#o = options
    this.#log = options.logger.child({ module: 'call-reanchor' })
  }

  /**
   * Moves or ends every call anchored on `pod`, which left the registry. Never throws.
   *
   * The watch reports a pod once, so a store error here would strand its calls on a dead pod for
   * good: the listing, and each call whose handling failed on the store (Redis briefly slow or
   * unreachable: `SBC_ERR_STATE_UNAVAILABLE`, the store's short command deadline), are tried again
   * after {@link STORE_RETRY_MS}, at most {@link STORE_RETRIES} times. Safe to repeat: a call is
   * acted on only under its claim and while it still names the lost pod.
   */
  async podLost(pod: MediaPodInfo): Promise<Record<ReanchorOutcome, number>> {
    const counts: Record<ReanchorOutcome, number> = { moved: 0, ended: 0, left: 0, skipped: 0 }
    // Asked at most once per lost pod, and only when a call has nowhere else to go.
    let alive: Promise<boolean> | undefined
    const draining = () => {
      alive ??= this.#o.media.answersPing(pod.address)
      return alive
    }
    // One claim owner for every round: a claim whose release met the store error is this
    // handling's own still, and is taken again by the next round (not left to expire).
    const owner = `${this.#o.podName}:${randomBytes(6).toString('hex')}`
    let listed = 0
    let retry: string[] | undefined
    for (let round = 0; ; round++) {
      if (round > 0)
        await new Promise((resolve) => setTimeout(resolve, this.#o.storeRetryMs ?? STORE_RETRY_MS))
      const last = round >= (this.#o.storeRetries ?? STORE_RETRIES)
      let ids: string[]
      try {
        ids = retry ?? (await this.#o.store.callsOnMediaPod(pod.id))
      } catch (err) {
        if (!last && isStateUnavailable(err)) continue
        this.#log.warn({ err, pod: pod.id }, 'Could not list the calls of a lost media pod')
        break
      }
      if (!retry) listed = ids.length
      const again: string[] = []
      const queue = [...ids]
      const worker = async () => {
        for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
          const outcome = await this.reanchor(id, pod.id, draining, owner).catch((err: unknown) => {
            if (!last && isStateUnavailable(err)) {
              this.#log.info(
                { err, dialogId: id, pod: pod.id },
                'Re-anchoring met a store error; trying again',
              )
              again.push(id)
              return undefined
            }
            this.#log.warn({ err, dialogId: id, pod: pod.id }, 'Re-anchoring failed')
            return 'skipped' as const
          })
          if (outcome === undefined) continue
          counts[outcome]++
          this.#o.onOutcome?.(outcome)
        }
      }
      await Promise.all(Array.from({ length: Math.min(ids.length, this.#o.concurrency ?? 16) }, worker))
      if (again.length === 0) break
      retry = again
    }
    this.#log.info({ pod: pod.id, calls: listed, ...counts }, 'Handled the calls of a lost media pod')
    return counts
  }

  /** One call of lost pod `lost`; see the file comment. */
  async reanchor(
    id: string,
    lost: string,
    draining: () => Promise<boolean>,
    owner = `${this.#o.podName}:${randomBytes(6).toString('hex')}`,
  ): Promise<ReanchorOutcome> {
    const claim = `reanchor:${id}`
    const got = await this.#o.store.acquireLease(claim, owner, this.#o.claimMs ?? 70_000)
    if (!got.acquired) return 'skipped'
    try {
      const call = await this.#o.store.getCall(id)
      if (call?.state !== 'confirmed' || call.media?.pod !== lost) return 'skipped'
      const log = this.#log.child({ dialogId: id, pod: lost })
      const end = async (detail: string) => {
        log.warn({ detail }, 'Ending a call of a lost media pod')
        const ended = await this.#o.signalling.hangUp(id, {
          by: 'sbc',
          reason: MEDIA_POD_LOST,
          code: 200,
          detail,
        })
        return ended ? ('ended' as const) : ('skipped' as const)
      }
      if (!(await this.#o.media.hasPodFor(call, lost))) {
        if (await draining()) return 'left'
        return end(`media pod ${lost} lost; no other media pod serves the call's realm`)
      }
      // 1. A's current SDP, as an offer in the 2xx of an offerless re-INVITE.
      const a = await this.#reinvite(id, 'a', undefined, lost, log)
      if (!a) return 'skipped'
      const aOffer = a.response.body
      if (a.response.status >= 300)
        return end(`media pod ${lost} lost; re-INVITE to leg a: ${a.response.status}`)
      if (aOffer.length === 0) {
        await a.ack()
        return end(`media pod ${lost} lost; leg a answered the re-INVITE without SDP`)
      }
      // 2. A new session on another pod; its SDP goes to B.
      let toB: Buffer
      const moved = a.state
      try {
        toB = await this.#o.media.moveOffer(moved, 'a', aOffer, lost)
      } catch (err) {
        if (!(err instanceof MediaAnchorError)) throw err
        await a.ack()
        return end(`media pod ${lost} lost; ${err.code}: ${err.message}`)
      }
      const bVersion = ownVersionToward(moved.b, toB)
      toB = withSdpVersion(toB, bVersion)
      // The new session is the call's from now on (a teardown deletes it, not the lost one).
      await this.#storeMove(moved, { b: bVersion })
      const b = await this.#reinvite(id, 'b', toB, moved.media?.pod ?? lost, log)
      if (!b || b.response.status >= 300 || b.response.body.length === 0) {
        await b?.ack()
        await a.ack()
        return end(
          `media pod ${lost} lost; re-INVITE to leg b: ${b ? b.response.status : 'call gone'}${b && b.response.status < 300 ? ' without SDP' : ''}`,
        )
      }
      // 3. B's answer, rewritten by the new pod, goes to A in the ACK.
      await b.ack()
      let toA: Buffer
      try {
        toA = await this.#o.media.answer(moved, 'b', b.response.body)
      } catch (err) {
        if (!(err instanceof MediaAnchorError)) throw err
        await a.ack()
        return end(`media pod ${lost} lost; ${err.code}: ${err.message}`)
      }
      const aVersion = ownVersionToward(moved.a, toA)
      await a.ack(withSdpVersion(toA, aVersion))
      await this.#storeMove(moved, { a: aVersion })
      log.info({ to: moved.media?.pod }, 'Re-anchored the call on another media pod')
      return 'moved'
    } finally {
      await this.#o.store.releaseLease(claim, owner).catch(() => false)
    }
  }

  /**
   * `reinviteLeg`, sent again after a 491 (glare) once {@link glareDelayMs} has passed, at most
   * {@link GLARE_RETRIES} times, while the call's media is still on `pod` (a peer's re-offer that
   * crossed ours may have moved it already: then undefined, as for a call that is gone).
   */
  async #reinvite(id: string, leg: LegName, sdp: Buffer | undefined, pod: string, log: Logger) {
    for (let attempt = 0; ; attempt++) {
      const r = await this.#o.signalling.reinviteLeg(id, leg, sdp)
      if (r?.response.status !== 491 || attempt >= GLARE_RETRIES) return r
      const wait = glareDelayMs(leg)
      log.info(
        { leg, wait, attempt: attempt + 1 },
        'Glare (491) on a re-INVITE of the move; sending it again',
      )
      await new Promise((resolve) => setTimeout(resolve, wait))
      if ((await this.#o.store.getCall(id))?.media?.pod !== pod) return undefined
    }
  }

  /**
   * Writes `call.media` and the SDP versions just sent (`versions`) on the current version of the
   * call (compare-and-set, retried).
   */
  async #storeMove(call: DialogState, versions: Partial<Record<LegName, string | undefined>>): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await this.#o.store.getCall(call.id)
      if (!current || !call.media) return
      const next = { ...current, media: call.media }
      for (const leg of ['a', 'b'] as const) {
        const v = versions[leg]
        if (v !== undefined) next[leg] = { ...current[leg], sdpVersion: v }
      }
      try {
        await this.#o.store.updateCall(next)
        return
      } catch (err) {
        if (!(err instanceof VersionConflictError)) throw err
      }
    }
  }
}

import type { Redis } from 'ioredis'
import type { Logger } from '../../../lib/observability/logger.ts'
import { withDeadline } from '../../../lib/state/deadline.ts'

/**
 * A CANCEL received by a process that does not hold the INVITE server transaction, handed to the
 * process that does (docs/b2bua.md, "Multi-process"). `id` is the call's store id; `branch` and
 * `cseq` are the CANCEL's top Via branch and CSeq number, which must equal the INVITE's (RFC 3261
 * §9.1: "the Request-URI, Call-ID, To, the numeric part of CSeq, and From header fields in the
 * CANCEL request MUST be identical to those in the request being cancelled, including tags", and
 * §9.2 matches it to the INVITE transaction by the Via branch).
 */
export interface CancelNotice {
  id: string
  branch: string
  cseq: number
}

/**
 * The caller's ACK of a 2xx, relayed to the callee by a process other than the one that sent the
 * 2xx (`owner` in the stored call), which is still retransmitting it (RFC 3261 §13.3.1.4) and only
 * stops when it learns of the ACK. `cseq` is the ACK's CSeq number, which is the INVITE's
 * (§13.2.2.4): the owner ignores the notice when it is not the ACK of the INVITE it holds (an ACK
 * of a re-INVITE). `ack` is the ACK as relayed on leg B (wire bytes as latin1, which round-trips
 * every octet): the owner's B INVITE transaction sends it again for each 2xx the callee retransmits.
 */
export interface AckNotice {
  id: string
  cseq: number
  ack: string
}

/**
 * The caller's BYE on an early dialog (after a 18x with a To tag, before the 2xx), received by a
 * process other than the one forwarding the INVITE: that BYE removed the call and its admission
 * holds, and the owner ends the INVITE as if it had been CANCELled (487 to the caller, CANCEL
 * toward the callee). `cseq` is the CSeq number of the caller's INVITE (in its To tag, `inviteTag`): the
 * owner ignores the notice when it holds no INVITE of that call with that number.
 */
export interface EarlyByeNotice {
  id: string
  cseq: number
}

/** Logged when a message on a pod channel is not a notice we understand (another version's?). */
export const POD_MESSAGE_INVALID = 'SBC_ERR_POD_MESSAGE_INVALID'

/** The pub/sub channel of one signalling pod: messages only that pod acts on. */
export function podChannel(podName: string): string {
  return `kube-sbc:pod:${podName}`
}

/**
 * The part every pod-channel notice shares: a JSON object whose `t` is `type`, with a string `id`
 * and a non-negative integer `cseq`. Returns the object with those two, or undefined.
 */
function parseNotice(
  text: string,
  type: string,
): { o: Record<string, unknown>; id: string; cseq: number } | undefined {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof v !== 'object' || v === null) return undefined
  const o = v as Record<string, unknown>
  if (o.t !== type || typeof o.id !== 'string') return undefined
  if (typeof o.cseq !== 'number' || !Number.isInteger(o.cseq) || o.cseq < 0) return undefined
  return { o, id: o.id, cseq: o.cseq }
}

/** Parses a pod-channel message into a {@link CancelNotice}; undefined when it is not one. */
export function parseCancelNotice(text: string): CancelNotice | undefined {
  const n = parseNotice(text, 'cancel')
  if (!n || typeof n.o.branch !== 'string') return undefined
  return { id: n.id, branch: n.o.branch, cseq: n.cseq }
}

/** Parses a pod-channel message into an {@link AckNotice}; undefined when it is not one. */
export function parseEarlyByeNotice(text: string): EarlyByeNotice | undefined {
  const n = parseNotice(text, 'early-bye')
  return n && { id: n.id, cseq: n.cseq }
}

export function parseAckNotice(text: string): AckNotice | undefined {
  const n = parseNotice(text, 'ack')
  if (!n || typeof n.o.ack !== 'string') return undefined
  return { id: n.id, cseq: n.cseq, ack: n.o.ack }
}

export interface CancelRelayOptions {
  /** The store's command connection: PUBLISH goes out on it (no offline queue). */
  client: Redis
  /** The store's command deadline (`RedisStore.commandTimeoutMs`): PUBLISH is bounded like its commands. */
  commandTimeoutMs: number
  /** This process's name (POD_NAME): the channel it listens on. */
  podName: string
  logger: Logger
  /** A CANCEL another process received for an INVITE this process holds. */
  onCancel: (notice: CancelNotice) => void
  /** An ACK another process relayed for a 2xx this process sent. */
  onAck?: (notice: AckNotice) => void
  /** A caller's BYE on the early dialog of an INVITE this process holds, received by another. */
  onEarlyBye?: (notice: EarlyByeNotice) => void
}

/**
 * Per-pod Redis pub/sub channel carrying CANCELs (and ACKs of 2xx, {@link AckNotice}) between
 * signalling processes. A subscribed
 * connection can send nothing but (P)SUBSCRIBE commands, so listening takes a second connection
 * (`client.duplicate()`: same address, credentials and Sentinel setup); ioredis resubscribes it
 * after a reconnect. It lives as long as the store's connection: when that one ends (the store is
 * closed), so does this one, and the process can exit.
 */
export class CancelRelay {
  readonly #o: CancelRelayOptions
  readonly #sub: Redis

  constructor(o: CancelRelayOptions) {
    this.#o = o
    // The subscriber waits out Redis outages like the store's connection does, but never queues
    // or times out anything: it only listens.
    this.#sub = o.client.duplicate({ enableOfflineQueue: true, commandTimeout: undefined })
    this.#sub.on('error', (err: Error) =>
      o.logger.debug({ err: err.message }, 'Pod channel connection error'),
    )
    this.#sub.on('message', (_channel: string, text: string) => {
      const n = parseCancelNotice(text)
      if (n) {
        o.onCancel(n)
        return
      }
      const a = parseAckNotice(text)
      if (a) {
        o.onAck?.(a)
        return
      }
      const e = parseEarlyByeNotice(text)
      if (e) {
        o.onEarlyBye?.(e)
        return
      }
      o.logger.warn({ code: POD_MESSAGE_INVALID, message: text.slice(0, 200) }, 'Ignored pod message')
    })
    this.#sub.subscribe(podChannel(o.podName)).catch((err: Error) => {
      o.logger.warn({ err: err.message }, 'Could not subscribe to the pod channel')
    })
    o.client.once('end', () => this.close())
  }

  /**
   * Hands a CANCEL to `owner`; resolves with the number of processes that got it (0: the owner is
   * gone, or not listening). Rejects like any store command when Redis is unreachable.
   */
  async send(owner: string, notice: CancelNotice): Promise<number> {
    return this.#publish(owner, { t: 'cancel', ...notice })
  }

  /** Tells `owner` that its 2xx was acknowledged through this process; resolves like {@link send}. */
  async sendAck(owner: string, notice: AckNotice): Promise<number> {
    return this.#publish(owner, { t: 'ack', ...notice })
  }

  /** Tells `owner` of the caller's BYE on its INVITE's early dialog; resolves like {@link send}. */
  async sendEarlyBye(owner: string, notice: EarlyByeNotice): Promise<number> {
    return this.#publish(owner, { t: 'early-bye', ...notice })
  }

  /** One message on `owner`'s pod channel, bounded: the store's connection has no timeout of its own. */
  #publish(owner: string, message: object): Promise<number> {
    return withDeadline(
      this.#o.client.publish(podChannel(owner), JSON.stringify(message)),
      this.#o.commandTimeoutMs,
      'publish',
    )
  }

  close(): void {
    this.#sub.disconnect(false)
  }
}

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

/** Logged when a message on a pod channel is not a notice we understand (another version's?). */
export const POD_MESSAGE_INVALID = 'SBC_ERR_POD_MESSAGE_INVALID'

/** The pub/sub channel of one signalling pod: messages only that pod acts on. */
export function podChannel(podName: string): string {
  return `kube-sbc:pod:${podName}`
}

/** Parses a pod-channel message into a {@link CancelNotice}; undefined when it is not one. */
export function parseCancelNotice(text: string): CancelNotice | undefined {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof v !== 'object' || v === null) return undefined
  const o = v as Record<string, unknown>
  if (o.t !== 'cancel' || typeof o.id !== 'string' || typeof o.branch !== 'string') return undefined
  if (typeof o.cseq !== 'number' || !Number.isInteger(o.cseq) || o.cseq < 0) return undefined
  return { id: o.id, branch: o.branch, cseq: o.cseq }
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
}

/**
 * Per-pod Redis pub/sub channel carrying CANCELs between signalling processes. A subscribed
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
      if (!n) {
        o.logger.warn({ code: POD_MESSAGE_INVALID, message: text.slice(0, 200) }, 'Ignored pod message')
        return
      }
      o.onCancel(n)
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
    return withDeadline(
      this.#o.client.publish(podChannel(owner), JSON.stringify({ t: 'cancel', ...notice })),
      this.#o.commandTimeoutMs,
      'publish',
    )
  }

  close(): void {
    this.#sub.disconnect(false)
  }
}

/**
 * Media timeout → end the call (issue 5, Deliver 1 and 4). A media pod that sees no packets on an
 * answered call for its `--media-timeout` sends a notice (lib/media/control/media-timeout.ts): on the
 * Redis channel `kube-sbc:media-timeout` in a cluster, through a callback in `kube-sbc run`. The
 * notice names the NG call-id, which is the call's `DialogState.id`; signalling ends that call with a
 * BYE on both legs and CDR hangup reason `media-timeout`, or `hold-timeout` when the silent section
 * was on hold and the pod's `--hold-timeout` ended it (B2bua.hangUp). Every signalling process
 * subscribes, so every one gets each notice; the compare-and-set in `hangUp` lets exactly one of
 * them send the BYEs.
 */
import type { Redis } from 'ioredis'
import {
  MEDIA_TIMEOUT_CHANNEL,
  type MediaTimeoutNotice,
  parseMediaTimeoutNotice,
} from '../../../lib/media/control/media-timeout.ts'
import type { Logger } from '../../../lib/observability/logger.ts'
import type { DialogStore } from '../../../lib/state/dialog-store.ts'
import { RedisStore } from '../../../lib/state/redis-store.ts'
import type { B2bua } from '../b2bua/b2bua.ts'

/**
 * Ends the call a notice names (policy: a silent call is over). Never throws. With `store`, a notice
 * from another pod than the call's is ignored: the call was re-anchored (call-reanchor.ts) and the
 * pod it left, cut off rather than dead, reports the session it still holds.
 */
export async function endTimedOutCall(
  b2bua: B2bua,
  n: MediaTimeoutNotice,
  logger: Logger,
  store?: DialogStore,
): Promise<void> {
  try {
    const pod = store ? (await store.getCall(n.callId))?.media?.pod : undefined
    if (pod !== undefined && pod !== n.pod) {
      logger.info(
        { dialogId: n.callId, pod: n.pod, now: pod },
        'Media timeout from a pod the call left; ignored',
      )
      return
    }
    const hold = n.hold === true
    const ended = await b2bua.hangUp(n.callId, {
      by: 'sbc',
      reason: hold ? 'hold-timeout' : 'media-timeout',
      code: 200,
      detail: `no media for ${n.idleSeconds} s${hold ? ' on hold' : ''} (media pod ${n.pod})`,
    })
    logger.info(
      { dialogId: n.callId, pod: n.pod, idleSeconds: n.idleSeconds, hold, ended },
      hold ? 'Media timeout on hold' : 'Media timeout',
    )
  } catch (err) {
    logger.warn({ err, dialogId: n.callId }, 'Could not end the call after a media timeout')
  }
}

/** A subscription to the media timeout channel; `close()` ends it. */
export interface MediaTimeoutSubscription {
  close(): Promise<void>
}

/**
 * Subscribes to `kube-sbc:media-timeout` on the store's Redis (a second connection: a subscribed
 * Redis connection can do nothing else). Undefined with the in-process store (no channel: `kube-sbc
 * run` passes the media pod's callback instead). A message that is not a notice is logged and
 * dropped.
 */
export async function subscribeMediaTimeouts(
  store: DialogStore,
  onNotice: (n: MediaTimeoutNotice) => void,
  logger: Logger,
): Promise<MediaTimeoutSubscription | undefined> {
  if (!(store instanceof RedisStore)) return undefined
  // The store's connection fails fast (no offline queue, 80 ms timeout); a subscription should
  // rather wait for Redis and resubscribe after a reconnect.
  const sub: Redis = store.client.duplicate({
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
    commandTimeout: 5_000,
    autoResubscribe: true,
  })
  sub.on('error', (err: Error) => logger.warn({ err: err.message }, 'Media timeout subscription error'))
  sub.on('message', (channel: string, message: string) => {
    if (channel !== MEDIA_TIMEOUT_CHANNEL) return
    let n: MediaTimeoutNotice
    try {
      n = parseMediaTimeoutNotice(message)
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'Dropped a malformed media timeout notice')
      return
    }
    onNotice(n)
  })
  try {
    await sub.subscribe(MEDIA_TIMEOUT_CHANNEL)
  } catch (err) {
    // Redis down at start: ioredis resubscribes when it reconnects.
    logger.warn({ err: (err as Error).message }, 'Could not subscribe to media timeouts yet')
  }
  return {
    async close() {
      sub.disconnect()
    },
  }
}

import { NgError, NgErrorCode } from './errors.ts'

/**
 * Media timeout notification: a media pod tells signalling that a call's media stopped, so
 * signalling ends the call per policy (issue 5). An extension beyond rtpengine's NG protocol, in
 * the spirit of rtpengine's own timeout notification (it calls back to the SIP proxy, e.g. through
 * `--b2b-url`, instead of waiting to be asked): in a cluster the pod publishes the notice as JSON on
 * the Redis pub/sub channel {@link MEDIA_TIMEOUT_CHANNEL}; in one process (`kube-sbc run`) the same
 * object goes to an injected callback. docs/media-control-protocol.md, "Media timeout notification".
 */

/** The Redis pub/sub channel of media timeout notices (one per call, JSON). */
export const MEDIA_TIMEOUT_CHANNEL = 'kube-sbc:media-timeout'

/** One call whose media went silent. */
export interface MediaTimeoutNotice {
  /** The NG `call-id` of the call. */
  callId: string
  /** The NG `from-tag` of the offer that created the call. */
  fromTag: string
  /** The media pod that noticed (its registry id, POD_NAME). */
  pod: string
  /** Whole seconds since the silent party's last packet (or the last signal before its first). */
  idleSeconds: number
  /**
   * True when the silent media section was on hold, so the pod's `--hold-timeout` ended it, not its
   * `--media-timeout`: signalling says so in the CDR (`hold-timeout`), since an operator reads "no
   * media for 3600 s" on a held call differently from dead media in a talking call.
   */
  hold?: boolean
}

/** The wire form: a JSON object with the four keys, and `"hold": true` after a hold timeout. */
export function formatMediaTimeoutNotice(n: MediaTimeoutNotice): string {
  return JSON.stringify({
    callId: n.callId,
    fromTag: n.fromTag,
    pod: n.pod,
    idleSeconds: n.idleSeconds,
    ...(n.hold ? { hold: true } : {}),
  })
}

/**
 * Parses a message of {@link MEDIA_TIMEOUT_CHANNEL}; throws `SBC_ERR_MEDIA_TIMEOUT_NOTICE` when it is
 * not a notice (another writer on the channel must not crash a subscriber). Unknown keys are ignored,
 * so a later pod may add some; a notice without `hold` (a pod from before it) is a media timeout.
 */
export function parseMediaTimeoutNotice(text: string): MediaTimeoutNotice {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    throw new NgError(NgErrorCode.mediaTimeoutNotice, 'media timeout notice is not JSON')
  }
  const o = v as Record<string, unknown> | null
  if (typeof o !== 'object' || o === null || Array.isArray(o))
    throw new NgError(NgErrorCode.mediaTimeoutNotice, 'media timeout notice is not a JSON object')
  for (const k of ['callId', 'fromTag', 'pod'] as const)
    if (typeof o[k] !== 'string' || (k !== 'fromTag' && o[k] === ''))
      throw new NgError(NgErrorCode.mediaTimeoutNotice, `media timeout notice: '${k}' must be a string`)
  const idle = o.idleSeconds
  if (typeof idle !== 'number' || !Number.isInteger(idle) || idle < 0)
    throw new NgError(
      NgErrorCode.mediaTimeoutNotice,
      "media timeout notice: 'idleSeconds' must be a non-negative integer",
    )
  if (o.hold !== undefined && typeof o.hold !== 'boolean')
    throw new NgError(NgErrorCode.mediaTimeoutNotice, "media timeout notice: 'hold' must be a boolean")
  return {
    callId: o.callId as string,
    fromTag: o.fromTag as string,
    pod: o.pod as string,
    idleSeconds: idle,
    ...(o.hold === true ? { hold: true } : {}),
  }
}

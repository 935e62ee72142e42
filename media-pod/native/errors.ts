import { SbcError } from '../../lib/errors.ts'

/** Stable codes of the native media path's errors (docs/errors.md). */
export const MediaNativeErrorCode = {
  /** The addon is not built (`node media-pod/native/build.ts`); use the TypeScript path. */
  missing: 'SBC_ERR_MEDIA_NATIVE_MISSING',
  /** The requested port is taken (another leg, another process). */
  portInUse: 'SBC_ERR_MEDIA_PORT_IN_USE',
  /** A bad argument or a failed system call inside the addon. */
  native: 'SBC_ERR_MEDIA_NATIVE',
  /**
   * The node cannot take another relay socket: the process is out of descriptors (socket() EMFILE
   * past its RLIMIT_NOFILE, ENFILE) or kernel memory, the kernel refused to watch it (epoll_ctl ENOSPC
   * past fs.epoll.max_user_watches, or ENOMEM), or the leg table is full. Capacity, not the call's fault.
   */
  capacity: 'SBC_ERR_MEDIA_NATIVE_CAPACITY',
  /** The SRTP suite has no native implementation (AES_256_CM_*): relay it through the TypeScript path. */
  suite: 'SBC_ERR_MEDIA_NATIVE_SUITE',
} as const
export type MediaNativeErrorCode = (typeof MediaNativeErrorCode)[keyof typeof MediaNativeErrorCode]

/** An error of the native media path, with one of `MediaNativeErrorCode`. */
export class MediaNativeError extends SbcError {}

/** Re-throws an addon exception (which carries `code`) as a `MediaNativeError`. */
export function asMediaNativeError(e: unknown): MediaNativeError {
  if (e instanceof MediaNativeError) return e
  const code = (e as { code?: unknown })?.code
  const message = e instanceof Error ? e.message : String(e)
  const known = code === MediaNativeErrorCode.portInUse || code === MediaNativeErrorCode.capacity
  return new MediaNativeError(known ? code : MediaNativeErrorCode.native, message, { cause: e })
}

import { SbcError } from '../errors.ts'

/**
 * SDP error codes. Signalling maps `SBC_ERR_SDP_SYNTAX`, `SBC_ERR_SDP_MISSING` and
 * `SBC_ERR_SDP_LIMIT` to 400 (malformed body) and `SBC_ERR_SDP_NO_CODEC` to 488 (RFC 3261 §21.4.26,
 * Not Acceptable Here); the NG server answers all of them with `result: error`.
 */
export const SdpErrorCode = {
  /** A line or a field is malformed. */
  syntax: 'SBC_ERR_SDP_SYNTAX',
  /** A mandatory line is missing (v=, o=, s=, t=, or c= for a media section). */
  missing: 'SBC_ERR_SDP_MISSING',
  /** The body exceeds a size limit (bytes, lines, media sections). */
  limit: 'SBC_ERR_SDP_LIMIT',
  /** Codec filtering left a media section without any codec. */
  noCodec: 'SBC_ERR_SDP_NO_CODEC',
  /** A rewriting helper was called with an unusable argument (bad address, port, ptime, index). */
  invalidArgument: 'SBC_ERR_SDP_INVALID_ARGUMENT',
} as const
export type SdpErrorCode = (typeof SdpErrorCode)[keyof typeof SdpErrorCode]

/** A typed SDP error; `line` is the 1-based line number where parsing stopped, when known. */
export class SdpError extends SbcError {
  readonly line: number | undefined

  constructor(code: SdpErrorCode, message: string, line?: number) {
    super(code, line === undefined ? message : `${message} (line ${line})`)
    this.line = line
  }
}

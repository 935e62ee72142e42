import { SbcError } from '../../errors.ts'

/** Stable codes of the RTP/RTCP parsing errors (docs/errors.md). */
export const RtpErrorCode = {
  /** The datagram is too short for the header it announces, or its version is not 2. */
  malformed: 'SBC_ERR_RTP_MALFORMED',
} as const
export type RtpErrorCode = (typeof RtpErrorCode)[keyof typeof RtpErrorCode]

/** A datagram that is not a well-formed RTP or RTCP packet (RFC 3550 §5.1, §6.4). */
export class RtpParseError extends SbcError {
  constructor(message: string) {
    super(RtpErrorCode.malformed, message)
  }
}

import { SbcError } from '../../errors.ts'

/** Stable codes of the SRTP errors (docs/errors.md). */
export const SrtpErrorCode = {
  /** The authentication tag did not verify (RFC 3711 §3.3 step 5, RFC 7714 §8.2). */
  auth: 'SBC_ERR_SRTP_AUTH',
  /** The packet index was already received or lags the replay window (RFC 3711 §3.3.2). */
  replay: 'SBC_ERR_SRTP_REPLAY',
  /** Too short, not RTP/RTCP version 2, or no room in the buffer for the tag. */
  malformed: 'SBC_ERR_SRTP_MALFORMED',
  /** Key material of the wrong length, or an SDES key parameter that does not parse (RFC 4568). */
  key: 'SBC_ERR_SRTP_KEY',
  /** A crypto suite kube-sbc does not implement. */
  suite: 'SBC_ERR_SRTP_SUITE',
} as const
export type SrtpErrorCode = (typeof SrtpErrorCode)[keyof typeof SrtpErrorCode]

/** Base of every SRTP error; match on `code`. */
export class SrtpError extends SbcError {}

/** A packet whose authentication tag did not verify; it must be dropped and counted. */
export class SrtpAuthError extends SrtpError {
  constructor(message = 'SRTP authentication failed') {
    super(SrtpErrorCode.auth, message)
  }
}

/** A replayed (or too old) packet; it must be dropped and counted. */
export class SrtpReplayError extends SrtpError {
  constructor(message = 'SRTP packet replayed or outside the replay window') {
    super(SrtpErrorCode.replay, message)
  }
}

/** A packet too short or malformed to be processed. */
export class SrtpMalformedError extends SrtpError {
  constructor(message: string) {
    super(SrtpErrorCode.malformed, message)
  }
}

/** Bad key material or SDES key parameters. */
export class SrtpKeyError extends SrtpError {
  constructor(message: string) {
    super(SrtpErrorCode.key, message)
  }
}

/** An unknown or unsupported crypto suite name. */
export class SrtpSuiteError extends SrtpError {
  constructor(suite: string) {
    super(SrtpErrorCode.suite, `unsupported SRTP crypto suite ${JSON.stringify(suite)}`)
  }
}

import { SbcError } from '../../errors.ts'

/** Codes raised by the NG control protocol layer (bencode, framing, client, server transport). */
export const NgErrorCode = {
  /** Bencode input is malformed (bad token, bad length, trailing bytes, unsorted or duplicate keys). */
  bencodeSyntax: 'SBC_ERR_BENCODE_SYNTAX',
  /** Bencode input exceeds a configured limit (size, nesting depth, string length, item count). */
  bencodeLimit: 'SBC_ERR_BENCODE_LIMIT',
  /** A value cannot be bencoded (float, negative zero, undefined, symbol, cycle, ...). */
  bencodeEncode: 'SBC_ERR_BENCODE_ENCODE',
  /** An NG datagram is not `<cookie> <dictionary>`. */
  ngFraming: 'SBC_ERR_NG_FRAMING',
  /** An NG request or response dictionary fails its schema (missing key, wrong type, unknown command). */
  ngInvalid: 'SBC_ERR_NG_INVALID',
  /** The NG peer did not answer within the retransmission budget. */
  ngTimeout: 'SBC_ERR_NG_TIMEOUT',
  /** The NG peer answered `result: error`; `reason` holds its `error-reason`. */
  ngRemote: 'SBC_ERR_NG_REMOTE',
  /** The client or server was used after `close()`. */
  ngClosed: 'SBC_ERR_NG_CLOSED',
  /** A message on the media timeout channel is not a notice (media-timeout.ts). */
  mediaTimeoutNotice: 'SBC_ERR_MEDIA_TIMEOUT_NOTICE',
} as const
export type NgErrorCode = (typeof NgErrorCode)[keyof typeof NgErrorCode]

/** Malformed or over-limit bencode. `offset` is the byte position where decoding stopped. */
export class BencodeError extends SbcError {
  readonly offset: number

  constructor(code: NgErrorCode, message: string, offset = -1) {
    super(code, offset >= 0 ? `${message} at byte ${offset}` : message)
    this.offset = offset
  }
}

/** A framing, schema, transport or remote error of the NG protocol. */
export class NgError extends SbcError {
  constructor(code: NgErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options)
  }
}

/** The NG peer answered `{ result: 'error', 'error-reason': ... }`. */
export class NgRemoteError extends NgError {
  readonly reason: string

  constructor(command: string, reason: string) {
    super(NgErrorCode.ngRemote, `NG ${command} failed: ${reason}`)
    this.reason = reason
  }
}

import { SbcError } from '../errors.ts'
import type { SipRequest } from './message/message.ts'

/**
 * Why a SIP message could not be parsed. Stable strings: tests, logs and metrics match on them.
 */
export const SipParseReason = {
  /** The message is larger than `limits.maxMessageSize`. */
  TooLarge: 'too-large',
  /** More header lines than `limits.maxHeaders`. */
  TooManyHeaders: 'too-many-headers',
  /** A line is longer than `limits.maxLineLength`. */
  LineTooLong: 'line-too-long',
  /** No empty line ends the header section. */
  Unterminated: 'unterminated',
  /** The start line is neither a Request-Line nor a Status-Line. */
  BadStartLine: 'bad-start-line',
  /** SIP-Version other than SIP/2.0 (RFC 3261 §8.2.2 / §21.5.6: 505). */
  BadVersion: 'bad-version',
  /** The Request-URI is malformed or carries forbidden parts. */
  BadRequestUri: 'bad-request-uri',
  /** A status code outside 100–699. */
  BadStatus: 'bad-status',
  /** A header line without a colon or with an invalid name. */
  BadHeaderLine: 'bad-header-line',
  /** A header value that does not match its grammar. */
  BadHeaderValue: 'bad-header-value',
  /** A mandatory header (RFC 3261 §8.1.1) is missing. */
  MissingHeader: 'missing-header',
  /** A single-valued header appears more than once. */
  DuplicateHeader: 'duplicate-header',
  /** The CSeq method differs from the request method (RFC 3261 §8.1.1.5). */
  CSeqMismatch: 'cseq-mismatch',
  /** Content-Length is invalid or larger than the octets received. */
  BadContentLength: 'bad-content-length',
  /** A URI that does not match RFC 3261 §19.1 / RFC 3966. */
  BadUri: 'bad-uri',
} as const

/** One of the {@link SipParseReason} values. */
export type SipParseReason = (typeof SipParseReason)[keyof typeof SipParseReason]

/** Details attached to a {@link SipParseError}. */
export interface SipParseErrorDetails {
  /** Lower-case canonical name of the offending header, if any. */
  readonly header?: string | undefined
  /**
   * The status a UAS should answer with, when the message was recognisably a request
   * (400, 505 or 513). Undefined for responses and for bytes that are not SIP at all,
   * which are discarded silently (RFC 3261 §18.1.2 / §18.2.1).
   */
  readonly status?: number | undefined
  /** Whether enough of the request was understood to answer statelessly (Via, From, To, Call-ID, CSeq). */
  readonly respondable?: boolean | undefined
  /**
   * The request as far as it could be read, when `respondable`: its raw headers are enough to build
   * the error response with `createResponse` (the Request-URI may be a placeholder).
   */
  readonly request?: SipRequest | undefined
}

// Reason phrases end up in a Status-Line: keep them printable ASCII whatever the input held.
function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?')
}

/**
 * A SIP message could not be parsed. `code` is always `SBC_ERR_SIP_PARSE`; `reason` says why and
 * `reasonPhrase` is a short phrase fit for a 400 Status-Line ("Bad Request - Malformed Via").
 */
export class SipParseError extends SbcError {
  readonly reason: SipParseReason
  readonly reasonPhrase: string
  readonly header: string | undefined
  readonly status: number | undefined
  readonly respondable: boolean
  readonly request: SipRequest | undefined

  constructor(reason: SipParseReason, reasonPhrase: string, details: SipParseErrorDetails = {}) {
    const phrase = printable(reasonPhrase)
    super('SBC_ERR_SIP_PARSE', `SIP parse error (${reason}): ${phrase}`)
    this.reason = reason
    this.reasonPhrase = phrase
    this.header = details.header
    this.status = details.status
    this.respondable = details.respondable ?? false
    this.request = details.request
  }
}

/** A programming error when building or editing a message (invalid header name, CRLF in a value). */
export class SipMessageError extends SbcError {
  constructor(message: string) {
    super('SBC_ERR_SIP_MESSAGE', message)
  }
}

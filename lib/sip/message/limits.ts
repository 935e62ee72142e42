/**
 * Bounds the parser enforces before doing any work proportional to them, so a hostile peer cannot
 * make it allocate or scan without limit.
 */
export interface SipParseLimits {
  /** Largest message (start line, headers and body), in octets. Default 65535 (a UDP datagram). */
  readonly maxMessageSize: number
  /** Most header lines. Default 256. */
  readonly maxHeaders: number
  /** Longest header line including folded continuations, in octets. Default 8192. */
  readonly maxLineLength: number
}

/** The defaults: generous enough for RFC 4475 `longreq` (3515 octets, 34 Via lines). */
export const DEFAULT_LIMITS: SipParseLimits = Object.freeze({
  maxMessageSize: 65535,
  maxHeaders: 256,
  maxLineLength: 8192,
})

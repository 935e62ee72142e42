import { randomBytes } from 'node:crypto'
import { SipParseError } from '../errors.ts'
import type { SipRequest } from './message.ts'
import { SipResponse } from './message.ts'
import { reasonPhrase } from './reason-phrases.ts'

/** Options of {@link createResponse}. */
export interface CreateResponseOptions {
  /** Reason phrase; defaults to the RFC 3261 §21 phrase of the status. */
  readonly reason?: string
  /**
   * To tag to add when the request's To has none. Defaults to a random tag; pass the dialog's
   * tag so every response of a transaction carries the same one (RFC 3261 §8.2.6.2).
   */
  readonly toTag?: string
}

/** A random tag with 64 bits of entropy (RFC 3261 §19.3: at least 32 bits). */
export function generateTag(): string {
  return randomBytes(8).toString('hex')
}

/**
 * Builds a response to `req` per RFC 3261 §8.2.6.2: "the From field of the response MUST equal the
 * From header field of the request. The Call-ID header field of the response MUST equal the
 * Call-ID header field of the request. The CSeq header field of the response MUST equal the CSeq
 * field of the request. The Via header field values in the response MUST equal the Via header
 * field values in the request and MUST maintain the same ordering." The To is copied and, unless
 * it has a tag or the status is 100, given one. Values are copied as written, so this works for a
 * request that failed to parse further (`SipParseError.request`).
 */
export function createResponse(
  req: SipRequest,
  status: number,
  options: CreateResponseOptions = {},
): SipResponse {
  const res = new SipResponse(status, options.reason ?? reasonPhrase(status))
  // The request's parse of these fields comes along (routing has usually read them already): the
  // To tag check below then parses nothing again.
  const fields = req.headerFields
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!
    const k = f.key
    if (k === 'via' || k === 'from' || k === 'to' || k === 'call-id' || k === 'cseq') res.addFieldOf(f)
  }
  if (status !== 100) {
    try {
      if (res.to !== undefined && res.toTag === undefined) res.setToTag(options.toTag ?? generateTag())
    } catch (e) {
      // A To that does not parse is copied as it is: the 400 for it must still go out.
      if (!(e instanceof SipParseError)) throw e
    }
  }
  return res
}

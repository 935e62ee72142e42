import { stringifyVia } from '../message/headers/via.ts'
import { SipRequest } from '../message/message.ts'

/**
 * The CANCEL for a pending request (a B2BUA leg cancelling its outbound INVITE).
 *
 * @remarks
 * RFC 3261 §9.1 (https://www.rfc-editor.org/rfc/rfc3261#section-9.1): "The Request-URI, Call-ID,
 * To, the numeric part of CSeq, and From header fields in the CANCEL request MUST be identical to
 * those in the request being cancelled, including tags. A CANCEL constructed by a client MUST have
 * only a single Via header field value matching the top Via value in the request being cancelled.
 * ... the method parameter [of CSeq] MUST have a value of 'CANCEL'. If the request being cancelled
 * contains a Route header field, the CANCEL request MUST include that Route header field's values."
 * The caller must also honour "If no provisional response has been received, the CANCEL request
 * MUST NOT be sent; rather, the client MUST wait for the arrival of a provisional response".
 * Send it with `TransactionLayer.sendRequest`: it is a non-INVITE transaction of its own.
 */
export function buildCancel(request: SipRequest): SipRequest {
  const cancel = new SipRequest('CANCEL', request.uri)
  const top = request.topVia
  if (top) cancel.addHeader('Via', stringifyVia(top))
  cancel.addHeader('Max-Forwards', '70')
  for (const name of ['from', 'to', 'call-id'] as const) {
    const value = request.header(name)
    if (value !== undefined)
      cancel.addHeader(name === 'call-id' ? 'Call-ID' : name === 'from' ? 'From' : 'To', value)
  }
  cancel.addHeader('CSeq', `${request.cseq?.seq ?? 0} CANCEL`)
  for (const route of request.headerValues('route')) cancel.addHeader('Route', route)
  cancel.addHeader('Content-Length', '0')
  return cancel
}
